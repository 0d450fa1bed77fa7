import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { REPO_ROOT as ROOT, shippedSources, workspaceDirs } from "./test-kit/sources";

/**
 * The fix for an error lives in its `hint` (ClusterPackError's options), never in its
 * message: the CLI prints the hint on its own line and as a field of `--json`. This scans
 * the shipped TypeScript of every workspace for error constructions (`new XxxError(...)`
 * and the adapters' `this.error(...)` helpers) whose message text tells the user what to
 * do, and names each one as file:line. Options objects (where `hint` goes) are not read.
 */

/** The imperative verbs a fix starts with in this project's messages. */
const VERBS = [
  "pass|use|set|unset|run|add|install|reinstall|give|remove|drop|fix|choose|check|write|rename|create|",
  "build|rebuild|lock|raise|try|retry|re-run|rerun|free|make|put|pick|describe|report|update|configure|",
  "activate|specify|delete|start|export|map|list|unpack|point|quote|encode|escape|upgrade|downgrade|",
  "increase|lower|reduce|wait|switch|move|convert|provide|supply|enable|disable|allow|clear|mount|sign|",
  "kinit|relax|narrow|split|ask|contact|restart|reload|regenerate|recreate|repack|upload|download|fetch|",
  "merge|replace|repeat|call|stop|kill|consult|inspect|verify|confirm|ensure|grant|edit|correct|shorten|",
  "authenticate|serve|log in|ship|pin|unpin|reinstall|relock|rebuild",
].join("");

/** A fix phrase in a message: a verb opening a clause after a separator, or in parentheses. */
export const FIX_PHRASES: readonly RegExp[] = [
  // "...; pass --index-url URL", "...: use s3://<bucket>/<key>", "... . Pass --follow-external-symlinks"
  new RegExp(`(?:[;:]|\\.(?= )|, or)\\s+(?:or\\s+|then\\s+|please\\s+)?(?:${VERBS})\\b(?! by\\b)`, "i"),
  // "...; for a target version use --python-version 3.11", "...; to keep it, pass --force"
  new RegExp(`(?:[;:]|\\.(?= ))\\s+(?:for|to|if|when|where|in) [^;:.()]{1,60}? (?:${VERBS})\\b(?! by\\b)`, "i"),
  // "... (use --force)", "(pass unsafeSymlinks: ...)"
  new RegExp(`\\((?:${VERBS})\\b(?! by\\b)`, "i"),
  // ": npm install kerberos@7.0.0", "; apt-get install zstd"
  /(?:[;:]|\.(?= ))\s+(?:npm|apt-get|pip|dnf|pyenv) install\b/i,
  // "Give either an entry point or a script, not both", "...; do not also give requirements"
  /^(?:give|pass|use) either\b/i,
  /(?:[;:]|\.(?= ))\s+(?:do not|don't|never) (?:also )?(?:give|pass|use|set)\b/i,
  // "If the new file is trusted, update the --hash pins."
  /\bif (?:it|the [\w ]+|that [\w ]+) is trusted\b/i,
];

/** Helpers that build errors, besides `new *Error(...)`, and which argument is the message (the ones after it may be the hint). */
const MESSAGE_CALLS = new Map([
  ["error", 3], // the stores' this.error(code, op, path, message, cause, hint)
  ["mapped", 1], // the Azure store's mapped(code, message, hint)
  ["fail", 0], // requirement files' fail(why, hint)
  ["bad", 0], // pylock's bad(why, hint)
]);

function calleeName(e: ts.Expression): string | undefined {
  if (ts.isIdentifier(e)) return e.text;
  if (ts.isPropertyAccessExpression(e)) return e.name.text;
  return undefined;
}

/** A fix kept in a variable and put into the message: `${fix}`. */
const FIX_VARIABLE = /^(?:fix|remedy|advice)$/i;

/**
 * The literal text of a message expression: string parts joined, each interpolation as
 * `{}` (a fix variable as "; fix"); object literals (options) skipped.
 */
function messageText(node: ts.Node): string {
  if (ts.isObjectLiteralExpression(node)) return "";
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) {
    return node.head.text + node.templateSpans.map((s) => `${ts.isIdentifier(s.expression) && FIX_VARIABLE.test(s.expression.text) ? "; fix" : "{}"}${s.literal.text}`).join("");
  }
  const parts: string[] = [];
  node.forEachChild((c) => {
    parts.push(messageText(c));
  });
  return parts.join("");
}

export interface FixInMessage {
  where: string;
  text: string;
}

/** Every error construction in `file` (TypeScript source text) whose message carries a fix phrase. */
export function fixesInMessages(file: string, text: string): FixInMessage[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: FixInMessage[] = [];
  const visit = (node: ts.Node): void => {
    let args: readonly ts.Expression[] | undefined;
    const helper = ts.isCallExpression(node) ? MESSAGE_CALLS.get(calleeName(node.expression) ?? "") : undefined;
    if (ts.isNewExpression(node) && /Error$/.test(calleeName(node.expression) ?? "")) args = node.arguments;
    else if (ts.isCallExpression(node) && helper !== undefined) args = node.arguments.slice(helper, helper + 1);
    for (const arg of args ?? []) {
      const message = messageText(arg);
      if (FIX_PHRASES.some((re) => re.test(message))) {
        const { line } = sf.getLineAndCharacterOfPosition(arg.getStart(sf));
        found.push({ where: `${path.relative(ROOT, file)}:${line + 1}`, text: message.slice(0, 160) });
      }
    }
    node.forEachChild(visit);
  };
  visit(sf);
  return found;
}

test("no error message carries its fix: it goes in `hint`", () => {
  const files = workspaceDirs().flatMap((dir) => shippedSources(dir));
  expect(files.length).toBeGreaterThan(100);
  const found = files.flatMap((f) => fixesInMessages(f, fs.readFileSync(f, "utf8")));
  expect(found.map((f) => `${f.where}: ${f.text}`)).toEqual([]);
});

test("the scan finds a fix put back into a message", () => {
  const sample = [
    'throw new InvalidInputError(`${p} is not a wheel; pass wheel files.`);',
    'throw new ClusterPackError("ERR_X", "the file exists (use --force)");',
    'throw this.error("ENOTEMPTY", "rm", key, "directory not empty; pass recursive");',
    "throw new IntegrityError(`${w}: too many entries; raise maxEntries if it is trusted.`);",
    'return new KerberosError(`Kerberos needs the optional package "kerberos": npm install ${PKG}`, "not-installed");',
    "throw new InvalidInputError(`--python takes an interpreter; for a target version use --python-version ${v}.`);",
    "const bad = (why: string) => new ClusterPackError(ERR_X, `${label} cannot be packed: ${why}; ${fix}.`);",
    'throw new InvalidInputError("No Spark master.", { hint: "pass `master`; or set spark.master." });',
  ].join("\n");
  expect(fixesInMessages(path.join(ROOT, "sample.ts"), sample).map((f) => f.where)).toEqual(["sample.ts:1", "sample.ts:2", "sample.ts:3", "sample.ts:4", "sample.ts:5", "sample.ts:6", "sample.ts:7"]);
});
