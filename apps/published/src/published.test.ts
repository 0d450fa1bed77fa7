/**
 * The packages as a user gets them. Every public workspace package is packed with
 * `npm pack`; the tarballs are installed in an empty project (the third-party
 * dependencies come from npm's cache, else the registry), with the test kits' optional
 * peers; then, in that project:
 * - each installed package holds what its package.json promises: LICENSE, README, the
 *   metadata, every export target, the sources its maps name, a declared dependency for
 *   every module its code requires and its typings import, no tests;
 * - every entry point loads with `require` and with `import`, with the same named exports;
 * - each README's first TypeScript example runs, as ESM and as CommonJS (transpiled with
 *   typescript's `transpileModule`; for CommonJS the body goes into an async function),
 *   on the fixtures the READMEs name, prepared here: six-1.17.0's wheel from pip's
 *   configured index and a `.venv` holding it;
 * - the examples and a file importing every entry point type-check under "nodenext";
 * - the CLI's bin runs.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import { builtinModules } from "node:module";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import ts from "typescript";
import { downloadWheels, ensureBuilt, findPython, pipIndexUnavailable } from "@cluster-pack/io/test-kit";

jest.setTimeout(900_000);
const run = promisify(execFile);

const ROOT = path.resolve(__dirname, "..", "..", "..");
const SIX = "six-1.17.0-py2.py3-none-any.whl";

interface PackageJson {
  name: string;
  private?: boolean;
  license?: string;
  keywords?: string[];
  homepage?: string;
  repository?: { type?: string; url?: string; directory?: string };
  bin?: Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

interface Workspace {
  /** Relative to the repository root, e.g. `packages/zip`. */
  dir: string;
  pkg: PackageJson;
}

/** Every public workspace package (the root package.json's `workspaces` globs are `<dir>/*`). */
function publicWorkspaces(): Workspace[] {
  const root = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { workspaces: string[] };
  const out: Workspace[] = [];
  for (const glob of root.workspaces) {
    const base = glob.replace(/\/\*$/, "");
    for (const name of fs.readdirSync(path.join(ROOT, base)).sort()) {
      const file = path.join(ROOT, base, name, "package.json");
      if (!fs.existsSync(file)) continue;
      const pkg = JSON.parse(fs.readFileSync(file, "utf8")) as PackageJson;
      if (!pkg.private) out.push({ dir: `${base}/${name}`, pkg });
    }
  }
  return out;
}

const workspaces = publicWorkspaces();
const noFixtures = pipIndexUnavailable();
if (noFixtures) console.warn(`published packages: README examples skipped: ${noFixtures} (they need six's wheel)`);

let work: string;
let project: string;
const installed = (w: Workspace) => path.join(project, "node_modules", w.pkg.name);

// npm's own variables from the `npm test` that started jest would leak into the nested npm.
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_(package|lifecycle|command|node_execpath)/.test(k) && k !== "INIT_CWD"));

beforeAll(async () => {
  ensureBuilt("published-packages-test");
  work = fs.mkdtempSync(path.join(os.tmpdir(), "cp-published-"));
  project = path.join(work, "project");
  const tarballs = path.join(work, "tarballs");
  fs.mkdirSync(tarballs);
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "cp-published-check", version: "0.0.0", private: true }, null, 2));

  let t = Date.now();
  const workspaceArgs = workspaces.flatMap((w) => ["-w", w.dir]);
  const packed = await run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", tarballs, ...workspaceArgs], { cwd: ROOT, env: npmEnv, maxBuffer: 64 << 20 });
  const files = (JSON.parse(packed.stdout) as { filename: string }[]).map((p) => path.join(tarballs, p.filename.replace(/^@/, "").replace(/\//g, "-")));
  const packSeconds = (Date.now() - t) / 1000;

  // The test kits' optional peers, as a user writing tests installs them (versions: fs's own).
  const fsPkg = workspaces.find((w) => w.pkg.name === "@cluster-pack/fs")!.pkg;
  const peers = ["s3rver", "@jest/globals"].map((n) => `${n}@${fsPkg.devDependencies?.[n]}`);
  t = Date.now();
  await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error", ...files, ...peers], { cwd: project, env: npmEnv, maxBuffer: 64 << 20 });
  console.log(`published packages: packed ${files.length} in ${packSeconds.toFixed(1)} s, installed them in ${((Date.now() - t) / 1000).toFixed(1)} s`);

  if (!noFixtures) {
    const fixtures = path.join(work, "fixtures");
    fs.mkdirSync(fixtures);
    const [wheel] = downloadWheels(["six==1.17.0"]);
    fs.copyFileSync(wheel!, path.join(fixtures, SIX));
    const python = findPython()!;
    await run(python, ["-m", "venv", path.join(fixtures, ".venv")]);
    await run(path.join(fixtures, ".venv", "bin", "python"), ["-m", "pip", "install", "-q", "--no-index", "--disable-pip-version-check", path.join(fixtures, SIX)]);
  }
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe.each(workspaces)("$pkg.name as installed from its tarball", (w) => {
  const dir = () => installed(w);
  const filesUnder = (sub: string, suffix: string) => listFiles(path.join(dir(), sub)).filter((f) => f.endsWith(suffix)).map((f) => path.join(sub, f));

  test("LICENSE (the root's Apache-2.0 text), README and metadata", () => {
    expect(fs.readFileSync(path.join(dir(), "LICENSE"), "utf8")).toBe(fs.readFileSync(path.join(ROOT, "LICENSE"), "utf8"));
    expect(fs.existsSync(path.join(dir(), "README.md"))).toBe(true);
    const pkg = readPkg(dir());
    expect(pkg.license).toBe("Apache-2.0");
    expect(pkg.repository).toEqual({ type: "git", url: expect.stringMatching(/^git\+https:\/\/.+\.git$/), directory: w.dir });
    expect(pkg.homepage).toMatch(new RegExp(`/${w.dir}#readme$`));
    expect(pkg.keywords?.length).toBeGreaterThan(0);
    expect(listFiles(dir()).filter((f) => /\.test\.[cm]?[jt]s$/.test(f))).toEqual([]);
  });

  test("every export target and bin is in the tarball", () => {
    const pkg = readPkg(dir());
    const targets = Object.values(pkg.exports ?? {}).flatMap((t) => (typeof t === "string" ? [t] : Object.values(t)));
    for (const b of Object.values(pkg.bin ?? {})) targets.push(b);
    expect(targets.length).toBeGreaterThan(0);
    expect(targets.filter((t) => !fs.existsSync(path.join(dir(), t)))).toEqual([]);
  });

  test("every source map names sources that are in the tarball", () => {
    const missing: string[] = [];
    const maps = filesUnder("dist", ".map");
    for (const map of maps) {
      const { sources, sourceRoot } = JSON.parse(fs.readFileSync(path.join(dir(), map), "utf8")) as { sources: string[]; sourceRoot?: string };
      for (const s of sources) {
        const p = path.join(dir(), path.dirname(map), sourceRoot ?? "", s);
        if (!fs.existsSync(p)) missing.push(`${map} -> ${path.relative(dir(), p)}`);
      }
    }
    expect(maps.length).toBeGreaterThan(0);
    // A dist file without its source is stale build output: rebuild from clean (rm -rf <package>/dist).
    expect(missing).toEqual([]);
  });

  test("every module its code requires and its typings import is a declared dependency", () => {
    const pkg = readPkg(dir());
    const declared = new Set([pkg.name, ...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
    const undeclared = new Set<string>();
    for (const f of filesUnder("dist", ".js")) {
      for (const spec of bareSpecifiers(fs.readFileSync(path.join(dir(), f), "utf8"), /\brequire\(\s*"([^"]+)"\s*\)|\bimport\(\s*"([^"]+)"\s*\)/g)) {
        if (!declared.has(spec)) undeclared.add(`${spec} (${f})`);
      }
    }
    let usesNodeTypes = false;
    for (const f of filesUnder("dist", ".d.ts")) {
      const text = fs.readFileSync(path.join(dir(), f), "utf8");
      if (/from "node:|\bNodeJS\.|\bBuffer\b|\bAbortSignal\b|reference types="node"/.test(text)) usesNodeTypes = true;
      for (const spec of bareSpecifiers(text, /\bfrom\s+"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/g)) {
        if (!declared.has(spec) && !declared.has(`@types/${spec.replace(/^@([^/]+)\//, "$1__")}`)) undeclared.add(`${spec} (${f})`);
      }
    }
    if (usesNodeTypes && !declared.has("@types/node")) undeclared.add("@types/node (the typings use Node's types)");
    expect([...undeclared]).toEqual([]);
  });
});

test("each package is installed once, from its tarball (no registry copy, no workspace link)", () => {
  const lock = JSON.parse(fs.readFileSync(path.join(project, "package-lock.json"), "utf8")) as { packages: Record<string, { resolved?: string; link?: boolean }> };
  const ours = new Set(workspaces.map((w) => w.pkg.name));
  const wrong: string[] = [];
  for (const [where, entry] of Object.entries(lock.packages)) {
    const name = where.replace(/^.*node_modules\//, "");
    if (!ours.has(name)) continue;
    if (where !== `node_modules/${name}`) wrong.push(`${where}: a second, nested copy`);
    else if (entry.link || !/^file:.*\.tgz$/.test(entry.resolved ?? "")) wrong.push(`${where}: resolved from ${entry.resolved ?? "a link"}, not its tarball`);
  }
  for (const w of workspaces) if (fs.lstatSync(installed(w)).isSymbolicLink()) wrong.push(`${w.pkg.name}: a symbolic link`);
  expect(wrong).toEqual([]);
  expect(Object.keys(lock.packages).filter((k) => ours.has(k.replace(/^.*node_modules\//, ""))).length).toBe(workspaces.length);
});

test("every entry point loads with require and with import, with the same named exports", async () => {
  const specifiers = entryPoints();
  fs.writeFileSync(path.join(project, "entry-points.cjs"), `const out = {};\nfor (const s of ${JSON.stringify(specifiers)}) out[s] = Object.keys(require(s)).sort();\nconsole.log(JSON.stringify(out));\n`);
  fs.writeFileSync(path.join(project, "entry-points.mjs"), `const out = {};\nfor (const s of ${JSON.stringify(specifiers)}) out[s] = Object.keys(await import(s)).filter((k) => !["default", "module.exports", "__esModule"].includes(k)).sort();\nconsole.log(JSON.stringify(out));\n`);
  const cjs = JSON.parse((await run(process.execPath, ["entry-points.cjs"], { cwd: project })).stdout) as Record<string, string[]>;
  const esm = JSON.parse((await run(process.execPath, ["entry-points.mjs"], { cwd: project })).stdout) as Record<string, string[]>;
  expect(Object.keys(cjs).sort()).toEqual([...specifiers].sort());
  for (const s of specifiers) expect(cjs[s]!.length).toBeGreaterThan(0);
  expect(esm).toEqual(cjs);
});

test("the CLI's bin runs (`cluster-pack --help`)", async () => {
  const r = await run(path.join(project, "node_modules", ".bin", "cluster-pack"), ["--help"], { cwd: project });
  expect(r.stdout).toMatch(/^Usage: cluster-pack/);
});

const withExamples = workspaces.map((w) => ({ name: w.pkg.name, dir: w.dir, example: firstExample(path.join(ROOT, w.dir, "README.md")) }));

describe.each(withExamples)("$name README's first example", ({ name, example }) => {
  test.each(["esm", "cjs"] as const)("runs as %s", async (format) => {
    if (noFixtures) return console.warn(`skipped ${name} (${format}): ${noFixtures}`);
    const dir = path.join(project, "runs", `${name.replace(/[@/]/g, "_")}-${format}`);
    fs.mkdirSync(dir, { recursive: true });
    for (const f of [SIX, ".venv"]) fs.symlinkSync(path.join(work, "fixtures", f), path.join(dir, f));
    const source = format === "esm" ? example : commonJsSource(example);
    const out = ts.transpileModule(source, { compilerOptions: { module: format === "esm" ? ts.ModuleKind.ESNext : ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
    const file = path.join(dir, `example.${format === "esm" ? "mjs" : "cjs"}`);
    fs.writeFileSync(file, out);
    const r = await run(process.execPath, [file], { cwd: dir, timeout: 600_000, maxBuffer: 64 << 20 }).catch((err: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(`${name}'s README example (${format}) failed: ${err.message}\n${err.stdout ?? ""}${err.stderr ?? ""}`);
    });
    expect(r.stdout.length).toBeGreaterThan(0);
    expect(r.stderr).not.toMatch(/Warning/);
  });
});

test('the examples and every entry point type-check under "module": "nodenext" (ESM and CommonJS files)', () => {
  const check = path.join(project, "check");
  fs.mkdirSync(check, { recursive: true });
  const roots: string[] = [];
  const imports = entryPoints()
    .map((s, i) => `import * as m${i} from ${JSON.stringify(s)};`)
    .join("\n");
  const uses = `export const loaded = [${entryPoints()
    .map((_, i) => `m${i}`)
    .join(", ")}];\n`;
  for (const ext of ["mts", "cts"]) {
    roots.push(path.join(check, `entry-points.${ext}`));
    fs.writeFileSync(roots.at(-1)!, `${imports}\n${uses}`);
  }
  for (const { name, example } of withExamples) {
    const base = path.join(check, name.replace(/[@/]/g, "_"));
    fs.writeFileSync(`${base}.mts`, example);
    fs.writeFileSync(`${base}.cts`, commonJsSource(example));
    roots.push(`${base}.mts`, `${base}.cts`);
  }
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    // Our declaration files are checked too; third-party ones are not ours to judge (below).
    skipLibCheck: false,
  };
  // As a user's tsc in that project sees it: its node_modules/@types, not this repository's.
  const host = ts.createCompilerHost(options);
  host.getCurrentDirectory = () => project;
  const program = ts.createProgram(roots, options, host);
  const ours = (file: string | undefined) => !file || !file.includes("/node_modules/") || workspaces.some((w) => file.startsWith(`${installed(w)}/`));
  const problems = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => ours(d.file?.fileName))
    .map((d) => {
      const where = d.file && d.start !== undefined ? `${path.relative(project, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : "";
      return `${where}${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
  expect(problems).toEqual([]);
});

/** Every export subpath of every package, as a specifier (`@cluster-pack/fs/s3`). */
function entryPoints(): string[] {
  return workspaces.flatMap((w) =>
    Object.keys(w.pkg.exports ?? { ".": "" })
      .filter((k) => k !== "./package.json")
      .map((k) => (k === "." ? w.pkg.name : `${w.pkg.name}/${k.slice(2)}`)),
  );
}

/** The first ```ts (or js) block of a README. */
function firstExample(readme: string): string {
  const m = /```(?:ts|typescript|js|javascript)\n([\s\S]*?)```/.exec(fs.readFileSync(readme, "utf8"));
  if (!m) throw new Error(`${path.relative(ROOT, readme)} has no TypeScript example; its first \`\`\`ts block is what this test runs`);
  return m[1]!;
}

/** The example as a CommonJS module: imports stay on top, the rest runs in an async function (top-level await is ESM-only). */
function commonJsSource(source: string): string {
  const sf = ts.createSourceFile("example.ts", source, ts.ScriptTarget.ES2022, true);
  const head: string[] = [];
  const body: string[] = [];
  for (const st of sf.statements) (ts.isImportDeclaration(st) || ts.isImportEqualsDeclaration(st) ? head : body).push(source.slice(st.getFullStart(), st.getEnd()));
  return `${head.join("")}\n\nasync function runExample(): Promise<void> {${body.join("")}\n}\n\nrunExample().catch((err: unknown) => {\n  console.error(err);\n  process.exitCode = 1;\n});\n`;
}

/** The package names a file's specifiers refer to, without relative paths and Node's built-ins. */
function bareSpecifiers(text: string, re: RegExp): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2]!;
    if (spec.startsWith(".") || spec.startsWith("node:") || builtinModules.includes(spec.split("/")[0]!)) continue;
    const parts = spec.split("/");
    out.add(spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!);
  }
  return [...out];
}

function readPkg(dir: string): PackageJson {
  return JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as PackageJson;
}

/** Files under `dir`, relative to it, without node_modules. */
function listFiles(dir: string, base = dir): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" ? [] : listFiles(p, base);
    return [path.relative(base, p)];
  });
}
