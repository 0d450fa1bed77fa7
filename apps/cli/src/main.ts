import fs from "node:fs";
import path from "node:path";
import { Command, CommanderError } from "commander";
import { ClusterPackError, InvalidInputError, hasErrorCode } from "@cluster-pack/errors";
import { isNoSpaceError } from "@cluster-pack/io";
import { explainDerivation, numberLines, type ResolutionImpossibleError } from "@cluster-pack/pip";
import { EXIT, type CommandContext, type CommandModule } from "./context";
import { createProgress } from "./progress";

const EXIT_HELP = `
Exit codes:
  0    success
  1    the operation failed (network, storage, build, resolution)
  2    bad usage or bad input (the message names it and the fix)
  130  interrupted (SIGINT)
  143  terminated (SIGTERM)

On SIGINT or SIGTERM the running operation is cancelled: temporary files are removed,
S3 multipart uploads are aborted, nothing half-written is published. A second signal
exits at once.

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
  // The first signal cancels the operation (it cleans up, then main returns 130 / 143);
  // a second one, or cleanup taking too long, exits at once (the exit handler of
  // @cluster-pack/io still removes the registered temporaries).
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    const code = signal === "SIGTERM" ? EXIT.TERMINATED : EXIT.INTERRUPTED;
    if (received) {
      stderr.write(`cluster-pack: ${signal} again; exiting now\n`);
      process.exit(code);
    }
    received = signal;
    ac.abort(new Error(`interrupted by ${signal}`));
    setTimeout(() => {
      stderr.write(`cluster-pack: interrupted by ${signal}; cleanup took longer than ${CLEANUP_GRACE_MS / 1000} s, exiting\n`);
      process.exit(code);
    }, CLEANUP_GRACE_MS).unref();
  };
  if (!options.signal) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
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
    return reportError(err, ctx, state.json, received);
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
}

/** How long the operation may take to wind down after SIGINT / SIGTERM before the process exits anyway. */
const CLEANUP_GRACE_MS = 10_000;

function reportError(err: unknown, ctx: CommandContext, json: boolean, signal: NodeJS.Signals | undefined): number {
  if (err instanceof CommanderError) {
    // --help and --version end through here with exit code 0.
    if (err.exitCode === 0) return EXIT.OK;
    return EXIT.USAGE;
  }
  const code = signal === "SIGTERM" ? EXIT.TERMINATED : ctx.signal.aborted ? EXIT.INTERRUPTED : err instanceof InvalidInputError ? EXIT.USAGE : EXIT.FAILURE;
  let message = err instanceof Error ? err.message : String(err);
  let errCode = err instanceof ClusterPackError ? err.code : undefined;
  if (signal) {
    // Whatever the aborted operation threw, the user pressed Ctrl-C or the job was killed.
    message = `interrupted by ${signal}; unfinished outputs were removed`;
    errCode = "ERR_INTERRUPTED";
  } else if (isNoSpaceError(err) && errCode !== "ERR_NO_SPACE" && (err as { driver?: unknown }).driver === undefined) {
    // A bare ENOSPC that no layer described (a compressor, a stream): one clean line.
    message = `no space left on the device (${firstLine(message)}); free some space or write elsewhere`;
    errCode = "ERR_NO_SPACE";
  }
  // A failed resolution carries its derivation: shown as numbered steps, and as data with --json.
  const derivation = !signal && hasErrorCode(err, "ERR_RESOLUTION_IMPOSSIBLE") ? (err as ResolutionImpossibleError).derivation : undefined;
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
