import { InvalidInputError } from "@cluster-pack/errors";
import { Marker, parseMarkerAt } from "./markers";
import { canonicalizeName } from "./names";
import { Specifier, specifierPattern } from "./specifiers";
import { Cursor } from "./tokenizer";

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
  const p = new Cursor(text, InvalidRequirementError);
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
        marker = new Marker(parseMarkerAt(p));
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
      marker = new Marker(parseMarkerAt(p));
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

const IDENTIFIER = /\b[a-zA-Z0-9][a-zA-Z0-9._-]*\b/y;
// packaging's specifier token; each one is validated by Specifier afterwards.
const SPECIFIER_TOKEN = new RegExp(specifierPattern(false), "iy");
