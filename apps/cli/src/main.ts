import { Command, CommanderError } from "commander";
import { ClusterPackError, InvalidInputError, hasErrorCode, phraseOptions } from "@cluster-pack/errors";
import type { ResolutionImpossibleError } from "@cluster-pack/pip";
import { COMMANDS } from "./commands";
import { EXIT, type CommandContext } from "./context";
import { OUTPUT_RULE, helpText } from "./help";
import { lib } from "./lib";
import { spellOption } from "./options";
import { createProgress } from "./progress";

const EXIT_HELP = `
Exit codes:
  0    success
  1    the operation failed (network, storage, build, resolution)
  2    bad usage or bad input (the message names it and the fix)
  130  interrupted (SIGINT)
  143  terminated (SIGTERM)
${helpText({
  notes: `On SIGINT or SIGTERM the running operation is cancelled: temporary files are removed, S3
multipart uploads are aborted, nothing half-written is published. A second signal exits at once.

${OUTPUT_RULE}

Every command accepts --json (machine-readable result on stdout, and the error as
{ "error": { "code", "message" } }) and shows progress bars only when stderr is a terminal.`,
  examples: [
    "cluster-pack upload-env -o s3://bucket/envs/project.pex --spark yarn",
    "cluster-pack pex build pandas pyarrow -o env.pex",
    "cluster-pack <command> --help",
  ],
}).trimEnd()}`;

export interface MainOptions {
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  signal?: AbortSignal;
}

/** What the program records while parsing: the global flags and the command that runs. */
interface ProgramState {
  json: boolean;
  quiet: boolean;
  command?: Command;
}

/** Builds the program with every command of ./commands (registering loads no library). */
export function createProgram(ctx: CommandContext, state: ProgramState): Command {
  // Help wraps to the terminal, and to 100 columns when it is not one (piped, in a pager).
  const width = (stream: NodeJS.WritableStream) => ((stream as NodeJS.WriteStream).isTTY ? ((stream as NodeJS.WriteStream).columns ?? 100) : 100);
  const program = new Command("cluster-pack")
    .description("Pack Python environments once, ship them to clusters, configure every engine to use them.")
    .option("--json", "print the result as JSON on stdout")
    .option("-q, --quiet", "no log lines on stderr")
    .showSuggestionAfterError(true)
    .addHelpText("after", EXIT_HELP)
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
      // Usage errors are reported by main, as every other error: one "cluster-pack:" line, JSON with --json.
      outputError: () => undefined,
      getOutHelpWidth: () => width(ctx.stdout),
      getErrHelpWidth: () => width(ctx.stderr),
    })
    .exitOverride();
  program.hook("preAction", (_this, action) => {
    const opts = action.optsWithGlobals() as { json?: boolean; quiet?: boolean };
    state.json = Boolean(opts.json);
    state.quiet = Boolean(opts.quiet);
    state.command = action;
  });
  for (const mod of COMMANDS) mod.register(program, ctx);
  return program;
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
  const state: ProgramState = { json: false, quiet: false };
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
    // A usage error ends before any action ran: --json is read from the arguments then.
    const json = state.json || (state.command === undefined && argv.slice(2, argv.includes("--") ? argv.indexOf("--") : undefined).includes("--json"));
    return reportError(err, ctx, json, received, state.command);
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
}

/** How long the operation may take to wind down after SIGINT / SIGTERM before the process exits anyway. */
const CLEANUP_GRACE_MS = 10_000;

function reportError(err: unknown, ctx: CommandContext, json: boolean, signal: NodeJS.Signals | undefined, command: Command | undefined): number {
  if (err instanceof CommanderError) {
    // --help and --version end through here with exit code 0; a group run without its
    // subcommand has printed its help on stderr: a usage error without another message.
    if (err.exitCode === 0) return EXIT.OK;
    if (err.code === "commander.help" || err.code === "commander.helpDisplayed") return EXIT.USAGE;
    const message = firstLine(err.message.replace(/^error: /, ""));
    if (json) ctx.stdout.write(`${JSON.stringify({ error: { code: "ERR_USAGE", message } }, null, 2)}\n`);
    ctx.stderr.write(`cluster-pack: ${message}\n`);
    return EXIT.USAGE;
  }
  const code = exitCodeFor(err, ctx.signal, signal);
  // Library options the message names (`overwrite`, `kind`) are shown as this command's flags.
  let message = phraseOptions(err, (name) => spellOption(command, name));
  let errCode = err instanceof ClusterPackError ? err.code : undefined;
  // The fix, when the error keeps it apart from the message: its own line, after the message.
  let hint = err instanceof ClusterPackError && err.hint ? phraseOptions(err, (name) => spellOption(command, name), err.hint) : undefined;
  if (signal) {
    // Whatever the aborted operation threw, the user pressed Ctrl-C or the job was killed.
    message = `interrupted by ${signal}; unfinished outputs were removed`;
    errCode = "ERR_INTERRUPTED";
    hint = undefined;
  } else if (lib.io().isNoSpaceError(err) && errCode !== "ERR_NO_SPACE" && (err as { driver?: unknown }).driver === undefined) {
    // A bare ENOSPC that no layer described (a compressor, a stream): one clean line.
    message = `no space left on the device (${firstLine(message)})`;
    errCode = "ERR_NO_SPACE";
    hint = "free some space or write elsewhere.";
  }
  // A failed resolution carries its derivation: shown as numbered steps, and as data with --json.
  const derivation = !signal && hasErrorCode(err, "ERR_RESOLUTION_IMPOSSIBLE") ? (err as ResolutionImpossibleError).derivation : undefined;
  const pip = derivation ? lib.pip() : undefined;
  const steps = derivation ? pip!.explainDerivation(derivation) : undefined;
  if (json) {
    const error = { code: errCode ?? "ERR_UNKNOWN", message, ...(hint ? { hint } : {}), ...(derivation ? { explanation: steps, derivation } : {}) };
    ctx.stdout.write(`${JSON.stringify({ error }, null, 2)}\n`);
  }
  if (steps) ctx.stderr.write(`cluster-pack: ${message.split("\n")[0]}\n${pip!.numberLines(steps).map((l) => `  ${l}\n`).join("")}`);
  else ctx.stderr.write(`cluster-pack: ${firstLine(message)}\n`);
  if (hint) ctx.stderr.write(`cluster-pack: hint: ${firstLine(hint)}\n`);
  if (process.env.CLUSTER_PACK_DEBUG && err instanceof Error && err.stack) ctx.stderr.write(`${err.stack}\n`);
  return code;
}

/**
 * The documented exit codes: 130 / 143 for signals, 2 for bad usage or input (an
 * InvalidInputError: the message names the input and the fix), 1 for everything else
 * (network, store, build, resolution, data that failed its checks).
 */
export function exitCodeFor(err: unknown, aborted: AbortSignal, signal?: NodeJS.Signals): number {
  if (signal === "SIGTERM") return EXIT.TERMINATED;
  if (signal || aborted.aborted) return EXIT.INTERRUPTED;
  return err instanceof InvalidInputError ? EXIT.USAGE : EXIT.FAILURE;
}

function firstLine(s: string): string {
  return s.split("\n").filter((l) => l.trim() !== "").join(" ");
}

function ensureNewline(s: string): string {
  return s.endsWith("\n") ? s : `${s}\n`;
}
