import fs from "node:fs";
import path from "node:path";
import { Option, type Command } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import type { InheritPath, PexBuildResult, PexInspection, PexVerification } from "@cluster-pack/pex";
import type { CommandContext } from "../context";
import { formatBytes, plural } from "../format";
import { OUTPUT_RULE, helpText } from "../help";
import { asInput } from "../input";
import { lib } from "../lib";
import { addForceOption, addIndexOptions, checkOutput, indexOptions, keyValues, repeatable, type IndexCliOptions } from "../options";

export function register(program: Command, ctx: CommandContext): void {
  const pex = program
    .command("pex")
    .description("PEX files: build one from wheels (or requirements), inspect it, verify it.")
    .addHelpText(
      "after",
      helpText({
        examples: ["cluster-pack pex build numpy pandas -o env.pex && ./env.pex -c 'import pandas'", "cluster-pack pex inspect env.pex", "cluster-pack pex verify env.pex"],
      }),
    );

  const build = pex
    .command("build")
    .description("Build a PEX from wheel files, directories of wheels, and requirements (resolved from your pip configuration).")
    .argument("[inputs...]", "wheel files, directories holding wheels, or requirements such as 'pandas>=2'")
    .requiredOption("-o, --output <path>", "the PEX to write (a file, or a directory with --layout packed)");
  addForceOption(build);
  build
    .option("-e, --entry-point <module[:function]>", "run this module (or call this function) on start")
    .option("-c, --script <name>", "run this console script of one of the wheels on start")
    .addOption(repeatable("-D, --sources-directory <dir>", "add this directory's content as top-level user code"))
    .option("--follow-external-symlinks", "with -D: also include files that symlinks lead to outside the source directory (refused otherwise)")
    .option("--python-shebang <interpreter>", "the shebang interpreter", "/usr/bin/env python3")
    .addOption(repeatable("--interpreter-constraint <constraint>", "e.g. 'CPython>=3.8,<3.13' (any one must match)"))
    .addOption(new Option("--inherit-path <mode>", "use the host's site-packages: false, prefer (before the PEX's) or fallback (after)").choices(["false", "prefer", "fallback"]).default("false"))
    .addOption(repeatable("--inject-env <NAME=value>", "set this variable (unless already set) before user code runs"))
    .addOption(repeatable("--inject-args <arg>", "prepend this argument to sys.argv[1:] of the entry point"))
    .option("--no-strip-pex-env", "keep PEX_* variables in the environment of user code")
    .option(
      "--venv",
      "venv execution mode (as pex --venv): on first start the PEX makes a virtual environment under PEX_ROOT/venvs and re-executes its python, so sys.executable and its subprocesses (Ray workers, multiprocessing) see the PEX's distributions",
    )
    .option("--include-tools", "allow PEX_TOOLS=1 (as pex --include-tools): `PEX_TOOLS=1 ./x.pex venv DIR` makes a virtual environment of the PEX")
    .option("--no-compress", "store entries instead of deflating the ones this builder writes (bigger, faster)")
    .option("--compile", "ship bytecode (as pex --compile): checked-hash .pyc files of every module, so first starts compile nothing; for the --python-shebang interpreter")
    .option("--compile-python <python>", "compile the bytecode with this interpreter, the one the PEX will run under (implies --compile)")
    .addOption(new Option("--layout <layout>", "a single file, pex's packed directory, or layered (a small PEX plus one <sha256>.zip layer per distribution)").choices(["zipapp", "packed", "layered"]).default("zipapp"))
    .option("--layer-store <dir>", "with --layout layered: the directory the layers are written to (default <cluster-pack cache>/layers.1)")
    .addOption(new Option("--structure <structure>", "single-file structure: split (boots >4 GiB on any Python 3.8+) or flat (one zip, like pex)").choices(["split", "flat"]).default("split"))
    .addOption(repeatable("-r, --requirement <file>", "also resolve the requirements of this file"));
  addIndexOptions(build)
    .addHelpText(
      "after",
      helpText({
        notes: `Inputs that are existing .whl files or directories are used as they are; any other input
is a requirement, resolved and downloaded through @cluster-pack/pip with your pip
configuration (pip.conf, PIP_INDEX_URL, ...) and the index options. Requirements are
recorded in PEX-INFO. ${OUTPUT_RULE}

Run the result like python itself (./env.pex -c 'import pandas', ./env.pex -m module,
./env.pex script.py) or, with --entry-point/--script, as an application.`,
        examples: [
          "cluster-pack pex build dist/*.whl -o env.pex",
          "cluster-pack pex build wheels/ -D src -e app.main:main -o app.pex \\",
          "    --interpreter-constraint 'CPython>=3.9'",
          "cluster-pack pex build numpy pandas -o env.pex --force \\",
          "    --python-shebang '/usr/bin/env python3.11'",
          "cluster-pack pex build wheels/ -c tqdm -o tqdm.pex --inject-env TQDM_DISABLE=0",
          "cluster-pack pex build wheels/ -o env_dir --layout packed --no-compress",
          "# executors start without compiling what they import (bytecode for python3.11)",
          "cluster-pack pex build numpy pandas -o env.pex --compile-python python3.11 \\",
          "    --python-shebang '/usr/bin/env python3.11'",
          "# Ray starts its workers with sys.executable: venv mode lets them import the PEX's packages",
          "cluster-pack pex build ray boto3 smart_open -o ray.pex --venv",
          "# a PEX that can turn itself into a venv (PEX_TOOLS=1 ./tools.pex venv ./venv)",
          "cluster-pack pex build six -o tools.pex --include-tools",
        ],
      }),
    )
    .action(async (inputs: string[], opts: BuildCliOptions) => {
      checkOutput(opts.output, opts.force, opts.layout === "packed" ? "directory" : "file");
      const { wheels, requirements } = await classifyInputs(inputs);
      const resolvedRequirements: string[] = [];
      // sha256 of resolved wheels (the pip cache is content-addressed): lets the build find
      // wheels it verified before without hashing them again.
      const knownSha256 = new Map<string, string>();
      if (requirements.length || opts.requirement?.length) {
        const bar = ctx.progress("resolving requirements");
        try {
          const { files } = await lib.pip().resolveAndDownload(requirements, {
            ...indexOptions(opts),
            ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
            requirementFiles: opts.requirement ?? [],
            signal: ctx.signal,
          });
          for (const f of files) {
            if (!f.filename.endsWith(".whl")) throw new InvalidInputError(`${f.name} ${f.version} resolved to ${f.filename}, which is not a wheel; a PEX needs wheels.`, { hint: "build one with pip wheel." });
            wheels.push(f.path);
            if (f.sha256) knownSha256.set(f.path, f.sha256);
          }
          resolvedRequirements.push(...requirements);
        } finally {
          bar.stop();
        }
      }
      if (!wheels.length && !opts.sourcesDirectory?.length) {
        ctx.log("note: no wheels and no sources: the PEX will be a bare interpreter");
      }
      const builder = new (lib.pex().PexBuilder)({
        sourceDirectories: opts.sourcesDirectory ?? [],
        followExternalSymlinks: Boolean(opts.followExternalSymlinks),
        ...(opts.entryPoint ? { entryPoint: opts.entryPoint } : {}),
        ...(opts.script ? { script: opts.script } : {}),
        interpreterConstraints: opts.interpreterConstraint ?? [],
        inheritPath: opts.inheritPath as InheritPath,
        injectEnv: keyValuesOf(opts.injectEnv),
        injectArgs: opts.injectArgs ?? [],
        stripPexEnv: opts.stripPexEnv,
        venv: opts.venv ?? false,
        includeTools: opts.includeTools ?? false,
        compress: opts.compress,
        ...(opts.compile ? { compile: true } : {}), // --compile-python alone implies it
        ...(opts.compilePython !== undefined ? { compilePython: opts.compilePython } : {}), // "" is refused by the builder, not dropped
        pythonShebang: opts.pythonShebang,
        layout: opts.layout as "zipapp" | "packed" | "layered",
        ...(opts.layerStore ? { layerStore: opts.layerStore } : {}),
        structure: opts.structure as "split" | "flat",
        ...(resolvedRequirements.length ? { requirements: resolvedRequirements } : {}),
      });
      for (const w of uniqueByName(wheels)) builder.addWheel(knownSha256.has(w) ? { path: w, sha256: knownSha256.get(w)! } : w);
      const bar = ctx.progress(`building ${path.basename(opts.output)}`, 0, "items");
      let result: PexBuildResult;
      try {
        result = await builder.build(opts.output, {
          signal: ctx.signal,
          overwrite: Boolean(opts.force),
          onProgress: (done, total) => {
            bar.setTotal(total);
            bar.update(done);
          },
        });
      } finally {
        bar.stop();
      }
      ctx.output(
        {
          path: result.path,
          layout: result.layout,
          size: result.size,
          entries: result.entries,
          pexHash: result.info.pexHash,
          distributions: result.distributions,
          ...(result.layers ? { layers: result.layers } : {}),
          ...(result.bytecode ? { bytecode: result.bytecode } : {}),
        },
        () =>
          `Built ${result.path} (${formatBytes(result.size)}, ${plural(result.entries, "entry", "entries")}, ${plural(result.distributions.length, "distribution")})\npex_hash ${result.info.pexHash}` +
          (result.bytecode ? `\n${describeBytecode(result.bytecode)}` : "") +
          (result.layers ? `\nlayers in ${path.dirname(result.layers[0]?.path ?? ".")}: ${result.layers.filter((l) => !l.reused).length} written, ${result.layers.filter((l) => l.reused).length} reused` : ""),
      );
    });

  pex
    .command("inspect")
    .description("Show what a PEX holds: distributions, requirements, hashes, entry point, options.")
    .argument("<pex>", "a .pex file or a packed PEX directory")
    .option("--sizes", "the size of each distribution (shipped and installed), largest first, with bars")
    .addHelpText("after", helpText({ examples: ["cluster-pack pex inspect env.pex", "cluster-pack pex inspect env.pex --sizes", "cluster-pack pex inspect env.pex --json | jq '.distributions[].wheel'"] }))
    .action(async (file: string, opts: { sizes?: boolean }) => {
      const info = await asInput(lib.pex().inspectPex(file, { signal: ctx.signal, sizes: Boolean(opts.sizes) }));
      ctx.output(info, opts.sizes ? renderSizes : renderInspection);
    });

  pex
    .command("verify")
    .description("Check a PEX: structure, pex_hash, and every installed file against its RECORD (exit 2 when it is not sound).")
    .argument("<pex>", "a .pex file or a packed PEX directory")
    .addHelpText("after", helpText({ examples: ["cluster-pack pex verify env.pex", "cluster-pack pex verify env.pex --json"] }))
    .action(async (file: string) => {
      const bar = ctx.progress(`verifying ${path.basename(file)}`);
      let result: PexVerification;
      try {
        result = await lib.pex().verifyPex(file, { signal: ctx.signal });
      } finally {
        bar.stop();
      }
      const [only] = result.checks;
      // Not a PEX at all (missing, truncated, not a zip): the opening error, as every command reports it.
      if (result.checks.length === 1 && only?.name === "open" && !only.ok) throw new InvalidInputError(only.detail ?? `${file} cannot be opened.`, { code: "ERR_PEX_VERIFY" });
      // On failure the JSON result is the error object (one JSON document on stdout).
      if (result.ok || !ctx.json) ctx.output(result, renderVerification);
      // A PEX that fails its checks is bad input (exit 2), as a truncated one is in every command.
      if (!result.ok) throw new InvalidInputError(`${file} failed verification: ${result.problems.join("; ")}`, { code: "ERR_PEX_VERIFY" });
    });
}

interface BuildCliOptions extends IndexCliOptions {
  output: string;
  force?: boolean;
  entryPoint?: string;
  script?: string;
  sourcesDirectory?: string[];
  followExternalSymlinks?: boolean;
  pythonShebang: string;
  interpreterConstraint?: string[];
  inheritPath: string;
  injectEnv?: string[];
  injectArgs?: string[];
  stripPexEnv: boolean;
  venv?: boolean;
  includeTools?: boolean;
  compress: boolean;
  compile?: boolean;
  compilePython?: string;
  layout: string;
  layerStore?: string;
  structure: string;
  requirement?: string[];
}

function describeBytecode(b: NonNullable<PexBuildResult["bytecode"]>): string {
  const skipped = b.skipped.length ? `; ${plural(b.skipped.length, "module")} did not compile (left to the importer), e.g. ${b.skipped[0]!.member} in ${b.skipped[0]!.wheel}` : "";
  return `bytecode for ${b.cacheTag} (${b.version}): ${plural(b.compiled, "module")}${b.cachedWheels ? `, ${plural(b.cachedWheels, "wheel")} from the cache` : ""}${skipped}`;
}

async function classifyInputs(inputs: string[]): Promise<{ wheels: string[]; requirements: string[] }> {
  const wheels: string[] = [];
  const requirements: string[] = [];
  for (const input of inputs) {
    const st = await fs.promises.stat(input).catch(() => undefined);
    if (st?.isDirectory()) {
      const found = (await fs.promises.readdir(input)).filter((f) => f.endsWith(".whl")).sort();
      if (!found.length) throw new InvalidInputError(`${input} is a directory without .whl files.`, { hint: "pass wheel files or a directory of wheels." });
      wheels.push(...found.map((f) => path.join(input, f)));
    } else if (st?.isFile()) {
      if (!input.endsWith(".whl")) throw new InvalidInputError(`${input} is not a wheel (.whl).`, { hint: "pass wheels, directories of wheels, or requirements." });
      wheels.push(input);
    } else if (input.endsWith(".whl") || input.includes("/")) {
      throw new InvalidInputError(`${input} does not exist.`, { hint: "pass an existing wheel file or directory." });
    } else {
      requirements.push(input);
    }
  }
  return { wheels, requirements };
}

function uniqueByName(wheels: string[]): string[] {
  const seen = new Map<string, string>();
  for (const w of wheels) if (!seen.has(path.basename(w))) seen.set(path.basename(w), w);
  return [...seen.values()];
}

function keyValuesOf(pairs: string[] | undefined): Record<string, string> {
  return keyValues(pairs, "--inject-env");
}

function renderInspection(i: PexInspection): string {
  const lines = [
    `PEX           ${i.path}`,
    `layout        ${i.layout}, ${formatBytes(i.size)}, ${plural(i.entries, "entry", "entries")}, built by ${i.builtBy}`,
    `pex_hash      ${i.pexHash ?? "-"}`,
    `code_hash     ${i.codeHash ?? "-"}`,
    `bootstrap     ${i.bootstrapHash ?? "-"}`,
    `entry point   ${i.entryPoint ?? (i.script ? `script ${i.script}` : "none (runs like python)")}`,
    `interpreters  ${i.interpreterConstraints.length ? i.interpreterConstraints.join(" or ") : "any"}`,
    `inherit_path  ${i.inheritPath}   strip_pex_env ${i.stripPexEnv}   venv ${i.venv}`,
    `bytecode      ${i.bytecode ? `shipped for ${i.bytecode.cacheTag}` : "none (compiled where it runs)"}`,
  ];
  if (i.injectArgs.length) lines.push(`inject_args   ${i.injectArgs.join(" ")}`);
  for (const [k, v] of Object.entries(i.injectEnv)) lines.push(`inject_env    ${k}=${v}`);
  lines.push(`requirements  ${i.requirements.length ? i.requirements.join(", ") : "-"}`, "", `${plural(i.distributions.length, "distribution")}:`);
  const w1 = Math.max(7, ...i.distributions.map((d) => d.project.length));
  const w2 = Math.max(7, ...i.distributions.map((d) => d.version.length));
  lines.push(`  ${"PROJECT".padEnd(w1)}  ${"VERSION".padEnd(w2)}  FINGERPRINT                               WHEEL`);
  for (const d of i.distributions) lines.push(`  ${d.project.padEnd(w1)}  ${d.version.padEnd(w2)}  ${d.fingerprint.padEnd(40)}  ${d.wheel}`);
  return lines.join("\n");
}

/** Distributions by shipped size, largest first, each with a bar scaled to the largest. */
export function renderSizes(i: PexInspection): string {
  const rows = [...i.distributions.map((d) => ({ name: `${d.project} ${d.version}`, size: d.size })), ...(i.code && i.code.files ? [{ name: "(user code)", size: i.code }] : [])].sort(
    (a, b) => (b.size?.shipped ?? 0) - (a.size?.shipped ?? 0) || (a.name < b.name ? -1 : 1),
  );
  const total = rows.reduce((a, r) => a + (r.size?.shipped ?? 0), 0);
  const max = Math.max(1, ...rows.map((r) => r.size?.shipped ?? 0));
  const w = Math.max(12, ...rows.map((r) => r.name.length));
  const BAR = 30;
  const lines = [`${i.path}: ${i.distributions.length} distributions, ${formatBytes(total)} shipped`, `  ${"DISTRIBUTION".padEnd(w)}  ${"SHIPPED".padStart(10)}  ${"INSTALLED".padStart(10)}  ${"FILES".padStart(7)}   SHARE`];
  for (const r of rows) {
    const shipped = r.size?.shipped ?? 0;
    const bar = "#".repeat(Math.round((shipped / max) * BAR));
    const installed = r.size?.installed === undefined ? "?" : formatBytes(r.size.installed);
    const files = r.size?.files === undefined ? "?" : String(r.size.files);
    const share = total ? `${((shipped / total) * 100).toFixed(1)}%` : "-";
    lines.push(`  ${r.name.padEnd(w)}  ${formatBytes(shipped).padStart(10)}  ${installed.padStart(10)}  ${files.padStart(7)}  ${share.padStart(6)} ${bar}`);
  }
  if (rows.some((r) => r.size?.installed === undefined)) lines.push("  ? : a layer not beside the PEX (only its size in PEX-INFO is known)");
  return lines.join("\n");
}

function renderVerification(v: PexVerification): string {
  const lines = v.checks.map((c) => `${c.ok ? "ok  " : "FAIL"}  ${c.name}${c.detail ? `: ${c.detail}` : ""}`);
  lines.push(v.ok ? `${v.path}: OK` : `${v.path}: ${plural(v.problems.length, "problem")}`);
  return lines.join("\n");
}
