import type { Command } from "commander";
import type { GcResult } from "cluster-pack";
import type { CommandContext } from "../context";
import { formatBytes, plural } from "../format";
import { helpText } from "../help";
import { lib } from "../lib";
import { addStoreOptions, storeLocation, storeOptions, type StoreCliOptions } from "../options";

const HELP = helpText({
  notes: `Layers are the <sha256>.zip files in any layers/ directory under the prefix; the
environments are the .pex files under it (their PEX-INFO read by range requests). Every
environment that uses those layers must be under the prefix. A layer younger than the
grace period (default 24h) is always kept, so an upload in flight (layers first, its PEX
last) is never broken; a PEX that cannot be read stops gc before it deletes anything.`,
  examples: [
    "# what would be removed (dry run): layers no environment under the prefix names",
    "cluster-pack gc s3://bucket/envs",
    "# remove them, keeping anything modified in the last 2 days",
    "cluster-pack gc hdfs:///user/me/envs --delete --grace 48h",
  ],
});

/** `cluster-pack gc <prefix>`: unreferenced layers, listed (dry run) or deleted. */
export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command("gc")
    .summary("List (or --delete) layers that no environment under a prefix uses.")
    .description("Garbage-collects the layer stores of layered environments: layers under <prefix> that no .pex under <prefix> names and that are older than the grace period. Dry run unless --delete.")
    .argument("<prefix>", "the store directory that holds the environments and their layers/ (s3://, hdfs://, file://, a local path)", storeLocation)
    .option("--delete", "delete them (default: only list)")
    .option("--grace <duration>", "keep layers modified within this time (e.g. 24h, 30m, 7d)", "24h");
  addStoreOptions(cmd)
    .addHelpText("after", HELP)
    .action(async (prefix: string, opts: StoreCliOptions & { delete?: boolean; grace: string }) => {
      const cp = lib.clusterPack();
      const result = await cp.gc(prefix, {
        delete: Boolean(opts.delete),
        graceMs: cp.parseDuration(opts.grace, "--grace"),
        store: storeOptions(opts),
        signal: ctx.signal,
        onLog: (m) => ctx.log(m),
      });
      ctx.output(result, renderGc);
    });
}

function renderGc(r: GcResult): string {
  const kept = r.layers.filter((l) => l.action === "keep");
  const gone = r.layers.filter((l) => l.action !== "keep");
  const lines = [`${plural(r.environments.length, "environment")} and ${plural(r.layers.length, "layer")} under ${r.prefix}`];
  for (const l of gone) lines.push(`  ${l.action === "deleted" ? "deleted" : "would delete"}  ${formatBytes(l.size).padStart(10)}  ${l.url}`);
  const young = kept.filter((l) => !l.referenced).length;
  lines.push(`${gone.length} ${r.dryRun ? "to delete" : "deleted"} (${formatBytes(r.reclaimable)}); kept ${kept.length} (${kept.length - young} referenced, ${young} younger than the grace period)`);
  if (r.dryRun && gone.length) lines.push("dry run: add --delete to remove them");
  return lines.join("\n");
}
