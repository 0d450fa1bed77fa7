export { formatBytes } from "./format";
import { formatBytes } from "./format";

export interface Progress {
  /** Sets the total when it becomes known. */
  setTotal(total: number): void;
  /** Sets the absolute amount done. */
  update(done: number): void;
  /** Adds to the amount done. */
  increment(delta?: number): void;
  stop(): void;
}

const NOOP: Progress = { setTotal() {}, update() {}, increment() {}, stop() {} };

/**
 * A progress bar on stderr when it is a terminal; a no-op when piped, so logs stay quiet
 * and machine-readable output on stdout is never interleaved with bar redraws. Until the
 * total is known (0 or unset) it shows the label, the amount done so far and the time,
 * never a bar at "100% 0/0".
 */
export function createProgress(stream: NodeJS.WritableStream, label: string, total = 0, unit: "bytes" | "items" = "items"): Progress {
  if (!(stream as NodeJS.WriteStream).isTTY || process.env.CI) return NOOP;
  // Loaded only when a bar is drawn (a terminal): 16 modules --help and pipes never need.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cliProgress = require("cli-progress") as typeof import("cli-progress");
  const fmt = unit === "bytes" ? formatBytes : (n: number) => String(n);
  const known = `${label} [{bar}] {percentage}% {doneFmt}/{totalFmt} {duration_formatted}`;
  const unknown = `${label} {sofar}{duration_formatted}`;
  const bar = new cliProgress.SingleBar(
    {
      stream: stream as NodeJS.WriteStream,
      format: (options, params, payload) => cliProgress.Format.Formatter({ ...options, format: params.total > 0 ? known : unknown }, params, payload),
      hideCursor: true,
      clearOnComplete: true,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  let current = 0;
  const payload = (): Record<string, string> => ({ doneFmt: fmt(current), sofar: current > 0 ? `${fmt(current)} ` : "" });
  bar.start(total, 0, { ...payload(), totalFmt: fmt(total) });
  return {
    setTotal(t) {
      bar.setTotal(t);
      bar.update(current, { ...payload(), totalFmt: fmt(t) });
    },
    update(done) {
      current = done;
      bar.update(done, payload());
    },
    increment(delta = 1) {
      current += delta;
      bar.update(current, payload());
    },
    stop() {
      bar.stop();
    },
  };
}
