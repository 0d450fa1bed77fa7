import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { InvalidInputError, redactUrl } from "@cluster-pack/errors";
import { unreadableFile } from "@cluster-pack/io";
import { canonicalizeName, checkDistributionFilename, DistributionFilenameError, isValidHexDigest, parseRequirement, STRONG_HASH_ALGORITHMS, type Requirement } from "@cluster-pack/packaging";
import { urlFilename } from "./simple-index";

/** A requirement with where it came from and its `--hash` pins. */
export interface SourcedRequirement {
  requirement: Requirement;
  /** "algorithm:hex" pins from --hash options. */
  hashes: string[];
  /** "requirements.txt:12", or "<command line>". */
  origin: string;
}

/** Everything a requirements file (and the files it includes) says. */
export interface RequirementsInput {
  requirements: SourcedRequirement[];
  constraints: SourcedRequirement[];
  indexUrl?: string;
  extraIndexUrls: string[];
  findLinks: string[];
  noIndex: boolean;
  pre: boolean;
  onlyBinary: string[];
  noBinary: string[];
  requireHashes: boolean;
}

export interface ReadRequirementsOptions {
  /** Variables for ${NAME} expansion (default process.env). */
  env?: Record<string, string | undefined>;
  /** Reads an http(s) include (-r https://...). Without it, remote includes are an error. */
  fetchText?: (url: string) => Promise<string>;
}

export function emptyRequirementsInput(): RequirementsInput {
  return { requirements: [], constraints: [], extraIndexUrls: [], findLinks: [], noIndex: false, pre: false, onlyBinary: [], noBinary: [], requireHashes: false };
}

/**
 * Reads a pip requirements file: PEP 508 lines, `name @ url`, wheel/sdist paths and URLs,
 * comments, `\` continuations, ${VAR} expansion, and the options -r, -c, -i/--index-url,
 * --extra-index-url, -f/--find-links, --no-index, --pre, --only-binary, --no-binary,
 * --require-hashes, --hash. Includes are relative to the including file. Errors name the
 * file and line.
 */
export async function readRequirementsFile(file: string, options: ReadRequirementsOptions = {}, into: RequirementsInput = emptyRequirementsInput()): Promise<RequirementsInput> {
  await readInto(file, "requirement", options, into, new Set());
  return into;
}

/** Parses requirement strings given on a command line (PEP 508, or paths/URLs to wheels/sdists). */
export function parseRequirementArgs(args: string[], cwd = process.cwd()): SourcedRequirement[] {
  return args.map((a) => ({ requirement: parseRequirementLine(a, cwd, "<command line>"), hashes: [], origin: "<command line>" }));
}

// ---------------------------------------------------------------------------------------

async function readInto(file: string, kind: "requirement" | "constraint", options: ReadRequirementsOptions, into: RequirementsInput, stack: Set<string>): Promise<void> {
  const isUrl = /^https?:\/\//i.test(file);
  const key = isUrl ? file : path.resolve(file);
  if (stack.has(key)) throw new InvalidInputError(`${file} includes itself (through -r/-c).`, { code: "ERR_REQUIREMENTS_FILE", hint: "remove the cycle." });
  let text: string;
  try {
    if (isUrl) {
      if (!options.fetchText) throw new Error("remote requirement files need network access");
      text = await options.fetchText(file);
    } else text = await fs.promises.readFile(file, "utf8");
  } catch (err) {
    if (isUrl) throw new InvalidInputError(`Cannot read requirements file ${redactUrl(file)}: ${(err as Error).message}`, { code: "ERR_REQUIREMENTS_FILE", cause: err });
    throw unreadableFile(file, err, { what: "requirements file", code: "ERR_REQUIREMENTS_FILE" });
  }
  const dir = isUrl ? null : path.dirname(path.resolve(file));
  const env = options.env ?? process.env;
  stack.add(key);
  for (const { line, lineNo } of logicalLines(text)) {
    const where = `${file}:${lineNo}`;
    const fail = (why: string, hint?: string): never => {
      throw new InvalidInputError(`${where}: ${why}`, { code: "ERR_REQUIREMENTS_FILE", ...(hint === undefined ? {} : { hint }) });
    };
    const expanded = line.replace(/\$\{([A-Z0-9_]+)\}/g, (m, name: string) => env[name] ?? m);
    if (expanded.startsWith("-")) {
      const [opt, value] = splitOption(expanded);
      const need = () => value || fail(`${opt} needs a value`);
      // Includes and find-links are relative to the including file (or URL).
      const rel = (p: string) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) ? p : dir !== null ? path.resolve(dir, p) : new URL(p, file).href);
      switch (opt) {
        case "-r":
        case "--requirement":
          await readInto(rel(need()), kind, options, into, stack);
          break;
        case "-c":
        case "--constraint":
          await readInto(rel(need()), "constraint", options, into, stack);
          break;
        case "-i":
        case "--index-url":
          into.indexUrl = need();
          break;
        case "--extra-index-url":
          into.extraIndexUrls.push(need());
          break;
        case "-f":
        case "--find-links":
          into.findLinks.push(rel(need()));
          break;
        case "--no-index":
          into.noIndex = true;
          break;
        case "--pre":
          into.pre = true;
          break;
        case "--require-hashes":
          into.requireHashes = true;
          break;
        case "--only-binary":
          into.onlyBinary.push(...need().split(","));
          break;
        case "--no-binary":
          into.noBinary.push(...need().split(","));
          break;
        case "--trusted-host":
        case "--prefer-binary":
        case "--use-feature":
          break;
        case "-e":
        case "--editable":
          fail("editable requirements (-e) cannot be packed", "build a wheel of the project and list its path instead.");
          break;
        default:
          fail(`unknown option ${opt}; supported: -r, -c, -i, --extra-index-url, -f, --no-index, --pre, --only-binary, --no-binary, --require-hashes, --hash`);
      }
      continue;
    }
    // A requirement, possibly followed by per-requirement options (--hash=...).
    const optStart = expanded.search(/\s--?[a-zA-Z]/);
    const reqText = (optStart >= 0 ? expanded.slice(0, optStart) : expanded).trim();
    const hashes: string[] = [];
    if (optStart >= 0) {
      const opts = expanded.slice(optStart).trim().split(/\s+/);
      for (let i = 0; i < opts.length; i++) {
        const o = opts[i]!;
        let m = /^--hash=(.+)$/.exec(o);
        if (!m && o === "--hash") m = ["", opts[++i] ?? ""] as unknown as RegExpExecArray;
        if (!m) fail(`unsupported per-requirement option ${o}; only --hash=<algorithm>:<hex> is supported`);
        const [alg, hex] = m![1]!.split(/:(.*)/s) as [string, string | undefined];
        const strong = (STRONG_HASH_ALGORITHMS as readonly string[]).includes(alg);
        if (hex === undefined || !strong || !isValidHexDigest(alg, hex)) fail(`invalid --hash ${JSON.stringify(m![1])}`, "use --hash=sha256:<64 hex digits> (or sha384, sha512).");
        hashes.push(`${alg}:${hex!.toLowerCase()}`);
      }
    }
    let requirement: Requirement;
    try {
      requirement = parseRequirementLine(reqText, dir ?? process.cwd(), where);
    } catch (err) {
      const msg = (err as Error).message;
      throw new InvalidInputError(msg.startsWith(where) ? msg : `${where}: ${msg}`, { code: "ERR_REQUIREMENTS_FILE", cause: err });
    }
    if (hashes.length) into.requireHashes = true;
    (kind === "constraint" ? into.constraints : into.requirements).push({ requirement, hashes, origin: where });
  }
  stack.delete(key);
}

/** A requirement line: PEP 508, or a path/URL to a wheel or sdist (name and version from the file name). */
export function parseRequirementLine(text: string, baseDir: string, where: string): Requirement {
  const isNameAtUrl = /^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@/.test(text);
  const looksLikePath = !isNameAtUrl && (/^(\.{0,2}\/|[a-z]:\\|~)/i.test(text) || /\.(whl|tar\.gz|zip)$/i.test(text.split(/\s*;/)[0]!) || /^[a-z][a-z0-9+.-]*:\/\//i.test(text));
  if (!looksLikePath) return parseRequirement(text);
  const [loc, marker] = text.split(/\s*;\s*/, 2) as [string, string | undefined];
  let url: string;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(loc)) url = loc;
  else {
    const p = path.resolve(baseDir, loc.replace(/^~(?=\/)/, process.env.HOME ?? "~"));
    if (!fs.existsSync(p)) throw new InvalidInputError(`${where}: ${loc} does not exist.`, { code: "ERR_REQUIREMENTS_FILE", hint: "give the path of a wheel or sdist file." });
    if (fs.statSync(p).isDirectory()) throw new InvalidInputError(`${where}: ${loc} is a directory.`, { code: "ERR_REQUIREMENTS_FILE", hint: "build it into a wheel first (python -m build) and list the wheel." });
    url = pathToFileURL(p).href;
  }
  let name: string | undefined = /#egg=([^&]+)/.exec(url)?.[1];
  if (!name) {
    const filename = urlFilename(new URL(url));
    try {
      if (filename !== null) name = checkDistributionFilename(filename).name;
    } catch (err) {
      if (!(err instanceof DistributionFilenameError)) throw err;
    }
  }
  if (!name) throw new InvalidInputError(`${where}: cannot tell the project name of ${loc}.`, { code: "ERR_REQUIREMENTS_FILE", hint: `use "name @ ${loc}".` });
  return parseRequirement(`${canonicalizeName(name)} @ ${url}${marker ? ` ; ${marker}` : ""}`);
}

function* logicalLines(text: string): Generator<{ line: string; lineNo: number }> {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let buf = "";
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i]!;
    if (buf === "") start = i + 1;
    // pip: a comment starts at "#" at the line start or after whitespace.
    l = l.replace(/(^|\s)#.*$/, "");
    if (l.endsWith("\\")) {
      buf += `${l.slice(0, -1)} `;
      continue;
    }
    buf += l;
    const line = buf.trim();
    buf = "";
    if (line) yield { line, lineNo: start };
  }
  if (buf.trim()) yield { line: buf.trim(), lineNo: start };
}

function splitOption(line: string): [string, string] {
  const m = /^(--?[a-zA-Z-]+)(?:[= ]\s*(.*))?$/.exec(line.trim());
  if (!m) return [line, ""];
  return [m[1]!, (m[2] ?? "").trim()];
}
