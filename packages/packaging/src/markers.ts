import { type ErrorOptions, InvalidInputError } from "@cluster-pack/errors";
import { canonicalizeName } from "./names";
import { Specifier } from "./specifiers";
import { Cursor } from "./tokenizer";

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
      const c = new Cursor(text, InvalidMarkerError);
      this.tree = parseMarkerAt(c);
      c.expectEnd("end of marker expression");
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
  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, code: "ERR_INVALID_MARKER" });
  }
}

// ---------------------------------------------------------------------------------------

const MARKERS_REQUIRING_VERSION = new Set(["implementation_version", "platform_release", "python_full_version", "python_version"]);
const MARKERS_ALLOWING_SET = new Set(["extras", "dependency_groups"]);
const VARIABLE =
  /\b(python_version|python_full_version|os[._]name|sys[._]platform|platform_(release|system)|platform[._](version|machine|python_implementation)|python_implementation|implementation_(name|version)|extras?|dependency_groups)\b/y;
const OP = /(===|==|~=|!=|<=|>=|<|>)/y;

/** Parses a marker expression at the cursor (also used for the `; marker` part of a requirement). */
export function parseMarkerAt(c: Cursor): MarkerList {
  const expr: MarkerList = [parseAtom(c)];
  for (;;) {
    const op = c.match(/\b(or|and)\b/y);
    if (op === null) break;
    expr.push(op as "and" | "or", parseAtom(c));
  }
  return expr;
}

function parseAtom(c: Cursor): MarkerList | MarkerCompare {
  c.ws();
  let node: MarkerList | MarkerCompare;
  if (c.peek("(")) {
    c.pos++;
    c.ws();
    node = parseMarkerAt(c);
    c.ws();
    c.expectLiteral(")", "matching right parenthesis for marker expression");
  } else {
    c.ws();
    const left = parseVar(c);
    c.ws();
    const op = parseOp(c);
    c.ws();
    const right = parseVar(c);
    node = normalizeExtraCompare({ kind: "compare", left, op, right });
  }
  c.ws();
  return node;
}

function parseVar(c: Cursor): MarkerOperand {
  const v = c.match(VARIABLE);
  if (v !== null) {
    const name = v.replace(".", "_");
    return { variable: name === "python_implementation" ? "platform_python_implementation" : name };
  }
  const q = c.match(/('[^']*')|("[^"]*")/y);
  if (q !== null) return { value: unescapePython(q.slice(1, -1)) };
  c.fail("Expected a marker variable or quoted string");
}

function parseOp(c: Cursor): string {
  if (c.match(/\bin\b/y) !== null) return "in";
  if (c.match(/\bnot\b/y) !== null) {
    if (c.match(/[ \t]+/y) === null) c.fail("Expected whitespace after 'not'");
    if (c.match(/\bin\b/y) === null) c.fail("Expected 'in' after 'not'");
    return "not in";
  }
  const op = c.match(OP);
  if (op !== null) return op;
  c.fail("Expected marker operator, one of <=, <, !=, ==, >=, >, ~=, ===, in, not in");
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
    let spec: Specifier | null;
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
  if (v === undefined) throw new InvalidMarkerError(`Marker variable ${JSON.stringify(key)} has no value in the target environment.`, { hint: "describe the target fully (see TargetEnvironment) or remove the marker." });
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
