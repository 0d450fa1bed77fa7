import cliProgress from "cli-progress";

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
 * and machine-readable output on stdout is never interleaved with bar redraws.
 */
export function createProgress(
  stream: NodeJS.WritableStream,
  label: string,
  total = 0,
  unit: "bytes" | "items" = "items",
): Progress {
  if (!(stream as NodeJS.WriteStream).isTTY || process.env.CI) return NOOP;
  const fmt = unit === "bytes" ? formatBytes : (n: number) => String(n);
  const bar = new cliProgress.SingleBar(
    {
      stream: stream as NodeJS.WriteStream,
      format: `${label} [{bar}] {percentage}% {doneFmt}/{totalFmt} {duration_formatted}`,
      hideCursor: true,
      clearOnComplete: true,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  let current = 0;
  let max = total;
  bar.start(max, 0, { doneFmt: fmt(0), totalFmt: fmt(max) });
  return {
    setTotal(t) {
      max = t;
      bar.setTotal(t);
      bar.update(current, { totalFmt: fmt(t) });
    },
    update(done) {
      current = done;
      bar.update(done, { doneFmt: fmt(done) });
    },
    increment(delta = 1) {
      current += delta;
      bar.update(current, { doneFmt: fmt(current) });
    },
    stop() {
      bar.stop();
    },
  };
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
