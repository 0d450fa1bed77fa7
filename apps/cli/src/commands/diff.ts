import type { Command } from "commander";
import type { PexDiff } from "@cluster-pack/pex";
import type { CommandContext } from "../context";
import { formatBytes } from "../format";
import { helpText } from "../help";
import { lib } from "../lib";
import { addStoreOptions, storeLocation, storeOptions, type StoreCliOptions } from "../options";

const HELP = helpText({
  notes: `Remote environments are read by range requests (the end of the file, the central
directories and PEX-INFO): nothing is downloaded in full.`,
  examples: ["cluster-pack diff old.pex new.pex", "cluster-pack diff s3://bucket/envs/app.pex ./app.pex", "cluster-pack diff hdfs:///user/me/envs/a.pex https://artifacts.example.com/b.pex --json"],
});

/** `cluster-pack diff A B`: what changed between two environments. */
export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command("diff")
    .summary("What changed between two PEX files or uploaded environments.")
    .description("Distributions added, removed and changed (versions, sizes, hashes), interpreter constraints and entry point, between two PEX files or uploaded environments (local, S3, HDFS, HTTP).")
    .argument("<a>", "the old environment: a .pex, a packed PEX directory, or a URL", storeLocation)
    .argument("<b>", "the new environment", storeLocation);
  addStoreOptions(cmd)
    .addHelpText("after", HELP)
    .action(async (a: string, b: string, opts: StoreCliOptions) => {
      const result = await lib.clusterPack().diffEnvironments(a, b, { store: storeOptions(opts), signal: ctx.signal });
      ctx.output(result, renderDiff);
    });
}

function renderDiff(d: PexDiff): string {
  const size = (n: number | undefined) => (n === undefined ? "" : ` (${formatBytes(n)})`);
  const lines = [`--- ${d.a.path}  ${d.a.layout}, ${formatBytes(d.a.size)}, pex_hash ${d.a.pexHash ?? "-"}`, `+++ ${d.b.path}  ${d.b.layout}, ${formatBytes(d.b.size)}, pex_hash ${d.b.pexHash ?? "-"}`];
  for (const x of d.removed) lines.push(`- ${x.project} ${x.version}${size(x.size)}`);
  for (const x of d.added) lines.push(`+ ${x.project} ${x.version}${size(x.size)}`);
  for (const c of d.changed) {
    const v = c.from.version === c.to.version ? c.to.version : `${c.from.version} -> ${c.to.version}`;
    const s = c.from.size !== undefined && c.to.size !== undefined && c.from.size !== c.to.size ? ` (${formatBytes(c.from.size)} -> ${formatBytes(c.to.size)})` : size(c.to.size);
    lines.push(`~ ${c.project} ${v}${s}: ${c.what.join(", ")} changed`);
  }
  for (const f of d.fields) lines.push(`~ ${f.field}: ${JSON.stringify(f.from)} -> ${JSON.stringify(f.to)}`);
  lines.push(`${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed, ${d.unchanged} unchanged${d.newBytes !== undefined ? `; ${formatBytes(d.newBytes)} of distributions new in the second` : ""}`);
  return lines.join("\n");
}
