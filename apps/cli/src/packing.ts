import type { PackOptionsBase, PackResult } from "@cluster-pack/conda";
import type { CommandContext } from "./context";
import { formatBytes, plural } from "./format";

/** What `conda pack` and `venv pack` share at run time: a progress bar per phase, and the report. */
export async function withPackProgress(ctx: CommandContext, run: (onProgress: NonNullable<PackOptionsBase["onProgress"]>) => Promise<PackResult>): Promise<PackResult> {
  let bar: ReturnType<CommandContext["progress"]> | null = null;
  let phase = "";
  try {
    return await run((p) => {
      if (p.phase !== phase) {
        bar?.stop();
        phase = p.phase;
        bar = ctx.progress(p.phase === "scan" ? "Scanning" : "Packing", p.total, "items");
      }
      bar?.update(p.done);
    });
  } finally {
    (bar as ReturnType<CommandContext["progress"]> | null)?.stop();
  }
}

export function reportPack(ctx: CommandContext, result: PackResult, unpackScript: string | null): void {
  for (const w of result.warnings) ctx.log(`warning: ${w}`);
  ctx.output(result, (r: PackResult) =>
    [
      `Packed ${plural(r.entries, "entry", "entries")} into ${r.output} (${r.format}, ${formatBytes(r.size)})`,
      r.sha256 ? `sha256 ${r.sha256}` : "",
      `${plural(r.relocatedFiles, "file carries", "files carry")} the prefix${unpackScript ? `: run <dir>/${unpackScript} after unpacking` : ""}`,
      `On the cluster: unpack into ${r.env.dirName}/, interpreter ${r.env.interpreter}`,
    ]
      .filter(Boolean)
      .join("\n"),
  );
}
