import { Option, type Command } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import type { UploadEnvOptions, UploadEnvResult, UploadPhase } from "cluster-pack";
import type { CommandContext } from "../context";
import { plural } from "../format";
import { helpText } from "../help";
import { lib } from "../lib";
import {
  addIndexOptions,
  addStoreOptions,
  addTargetOptions,
  indexOptions,
  libraryOptions,
  pythonOption,
  repeatable,
  storeLocation,
  storeOptions,
  targetSpec,
  type IndexCliOptions,
  type StoreCliOptions,
  type TargetCliOptions,
} from "../options";
import type { Progress } from "../progress";
import { sparkConfigFromCli } from "./spark-conf";

const HELP = helpText({
  notes: `An installed environment is packed as installed (each wheel rebuilt from its RECORD, no
index) unless --from-index or another target is given. A second run with nothing changed
does no build and no upload: one round trip to the store decides; --force rebuilds and
uploads anyway. --json prints { packagePath, envName, environment, editableArchives,
uploaded, requirements, lockHash } (+ sparkConf with --spark).`,
  examples: [
    "# pack the active virtualenv as a PEX and upload it to the default place",
    "# (fs.defaultFS from $HADOOP_CONF_DIR, else ~/.local/share/cluster-pack)",
    "cluster-pack upload-env",
    "# a given venv, to S3, with its editable packages shipped beside it",
    "cluster-pack upload-env --env ./.venv --include-editable -o s3://bucket/envs/project.pex",
    "# requirements instead of an installed environment, for Linux / CPython 3.11",
    "cluster-pack upload-env six python-dateutil --python-version 3.11 \\",
    "    --platform manylinux_2_28_x86_64",
    "# replace one package, drop another, and print the Spark conf that uses the result",
    "cluster-pack upload-env --additional torch==2.2.0 --ignore jupyter --spark yarn",
    "# the active conda env as a relocatable tar.gz (the default packer for a conda env)",
    "cluster-pack upload-env -o hdfs://root/user/me/envs/env.tar.gz",
    "# a venv's pins resolved against the index rather than packed as installed",
    "cluster-pack upload-env --env ./.venv --from-index",
    "# layered: after a one-package change only that layer and the small PEX are uploaded",
    "cluster-pack upload-env --layered -o s3://bucket/envs/project.pex",
  ],
});

/** `cluster-pack upload-env`: the main job. */
export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command("upload-env")
    .summary("Pack a Python environment and upload it once (skipped when up to date): the main job.")
    .description(
      "Packs the active (or a given) virtualenv / conda env, a requirements file, a lock file or a list of requirements " +
        "into a PEX (default) or a relocatable conda/venv archive, uploads it to the package path only when the remote copy " +
        "is not the same lock, and prints where it is and how engines use it.",
    )
    .argument("[requirements...]", "requirements to pack instead of an installed environment (PEP 508)")
    .option("--env <prefix>", "a venv or conda prefix (default: $VIRTUAL_ENV, else $CONDA_PREFIX)")
    .addOption(pythonOption("pack the environment of this interpreter"))
    .option("-r, --requirement <file>", "a requirements file")
    .option("--lock <file>", "a PEP 751 pylock.toml, packed exactly")
    .addOption(new Option("--packer <packer>", "archive kind (default: conda for a conda env, else pex)").choices(["pex", "conda", "venv"]))
    .option("--from-index", "pex: resolve the installed versions against the index instead of packing them as installed")
    .option("--allow-large-pex", "pex: a zipped packed PEX (.pex.zip), unpacked by the engine and run as pyenv/__main__.py")
    .option("--venv-mode", "pex: run in pex's venv mode (a venv built on first run; sys.executable sees the packages)")
    .option("--compile", "pex: ship bytecode (checked-hash .pyc files compiled by the packed interpreter), so executors compile nothing on first start")
    .option("--layered", "pex: a small PEX plus one layer per distribution, each uploaded only when the layer store lacks it")
    .option("--layer-store <url>", "with --layered: where layers go (default: layers/ beside the package path)", storeLocation)
    .option("-o, --package-path <url>", "where to upload (s3://, hdfs://, file://, a local path)", storeLocation)
    .option("--force", "rebuild and upload even when up to date")
    .option("--include-editable", "ship editable installs as zips beside the environment")
    .addOption(repeatable("--additional <name==version>", "add or replace a package (exact normalised name)"))
    .addOption(repeatable("--ignore <name>", "leave an installed package out"))
    .addOption(repeatable("--only <name>", "pack only these installed packages"))
    .option("--keep-seed-packages", "keep pip/setuptools/wheel in the PEX");
  addTargetOptions(cmd, "the environment's interpreter");
  addIndexOptions(cmd);
  addStoreOptions(cmd)
    .option("--spark <master>", "also print the Spark conf for this master (yarn, k8s://..., spark://..., local)")
    .addHelpText("after", HELP);
  // The library options its messages name, as this command spells them (`python` is the
  // interpreter whose environment is packed, as --python here).
  libraryOptions(cmd, {
    python: "--python",
    requirements: "requirements (arguments)",
    requirementsFile: "-r",
    lockFile: "--lock",
    additionalPackages: "--additional",
    ignoredPackages: "--ignore",
    onlyPackages: "--only",
    forceUpload: "--force",
    packagePath: "--package-path",
  });
  cmd
    .action(async (requirements: string[], opts: CliOptions) => {
      const options = toOptions(requirements, opts, ctx);
      const bars = new PhaseBars(ctx);
      let result: UploadEnvResult;
      try {
        result = await lib.clusterPack().uploadEnv({
          ...options,
          onProgress: (p) => bars.update(p.phase, p.done, p.total, p.unit),
          onLog: (m) => {
            bars.stop();
            ctx.log(m);
          },
        });
      } finally {
        bars.stop();
      }
      let sparkConf: Record<string, string> | undefined;
      if (opts.spark) {
        // spark-conf's code path, with this upload's archive, code zips and store settings
        // (an explicit S3 endpoint is used path-style, as the upload did).
        const config = sparkConfigFromCli(result.environment, { master: opts.spark, ...(opts.s3Endpoint ? { s3Endpoint: opts.s3Endpoint, s3PathStyle: true } : {}) });
        for (const w of config.warnings) ctx.log(`warning: ${w}`);
        sparkConf = Object.fromEntries(config.conf);
      }
      ctx.output(sparkConf ? { ...result, sparkConf } : result, (r: UploadEnvResult & { sparkConf?: Record<string, string> }) => renderHuman(r));
    });
}

interface CliOptions extends IndexCliOptions, TargetCliOptions, StoreCliOptions {
  env?: string;
  python?: string;
  requirement?: string;
  lock?: string;
  packer?: "pex" | "conda" | "venv";
  fromIndex?: boolean;
  allowLargePex?: boolean;
  venvMode?: boolean;
  compile?: boolean;
  layered?: boolean;
  layerStore?: string;
  packagePath?: string;
  force?: boolean;
  includeEditable?: boolean;
  additional?: string[];
  ignore?: string[];
  only?: string[];
  keepSeedPackages?: boolean;
  spark?: string;
}

function toOptions(requirements: string[], o: CliOptions, ctx: CommandContext): UploadEnvOptions {
  const additionalPackages: Record<string, string> = {};
  for (const a of o.additional ?? []) {
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*([^=<>!~\s][^\s]*)|((?:===|>=|<=|!=|~=|<|>)\s*[^=<>!~\s][^\s]*))?$/.exec(a.trim());
    if (!m) throw new InvalidInputError(`--additional ${a} is not a requirement.`, { hint: "write name==version (e.g. torch==2.2.0), name>=version, or a bare name." });
    additionalPackages[m[1]!] = m[2] ?? m[3] ?? "";
  }
  const index = indexOptions(o);
  const target = targetSpec(o);
  const store = storeOptions(o);
  const options: UploadEnvOptions = {
    ...(o.packer ? { packer: o.packer } : {}),
    ...(o.fromIndex ? { fromIndex: true } : {}),
    ...(o.allowLargePex || o.venvMode || o.compile ? { pex: { ...(o.allowLargePex ? { allowLargePex: true } : {}), ...(o.venvMode ? { venv: true } : {}), ...(o.compile ? { compile: true } : {}) } } : {}),
    forceUpload: Boolean(o.force),
    includeEditable: Boolean(o.includeEditable),
    keepSeedPackages: Boolean(o.keepSeedPackages),
    signal: ctx.signal,
  };
  if (requirements.length) options.requirements = requirements;
  if (o.env) options.env = o.env;
  if (o.python) options.python = o.python;
  if (o.requirement) options.requirementsFile = o.requirement;
  if (o.lock) options.lockFile = o.lock;
  if (o.packagePath) options.packagePath = o.packagePath;
  if (o.layered) options.layout = "layered";
  if (o.layerStore) options.layerStore = o.layerStore;
  if (Object.keys(additionalPackages).length) options.additionalPackages = additionalPackages;
  if (o.ignore?.length) options.ignoredPackages = o.ignore;
  if (o.only?.length) options.onlyPackages = o.only;
  if (target) options.target = target;
  if (Object.keys(index).length) options.index = index;
  if (Object.keys(store).length) options.store = store;
  if (o.cacheDir) options.cacheDir = o.cacheDir;
  return options;
}

function renderHuman(r: UploadEnvResult & { sparkConf?: Record<string, string> }): string {
  const lines = [
    `${r.uploaded ? "uploaded" : "up to date"}: ${r.packagePath}`,
    `environment: ${r.envName} (${plural(r.requirements.length, "package")}, lock ${r.lockHash.slice(0, 19)})`,
    `interpreter: ${r.environment.interpreter}`,
  ];
  for (const e of r.editableArchives) lines.push(`editable ${e.name}: ${e.packagePath}${e.uploaded ? "" : " (unchanged)"}`);
  if (r.layers) {
    const sent = r.layers.filter((l) => l.uploaded);
    lines.push(`layers: ${r.layers.length} (${sent.length} uploaded, ${sent.reduce((a, l) => a + l.size, 0)} bytes)`);
  }
  if (r.sparkConf) {
    lines.push("", "# Spark conf");
    for (const [k, v] of Object.entries(r.sparkConf)) lines.push(`${k}=${v}`);
  }
  return lines.join("\n");
}

/** One progress bar per phase, created when the phase starts, stopped when the next one does. */
class PhaseBars {
  private phase: UploadPhase | undefined;
  private bar: Progress | undefined;
  constructor(private readonly ctx: CommandContext) {}
  update(phase: UploadPhase, done: number, total: number | undefined, unit: "bytes" | "items"): void {
    if (phase !== this.phase) {
      this.bar?.stop();
      this.phase = phase;
      this.bar = this.ctx.progress(phase.padEnd(8), total ?? 0, unit);
    } else if (total !== undefined) {
      this.bar?.setTotal(total);
    }
    this.bar?.update(done);
  }
  /** Stops the current bar (before a log line, or at the end); the next update starts a new one. */
  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
    this.phase = undefined;
  }
}
