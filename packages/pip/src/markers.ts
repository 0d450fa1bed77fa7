import { InvalidInputError } from "@cluster-pack/errors";
import { canonicalizeName } from "./names";
import { Specifier, specifierPattern } from "./specifiers";

/** The marker variables of PEP 508 (and `extras`/`dependency_groups` of PEP 751 lock files). */
export interface MarkerEnvironment {
  implementation_name: string;
  implementation_version: string;
  os_name: string;
  platform_machine: string;
  platform_release: string;
  platform_system: string;
  platform_version: string;
  python_full_version: string;
  platform_python_implementation: string;
  python_version: string;
  sys_platform: string;
}

/** Values a marker is evaluated against: a target's environment plus `extra` and friends. */
export type MarkerValues = Partial<MarkerEnvironment> & { extra?: string; extras?: ReadonlySet<string>; dependency_groups?: ReadonlySet<string> };

/**
 * packaging's marker tree: a list of comparisons, nested lists (parenthesised groups)
 * and "and"/"or" words, kept as written so `toString` matches `str(Marker)`.
 */
export type MarkerList = Array<MarkerList | MarkerCompare | "and" | "or">;
export interface MarkerCompare {
  kind: "compare";
  left: MarkerOperand;
  op: string;
  right: MarkerOperand;
}
export type MarkerOperand = { variable: string } | { value: string };

/**
 * A parsed PEP 508 environment marker (`python_version < "3.12" and sys_platform == "linux"`),
 * evaluated with the rules of packaging 26: version comparisons for the version-valued
 * variables, PEP 685 extras, `in`/`not in` as substring tests.
 */
export class Marker {
  readonly tree: MarkerList;

  constructor(text: string | MarkerList) {
    if (typeof text === "string") {
      const p = new Parser(text);
      this.tree = p.parseMarker();
      p.expectEnd("end of marker expression");
    } else {
      this.tree = text;
    }
  }

  /**
   * Evaluates against `values`. `context` as in packaging: "metadata" (default) sets
   * `extra` to "" when absent; "lock_file" sets empty `extras`/`dependency_groups`.
   */
  evaluate(values: MarkerValues, context: "metadata" | "lock_file" | "requirement" = "metadata"): boolean {
    const env: Record<string, string | ReadonlySet<string> | undefined> = { ...values };
    if (context === "lock_file") {
      env.extras ??= new Set();
      env.dependency_groups ??= new Set();
    } else if (context === "metadata" && env.extra === undefined) {
      env.extra = "";
    }
    if (typeof env.extra === "string" && env.extra !== "") env.extra = canonicalizeName(env.extra);
    const pfv = env.python_full_version;
    if (typeof pfv === "string" && pfv.endsWith("+")) env.python_full_version = `${pfv}local`;
    return evalList(this.tree, env);
  }

  /** True when the marker mentions the `extra` variable anywhere. */
  get mentionsExtra(): boolean {
    const visit = (n: MarkerList | MarkerCompare | "and" | "or"): boolean =>
      Array.isArray(n) ? n.some(visit) : typeof n === "object" && (("variable" in n.left && n.left.variable === "extra") || ("variable" in n.right && n.right.variable === "extra"));
    return visit(this.tree);
  }

  toString(): string {
    return formatMarker(this.tree, true);
  }
}

/** A marker that does not parse, or a comparison that PEP 508 leaves undefined. */
export class InvalidMarkerError extends InvalidInputError {
  constructor(message: string) {
    super(message, { code: "ERR_INVALID_MARKER" });
  }
}

/** A parsed PEP 508 requirement: `name[extra1,extra2] (>=1,<2) ; marker` or `name @ url ; marker`. */
export interface Requirement {
  /** The name as written. */
  name: string;
  /** PEP 503 normalised name. */
  key: string;
  /** PEP 685-normalised extras, sorted, without duplicates. */
  extras: string[];
  /** The specifier text ("" when none), e.g. ">=1.0,<2". */
  specifier: string;
  url: string | null;
  marker: Marker | null;
}

/** Parses a PEP 508 requirement string; throws InvalidRequirementError naming the problem and its column. */
export function parseRequirement(text: string): Requirement {
  const p = new Parser(text);
  p.ws();
  const nameTok = p.expect(IDENTIFIER, "package name at the start of dependency specifier");
  p.ws();
  const extras: string[] = [];
  if (p.peek("[")) {
    p.pos++;
    p.ws();
    const first = p.match(IDENTIFIER);
    if (first !== null) {
      extras.push(first);
      for (;;) {
        p.ws();
        if (p.match(IDENTIFIER) !== null) p.fail("Expected comma between extra names");
        if (!p.peek(",")) break;
        p.pos++;
        p.ws();
        extras.push(p.expect(IDENTIFIER, "extra name after comma"));
      }
    }
    p.ws();
    p.expectLiteral("]", "matching right bracket for extras");
  }
  p.ws();
  let url: string | null = null;
  let specifier = "";
  let marker: Marker | null = null;
  if (p.peek("@")) {
    p.pos++;
    p.ws();
    url = p.expect(/[^ \t]+/y, "URL after @");
    if (!p.atEnd()) {
      if (p.match(/[ \t]+/y) === null) p.fail("Expected whitespace after URL");
      if (!p.atEnd()) {
        if (!p.peek(";")) p.fail("Expected semicolon (after URL and whitespace) or end");
        p.pos++;
        marker = new Marker(p.parseMarker());
        p.ws();
      }
    }
  } else {
    const paren = p.peek("(");
    if (paren) p.pos++;
    p.ws();
    for (;;) {
      const s = p.match(SPECIFIER_TOKEN);
      if (s === null) break;
      if (p.lookingAt(/\.\*/y)) p.fail(".* suffix can only be used with `==` or `!=` operators");
      if (p.lookingAt(/\+[a-z0-9]+(?:[-_.][a-z0-9]+)*/y)) p.fail("Local version label can only be used with `==` or `!=` operators");
      specifier += s;
      p.ws();
      if (!p.peek(",")) break;
      p.pos++;
      specifier += ",";
      p.ws();
    }
    p.ws();
    if (paren) p.expectLiteral(")", "matching right parenthesis for version specifier");
    p.ws();
    if (!p.atEnd()) {
      if (!p.peek(";")) {
        p.fail(`Expected ${specifier ? "comma (within version specifier), semicolon (after version specifier)" : "semicolon (after name with no version specifier)"} or end`);
      }
      p.pos++;
      marker = new Marker(p.parseMarker());
      p.ws();
    }
  }
  p.expectEnd("end of dependency specifier");
  // Validate each specifier's version strictly (the token regex is permissive about trailing text).
  for (const s of specifier.split(",")) if (s.trim()) new Specifier(s);
  return {
    name: nameTok,
    key: canonicalizeName(nameTok),
    extras: [...new Set(extras.map(canonicalizeName))].sort(),
    specifier,
    url,
    marker,
  };
}

/** Formats a requirement back to PEP 508 text. */
export function formatRequirement(r: Requirement): string {
  let s = r.name;
  if (r.extras.length) s += `[${r.extras.join(",")}]`;
  if (r.url) s += ` @ ${r.url}`;
  else if (r.specifier) s += r.specifier;
  if (r.marker) s += `${r.url ? " " : ""}; ${r.marker.toString()}`;
  return s;
}

/** A requirement string that is not PEP 508. */
export class InvalidRequirementError extends InvalidInputError {
  constructor(message: string) {
    super(message, { code: "ERR_INVALID_REQUIREMENT" });
  }
}

// ---------------------------------------------------------------------------------------

const MARKERS_REQUIRING_VERSION = new Set(["implementation_version", "platform_release", "python_full_version", "python_version"]);
const MARKERS_ALLOWING_SET = new Set(["extras", "dependency_groups"]);
const IDENTIFIER = /\b[a-zA-Z0-9][a-zA-Z0-9._-]*\b/y;
const VARIABLE =
  /\b(python_version|python_full_version|os[._]name|sys[._]platform|platform_(release|system)|platform[._](version|machine|python_implementation)|python_implementation|implementation_(name|version)|extras?|dependency_groups)\b/y;
const OP = /(===|==|~=|!=|<=|>=|<|>)/y;
// packaging's specifier token; each one is validated by Specifier afterwards.
const SPECIFIER_TOKEN = new RegExp(specifierPattern(false), "iy");

class Parser {
  pos = 0;
  constructor(readonly src: string) {}

  ws(): void {
    while (this.pos < this.src.length && (this.src[this.pos] === " " || this.src[this.pos] === "\t")) this.pos++;
  }
  peek(lit: string): boolean {
    return this.src.startsWith(lit, this.pos);
  }
  atEnd(): boolean {
    return this.pos >= this.src.length;
  }
  lookingAt(re: RegExp): boolean {
    re.lastIndex = this.pos;
    return re.test(this.src);
  }
  match(re: RegExp): string | null {
    re.lastIndex = this.pos;
    const m = re.exec(this.src);
    if (!m) return null;
    this.pos += m[0].length;
    return m[0];
  }
  expect(re: RegExp, what: string): string {
    const m = this.match(re);
    if (m === null) this.fail(`Expected ${what}`);
    return m;
  }
  expectLiteral(lit: string, what: string): void {
    if (!this.peek(lit)) this.fail(`Expected ${what}`);
    this.pos += lit.length;
  }
  expectEnd(what: string): void {
    if (!this.atEnd()) this.fail(`Expected ${what}`);
  }
  fail(message: string): never {
    throw new InvalidRequirementError(`${message} at column ${this.pos + 1} of ${JSON.stringify(this.src)}`);
  }

  parseMarker(): MarkerList {
    const expr: MarkerList = [this.parseAtom()];
    for (;;) {
      const op = this.match(/\b(or|and)\b/y);
      if (op === null) break;
      expr.push(op as "and" | "or", this.parseAtom());
    }
    return expr;
  }

  private parseAtom(): MarkerList | MarkerCompare {
    this.ws();
    let node: MarkerList | MarkerCompare;
    if (this.peek("(")) {
      this.pos++;
      this.ws();
      node = this.parseMarker();
      this.ws();
      this.expectLiteral(")", "matching right parenthesis for marker expression");
    } else {
      this.ws();
      const left = this.parseVar();
      this.ws();
      const op = this.parseOp();
      this.ws();
      const right = this.parseVar();
      node = normalizeExtraCompare({ kind: "compare", left, op, right });
    }
    this.ws();
    return node;
  }

  private parseVar(): MarkerOperand {
    const v = this.match(VARIABLE);
    if (v !== null) {
      const name = v.replace(".", "_");
      return { variable: name === "python_implementation" ? "platform_python_implementation" : name };
    }
    const q = this.match(/('[^']*')|("[^"]*")/y);
    if (q !== null) return { value: unescapePython(q.slice(1, -1)) };
    this.fail("Expected a marker variable or quoted string");
  }

  private parseOp(): string {
    if (this.match(/\bin\b/y) !== null) return "in";
    if (this.match(/\bnot\b/y) !== null) {
      if (this.match(/[ \t]+/y) === null) this.fail("Expected whitespace after 'not'");
      if (this.match(/\bin\b/y) === null) this.fail("Expected 'in' after 'not'");
      return "not in";
    }
    const op = this.match(OP);
    if (op !== null) return op;
    this.fail("Expected marker operator, one of <=, <, !=, ==, >=, >, ~=, ===, in, not in");
  }
}

function normalizeExtraCompare(c: MarkerCompare): MarkerCompare {
  if ("variable" in c.left && c.left.variable === "extra" && "value" in c.right) return { ...c, right: { value: canonicalizeName(c.right.value) } };
  if ("variable" in c.right && c.right.variable === "extra" && "value" in c.left) return { ...c, left: { value: canonicalizeName(c.left.value) } };
  return c;
}

// Like packaging: every comparison is evaluated (no short-circuit, so an undefined
// comparison is an error wherever it sits), then "or"-separated groups are and-ed.
function evalList(list: MarkerList, env: Record<string, string | ReadonlySet<string> | undefined>): boolean {
  const groups: boolean[][] = [[]];
  for (const item of list) {
    if (item === "or") groups.push([]);
    else if (item === "and") continue;
    else if (Array.isArray(item)) groups[groups.length - 1]!.push(evalList(item, env));
    else groups[groups.length - 1]!.push(evalCompare(item, env));
  }
  return groups.some((g) => g.every(Boolean));
}

function evalCompare(n: MarkerCompare, env: Record<string, string | ReadonlySet<string> | undefined>): boolean {
  let key: string;
  let lhs: string | ReadonlySet<string>;
  let rhs: string | ReadonlySet<string>;
  if ("variable" in n.left) {
    key = n.left.variable;
    lhs = lookup(env, key);
    // packaging reads the right side's raw text here, even when it is a variable name.
    rhs = "value" in n.right ? n.right.value : n.right.variable;
  } else {
    lhs = n.left.value;
    key = "variable" in n.right ? n.right.variable : "";
    rhs = "variable" in n.right ? lookup(env, n.right.variable) : n.right.value;
  }
  if (typeof lhs !== "string") throw new InvalidMarkerError(`Marker variable ${key} must be on the right of 'in' / 'not in' because it is a set.`);
  if (MARKERS_ALLOWING_SET.has(key)) {
    lhs = canonicalizeName(lhs);
    rhs = typeof rhs === "string" ? canonicalizeName(rhs) : new Set([...rhs].map(canonicalizeName));
  }
  if (MARKERS_REQUIRING_VERSION.has(key) && typeof rhs === "string") {
    let spec: Specifier | null = null;
    try {
      spec = new Specifier(`${n.op}${rhs}`);
    } catch {
      spec = null;
    }
    if (spec) return spec.matches(lhs);
  }
  switch (n.op) {
    case "in":
      return typeof rhs === "string" ? rhs.includes(lhs) : rhs.has(lhs);
    case "not in":
      return typeof rhs === "string" ? !rhs.includes(lhs) : !rhs.has(lhs);
    // packaging 26: ordering on non-versions is never true; <= and >= degrade to equality.
    case "<":
    case ">":
      return false;
    case "<=":
    case "==":
    case ">=":
      return lhs === rhs;
    case "!=":
      return lhs !== rhs;
    default:
      throw new InvalidMarkerError(`Undefined comparison ${JSON.stringify(lhs)} ${n.op} ${JSON.stringify(typeof rhs === "string" ? rhs : [...rhs])} in marker: ${n.op} needs PEP 440 versions on both sides.`);
  }
}

function lookup(env: Record<string, string | ReadonlySet<string> | undefined>, key: string): string | ReadonlySet<string> {
  const v = env[key];
  if (v === undefined) throw new InvalidMarkerError(`Marker variable ${JSON.stringify(key)} has no value in the target environment; describe the target fully (see TargetEnvironment) or remove the marker.`);
  return v;
}

// packaging's _format_marker, including its quirk of dropping parentheses around [[...]].
function formatMarker(m: MarkerList | MarkerCompare | "and" | "or", first: boolean): string {
  if (Array.isArray(m)) {
    if (m.length === 1 && typeof m[0] === "object") return formatMarker(m[0], true);
    const inner = m.map((i) => formatMarker(i, false)).join(" ");
    return first ? inner : `(${inner})`;
  }
  if (typeof m === "string") return m;
  return `${fmtOperand(m.left)} ${m.op} ${fmtOperand(m.right)}`;
}

function fmtOperand(o: MarkerOperand): string {
  return "variable" in o ? o.variable : `"${o.value}"`;
}

/** ast.literal_eval of a quoted string's body, for the escapes that occur in practice. */
function unescapePython(s: string): string {
  if (!s.includes("\\")) return s;
  return s.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|.)/gs, (_m, e: string) => {
    const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "'": "'", '"': '"', a: "\x07", b: "\b", f: "\f", v: "\v", "\n": "" };
    if (e in simple) return simple[e]!;
    if (/^[xuU]/.test(e)) return String.fromCodePoint(parseInt(e.slice(1), 16));
    if (/^[0-7]+$/.test(e)) return String.fromCodePoint(parseInt(e, 8));
    return `\\${e}`;
  });
}
