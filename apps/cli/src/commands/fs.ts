import type { Command } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import type { FileStat } from "@cluster-pack/fs";
import type { CommandContext } from "../context";
import { OUTPUT_RULE, helpText } from "../help";
import { asInput } from "../input";
import { lib } from "../lib";
import { addForceOption, addStoreOptions, integer, keyValues, outputExists, storeOptions, type StoreCliOptions } from "../options";

/** What a copy does with permission bits: quoted in `fs --help` and `fs cp --help`. */
const MODE_RULE = "A copy keeps the file's permission bits; from a store without them (S3, HTTP, WebHDFS) a file that starts with #! (a PEX) is made executable.";

const HELP = helpText({
  notes: `URLs: s3:// s3a:// hdfs:// viewfs:// webhdfs:// file:// http(s):// or a local path (a scheme
without its // is refused: write ./s3:/x for such a local path). Defaults come from AWS_*
variables / the AWS profile and HADOOP_CONF_DIR. ${MODE_RULE} ${OUTPUT_RULE}`,
  examples: [
    "cluster-pack fs ls s3://bucket/envs/",
    "cluster-pack fs stat hdfs:///user/me/envs/env.pex --json",
    "# local -> store: published atomically (readers never see a partial file)",
    "cluster-pack fs cp ./env.pex s3://bucket/envs/env.pex --metadata lock-sha256=ab12",
    "# store -> local (temp file + rename), store -> store (streamed)",
    "cluster-pack fs cp hdfs://nn:8020/envs/env.pex ./env.pex --force && ./env.pex -c 'print(1)'",
    "# one round trip (a HEAD on S3, a GETXATTRS on HDFS): up to date / stale / missing",
    "cluster-pack fs check s3://bucket/envs/env.pex --metadata lock-sha256=ab12",
  ],
});

/** `cluster-pack fs ls|stat|cp|check`: small tools over @cluster-pack/fs. */
export function register(program: Command, ctx: CommandContext): void {
  const group = program
    .command("fs")
    .summary("List, inspect, copy and check files on S3, HDFS, HTTP and local disk.")
    .description("Filesystem tools over the same adapters cluster-pack uploads with.");
  addStoreOptions(group).addHelpText("after", HELP);

  const at = (url: string) => lib.fs().resolveFileSystem(url, storeOptions(group.opts<StoreCliOptions>()));

  group
    .command("ls")
    .description("List a directory (or prefix)")
    .argument("<url>")
    .addHelpText("after", helpText({ examples: ["cluster-pack fs ls s3://bucket/envs/", "cluster-pack fs ls hdfs:///user/me/envs --json"] }))
    .action(async (url: string) => {
      const { fs: store, path } = await at(url);
      const entries = await asInput(store.list(path, { signal: ctx.signal }));
      ctx.output(entries.map(statJson), (es: ReturnType<typeof statJson>[]) => es.map((e) => `${e.type === "dir" ? "d" : "-"} ${String(e.size).padStart(12)}  ${e.name}${e.type === "dir" ? "/" : ""}`).join("\n") || "(empty)");
    });

  group
    .command("stat")
    .description("Show size, type, modification time and metadata of one path")
    .argument("<url>")
    .addHelpText("after", helpText({ examples: ["cluster-pack fs stat s3://bucket/envs/env.pex", "cluster-pack fs stat ./env.pex --json"] }))
    .action(async (url: string) => {
      const { fs: store, path, url: shown } = await at(url);
      const st = await asInput(store.stat(path, { signal: ctx.signal }));
      const head = st.isFile ? await store.head(path, { signal: ctx.signal }) : null;
      const result = { url: shown, ...statJson(st), metadata: head?.metadata ?? {} };
      ctx.output(result, (r: typeof result) =>
        [`${r.url}`, `type: ${r.type}`, `size: ${r.size}`, ...(r.mtime ? [`modified: ${r.mtime}`] : []), ...(r.etag ? [`etag: ${r.etag}`] : []), ...Object.entries(r.metadata).map(([k, v]) => `meta ${k}: ${v}`)].join("\n"),
      );
    });

  const cp = group
    .command("cp")
    .description("Copy a file; to a store it is published atomically, to local disk through a temp file")
    .argument("<src>")
    .argument("<dst>")
    .option("-m, --metadata <key=value...>", "user metadata stored with the copy (keys: lowercase, digits, '-')");
  addForceOption(cp, "the destination")
    .addHelpText(
      "after",
      helpText({
        notes: `${MODE_RULE} ${OUTPUT_RULE}`,
        examples: ["cluster-pack fs cp ./env.pex s3://bucket/envs/env.pex -m lock-sha256=ab12", "cluster-pack fs cp s3://bucket/envs/env.pex ./env.pex --force"],
      }),
    )
    .action(async (src: string, dst: string, opts: { metadata?: string[]; force?: boolean }) => {
      const metadata = keyValues(opts.metadata, "--metadata");
      const from = await at(src);
      const to = await at(dst);
      const st = await asInput(from.fs.stat(from.path, { signal: ctx.signal }));
      if (st.isDirectory) throw new InvalidInputError(`${from.url} is a directory; fs cp copies one file at a time.`);
      if (!opts.force && (await to.fs.exists(to.path, { signal: ctx.signal }))) throw outputExists(to.url);
      const bar = ctx.progress("copy", st.size, "bytes");
      const onProgress = (p: { bytesDone: number }) => bar.update(p.bytesDone);
      try {
        if (from.fs.driver === "local") {
          await to.fs.publish(from.path, to.path, { metadata, onProgress, signal: ctx.signal });
        } else if (to.fs.driver === "local") {
          await from.fs.get(from.path, to.path, { onProgress, signal: ctx.signal });
        } else {
          await from.fs.copy(from.path, to.path, { destination: to.fs, metadata, onProgress, signal: ctx.signal });
        }
      } finally {
        bar.stop();
      }
      const result = { from: from.url, to: to.url, size: st.size };
      ctx.output(result, (r: typeof result) => `copied ${r.size} bytes: ${r.from} -> ${r.to}`);
    });

  group
    .command("check")
    .description("Is the remote copy up to date (metadata and size)? One round trip")
    .argument("<url>")
    .option("-m, --metadata <key=value...>", "metadata the copy must carry")
    .option("--size <bytes>", "size the copy must have", integer("--size", { min: 0 }))
    .addHelpText("after", helpText({ examples: ["cluster-pack fs check s3://bucket/envs/env.pex -m lock-sha256=ab12 --size 1024 --json"] }))
    .action(async (url: string, opts: { metadata?: string[]; size?: number }) => {
      const { fs: store, path, url: shown } = await at(url);
      const r = await store.isUpToDate(path, { metadata: keyValues(opts.metadata, "--metadata"), ...(opts.size === undefined ? {} : { size: opts.size }) }, { signal: ctx.signal });
      const result = { url: shown, upToDate: r.upToDate, exists: r.head !== null, metadata: r.head?.metadata ?? {} };
      ctx.output(result, (x: typeof result) => `${x.upToDate ? "up to date" : x.exists ? "stale" : "missing"}: ${x.url}`);
    });
}

function statJson(st: FileStat) {
  return {
    name: st.name,
    type: st.isDirectory ? ("dir" as const) : ("file" as const),
    size: st.size,
    ...(st.mtimeMs ? { mtime: new Date(st.mtimeMs).toISOString() } : {}),
    ...(st.etag ? { etag: st.etag } : {}),
  };
}
