import type { Command } from "commander";
import type { UploadZipResult } from "cluster-pack";
import type { CommandContext } from "../context";
import { helpText } from "../help";
import { lib } from "../lib";
import { addStoreOptions, libraryOptions, storeLocation, storeOptions, type StoreCliOptions } from "../options";
import type { Progress } from "../progress";

const HELP = helpText({
  notes: `The remote PEX-INFO is read with byte-range requests (no full download). --json prints
{ packagePath, pexHash, uploaded }.`,
  examples: [
    "# upload a PEX built elsewhere to the default place (<default fs>/user/<user>/envs/<name>.pex)",
    "cluster-pack upload-zip ./env.pex",
    "# from an http(s) URL to S3; skipped when the remote PEX has the same pex_hash",
    "cluster-pack upload-zip https://artifacts.example.com/env.pex -o s3://bucket/envs/env.pex",
    "# upload even when the remote pex_hash is the same",
    "cluster-pack upload-zip ./env.pex -o hdfs://root/user/me/envs/env.pex --force",
  ],
});

/** `cluster-pack upload-zip`: cluster-pack's upload_zip. */
export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command("upload-zip")
    .summary("Upload an existing PEX, skipped when the remote one has the same pex_hash.")
    .description("Uploads a .pex (or a large PEX shipped as .pex.zip) from a local path or an http(s) URL, unless the remote PEX's PEX-INFO pex_hash is the same.")
    .argument("<pex>", "a local .pex / .pex.zip file or an http(s) URL")
    .option("-o, --package-path <url>", "where to upload (s3://, hdfs://, file://, a local path)", storeLocation)
    .option("--force", "upload even when the remote pex_hash is the same");
  addStoreOptions(cmd).addHelpText("after", HELP);
  libraryOptions(cmd, { forceUpload: "--force" });
  cmd.action(async (pex: string, opts: StoreCliOptions & { packagePath?: string; force?: boolean }) => {
    let bar: Progress | undefined;
    let phase: string | undefined;
    let result: UploadZipResult;
    const store = storeOptions(opts);
    try {
      result = await lib.clusterPack().uploadZip(pex, {
        ...(opts.packagePath ? { packagePath: opts.packagePath } : {}),
        forceUpload: Boolean(opts.force),
        ...(Object.keys(store).length ? { store } : {}),
        signal: ctx.signal,
        onProgress: (p) => {
          if (p.phase !== phase) {
            bar?.stop();
            phase = p.phase;
            bar = ctx.progress(p.phase.padEnd(8), p.total ?? 0, "bytes");
          }
          bar?.update(p.done);
        },
      });
    } finally {
      bar?.stop();
    }
    ctx.output(result, (r: UploadZipResult) => `${r.uploaded ? "uploaded" : "up to date (same pex_hash)"}: ${r.packagePath}\npex_hash: ${r.pexHash}`);
  });
}
