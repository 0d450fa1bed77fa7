import { Command } from "commander";
import { gc, parseDuration, type GcResult } from "cluster-pack";
import type { CommandContext } from "../context";
import { formatBytes } from "../progress";

const EXAMPLES = `
Examples:
  # what would be removed (dry run): layers no environment under the prefix names
  $ cluster-pack gc s3://bucket/envs

  # remove them, keeping anything modified in the last 2 days
  $ cluster-pack gc hdfs:///user/me/envs --delete --grace 48h

Layers are the <sha256>.zip files in any layers/ directory under the prefix; the
environments are the .pex files under it (their PEX-INFO read by range requests).
Every environment that uses those layers must be under the prefix. A layer younger than
the grace period (default 24h) is always kept, so an upload in flight (layers first, its
PEX last) is never broken; a PEX that cannot be read stops gc before it deletes anything.`;

/** `cluster-pack gc <prefix>`: unreferenced layers, listed (dry run) or deleted. */
export function register(program: Command, ctx: CommandContext): void {
  program
    .command("gc")
    .summary("List (or --delete) layers that no environment under a prefix uses.")
    .description("Garbage-collects the layer stores of layered environments: layers under <prefix> that no .pex under <prefix> names and that are older than the grace period. Dry run unless --delete.")
    .argument("<prefix>", "the store directory that holds the environments and their layers/ (s3://, hdfs://, file://, a local path)")
    .option("--delete", "delete them (default: only list)")
    .option("--grace <duration>", "keep layers modified within this time (e.g. 24h, 30m, 7d)", "24h")
    .option("--s3-endpoint <url>", "S3 endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)")
    .addHelpText("after", EXAMPLES)
    .action(async (prefix: string, opts: { delete?: boolean; grace: string; s3Endpoint?: string }) => {
      const result = await gc(prefix, {
        delete: Boolean(opts.delete),
        graceMs: parseDuration(opts.grace, "--grace"),
        ...(opts.s3Endpoint ? { store: { s3: { endpoint: opts.s3Endpoint, forcePathStyle: true } } } : {}),
        signal: ctx.signal,
        onLog: (m) => ctx.log(m),
      });
      ctx.output(result, renderGc);
    });
}

function renderGc(r: GcResult): string {
  const kept = r.layers.filter((l) => l.action === "keep");
  const gone = r.layers.filter((l) => l.action !== "keep");
  const lines = [`${r.environments.length} environments and ${r.layers.length} layers under ${r.prefix}`];
  for (const l of gone) lines.push(`  ${l.action === "deleted" ? "deleted" : "would delete"}  ${formatBytes(l.size).padStart(10)}  ${l.url}`);
  const young = kept.filter((l) => !l.referenced).length;
  lines.push(
    `${gone.length} ${r.dryRun ? "to delete" : "deleted"} (${formatBytes(r.reclaimable)}); kept ${kept.length} (${kept.length - young} referenced, ${young} younger than the grace period)`,
  );
  if (r.dryRun && gone.length) lines.push("dry run: add --delete to remove them");
  return lines.join("\n");
}
