import type { Command } from "commander";
import type { Progress } from "./progress";

/** Documented exit codes (also printed by `cluster-pack --help`). */
export const EXIT = {
  OK: 0,
  /** The operation ran and failed (network, store, build, resolution). */
  FAILURE: 1,
  /** Bad usage or bad input: an unknown option, a missing file, a malformed requirement. */
  USAGE: 2,
  /** Interrupted by SIGINT (128 + 2), or cancelled through the caller's AbortSignal. */
  INTERRUPTED: 130,
  /** Terminated by SIGTERM (128 + 15). */
  TERMINATED: 143,
} as const;

/** What every command gets: where to write, whether to print JSON, how to show progress. */
export interface CommandContext {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Aborted on SIGINT/SIGTERM; pass it to every library call (they remove their temporaries). */
  signal: AbortSignal;
  /** Prints a result: as JSON when --json was given, else via the human renderer. */
  output<T>(result: T, human: (result: T) => string): void;
  /** One line to stderr, unless --quiet. Never use for results. */
  log(message: string): void;
  /** A progress bar on a terminal, nothing when piped. */
  progress(label: string, total?: number, unit?: "bytes" | "items"): Progress;
  /** True when --json was given. */
  readonly json: boolean;
}

/**
 * A command module lives in src/commands/<name>.ts and exports `register`, which declares
 * the command (or group), its options and its --help; it is listed in
 * src/commands/index.ts, typed, so a module without `register` fails the build. Its
 * libraries load inside its actions (src/lib.ts), so registering costs commander only.
 */
export interface CommandModule {
  register(program: Command, ctx: CommandContext): void;
}
