import fs from "node:fs";
import path from "node:path";
import { Command, CommanderError } from "commander";
import { ClusterPackError, InvalidInputError, hasErrorCode } from "@cluster-pack/errors";
import { explainDerivation, numberLines, type ResolutionImpossibleError } from "@cluster-pack/pip";
import { EXIT, type CommandContext, type CommandModule } from "./context";
import { createProgress } from "./progress";

const EXIT_HELP = `
Exit codes:
  0    success
  1    the operation failed (network, storage, build, resolution)
  2    bad usage or bad input (the message names it and the fix)
  130  interrupted

Every command accepts --json (machine-readable result on stdout) and shows progress
bars only when stderr is a terminal.`;

export interface MainOptions {
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  signal?: AbortSignal;
}

/** Builds the program with every command module found in ./commands. */
export function createProgram(ctx: CommandContext, state: { json: boolean; quiet: boolean }): Command {
  const program = new Command("cluster-pack")
    .description("Pack Python environments once, ship them to clusters, configure every engine to use them.")
    .option("--json", "print the result as JSON on stdout")
    .option("-q, --quiet", "no log lines on stderr")
    .showSuggestionAfterError(true)
    .addHelpText("after", EXIT_HELP)
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .exitOverride();
  program.hook("preAction", (_this, action) => {
    const opts = action.optsWithGlobals() as { json?: boolean; quiet?: boolean };
    state.json = Boolean(opts.json);
    state.quiet = Boolean(opts.quiet);
  });
  for (const mod of loadCommandModules()) mod.register(program, ctx);
  return program;
}

function loadCommandModules(): CommandModule[] {
  const dir = path.join(__dirname, "commands");
  if (!fs.existsSync(dir)) return [];
  const ext = path.extname(__filename);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(ext) && !f.endsWith(`.test${ext}`) && !f.endsWith(`.d${ext}`))
    .sort()
    .map((f) => require(path.join(dir, f)) as CommandModule)
    .filter((m) => typeof m.register === "function");
}

/**
 * A reader that goes away (`cluster-pack ... | head`) closes the pipe: like any Unix tool,
 * stop quietly instead of dying on an unhandled EPIPE with a stack trace.
 */
export function exitQuietlyOnBrokenPipe(stream: NodeJS.EventEmitter, exit: (code: number) => void = (c) => process.exit(c)): void {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") exit(EXIT.OK);
    else throw err;
  });
}

/** Runs the CLI; resolves to the exit code instead of exiting, so tests can call it. */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const ac = new AbortController();
  if (options.signal) options.signal.addEventListener("abort", () => ac.abort(options.signal?.reason), { once: true });
  const onSignal = () => ac.abort(new Error("interrupted"));
  if (!options.signal) {
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
  const state = { json: false, quiet: false };
  const ctx: CommandContext = {
    stdout,
    stderr,
    signal: ac.signal,
    get json() {
      return state.json;
    },
    output(result, human) {
      stdout.write(state.json ? `${JSON.stringify(result, null, 2)}\n` : ensureNewline(human(result)));
    },
    log(message) {
      if (!state.quiet) stderr.write(ensureNewline(message));
    },
    progress(label, total, unit) {
      return state.quiet || state.json ? createProgress({} as NodeJS.WritableStream, label) : createProgress(stderr, label, total, unit);
    },
  };
  try {
    const program = createProgram(ctx, state);
    await program.parseAsync(argv);
    return EXIT.OK;
  } catch (err) {
    return reportError(err, ctx, state.json);
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
}

function reportError(err: unknown, ctx: CommandContext, json: boolean): number {
  if (err instanceof CommanderError) {
    // --help and --version end through here with exit code 0.
    if (err.exitCode === 0) return EXIT.OK;
    return EXIT.USAGE;
  }
  const code = ctx.signal.aborted ? EXIT.INTERRUPTED : err instanceof InvalidInputError ? EXIT.USAGE : EXIT.FAILURE;
  const message = err instanceof Error ? err.message : String(err);
  const errCode = err instanceof ClusterPackError ? err.code : undefined;
  // A failed resolution carries its derivation: shown as numbered steps, and as data with --json.
  const derivation = hasErrorCode(err, "ERR_RESOLUTION_IMPOSSIBLE") ? (err as ResolutionImpossibleError).derivation : undefined;
  const steps = derivation ? explainDerivation(derivation) : undefined;
  if (json) {
    const error = { code: errCode ?? "ERR_UNKNOWN", message, ...(derivation ? { explanation: steps, derivation } : {}) };
    ctx.stdout.write(`${JSON.stringify({ error }, null, 2)}\n`);
  }
  if (steps) ctx.stderr.write(`cluster-pack: ${message.split("\n")[0]}\n${numberLines(steps).map((l) => `  ${l}\n`).join("")}`);
  else ctx.stderr.write(`cluster-pack: ${firstLine(message)}\n`);
  if (process.env.CLUSTER_PACK_DEBUG && err instanceof Error && err.stack) ctx.stderr.write(`${err.stack}\n`);
  return code;
}

function firstLine(s: string): string {
  return s.split("\n").filter((l) => l.trim() !== "").join(" ");
}

function ensureNewline(s: string): string {
  return s.endsWith("\n") ? s : `${s}\n`;
}
