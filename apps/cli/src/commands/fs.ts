import { Command } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import { resolveFileSystem, type FileStat, type ResolveOptions } from "@cluster-pack/fs";
import type { CommandContext } from "../context";

const EXAMPLES = `
Examples:
  $ cluster-pack fs ls s3://bucket/envs/
  $ cluster-pack fs stat hdfs:///user/me/envs/env.pex --json
  # local -> store: published atomically (readers never see a partial file)
  $ cluster-pack fs cp ./env.pex s3://bucket/envs/env.pex --metadata lock-sha256=ab12
  # store -> local (temp file + rename), store -> store (streamed)
  $ cluster-pack fs cp hdfs://nn:8020/envs/env.pex ./env.pex
  # one round trip (a HEAD on S3, a GETXATTRS on HDFS): up to date / stale / missing
  $ cluster-pack fs check s3://bucket/envs/env.pex --metadata lock-sha256=ab12

URLs: s3:// s3a:// hdfs:// viewfs:// webhdfs:// file:// http(s):// or a local path.
Defaults come from AWS_* variables / the AWS profile and HADOOP_CONF_DIR.`;

/** `cluster-pack fs ls|stat|cp|check`: small tools over @cluster-pack/fs. */
export function register(program: Command, ctx: CommandContext): void {
  const group = program
    .command("fs")
    .summary("List, inspect, copy and check files on S3, HDFS, HTTP and local disk.")
    .description("Filesystem tools over the same adapters cluster-pack uploads with.")
    .option("--s3-endpoint <url>", "S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)")
    .option("--hadoop-conf-dir <dir>", "Hadoop configuration directory (default: HADOOP_CONF_DIR)")
    .addHelpText("after", EXAMPLES);

  const resolveOpts = (): ResolveOptions => {
    const o = group.opts<{ s3Endpoint?: string; hadoopConfDir?: string }>();
    return {
      ...(o.s3Endpoint ? { s3: { endpoint: o.s3Endpoint } } : {}),
      ...(o.hadoopConfDir ? { hdfs: { hadoopConfDir: o.hadoopConfDir } } : {}),
    };
  };

  group
    .command("ls")
    .description("List a directory (or prefix)")
    .argument("<url>")
    .action(async (url: string) => {
      const { fs: store, path } = await resolveFileSystem(url, resolveOpts());
      const entries = await store.list(path, { signal: ctx.signal });
      ctx.output(entries.map(statJson), (es: ReturnType<typeof statJson>[]) => es.map((e) => `${e.type === "dir" ? "d" : "-"} ${String(e.size).padStart(12)}  ${e.name}${e.type === "dir" ? "/" : ""}`).join("\n") || "(empty)");
    });

  group
    .command("stat")
    .description("Show size, type, modification time and metadata of one path")
    .argument("<url>")
    .action(async (url: string) => {
      const { fs: store, path, url: shown } = await resolveFileSystem(url, resolveOpts());
      const st = await store.stat(path, { signal: ctx.signal });
      const head = st.isFile ? await store.head(path, { signal: ctx.signal }) : null;
      const result = { url: shown, ...statJson(st), metadata: head?.metadata ?? {} };
      ctx.output(result, (r: typeof result) =>
        [`${r.url}`, `type: ${r.type}`, `size: ${r.size}`, ...(r.mtime ? [`modified: ${r.mtime}`] : []), ...(r.etag ? [`etag: ${r.etag}`] : []), ...Object.entries(r.metadata).map(([k, v]) => `meta ${k}: ${v}`)].join("\n"),
      );
    });

  group
    .command("cp")
    .description("Copy a file; to a store it is published atomically, to local disk through a temp file")
    .argument("<src>")
    .argument("<dst>")
    .option("-m, --metadata <key=value...>", "user metadata stored with the copy (keys: lowercase, digits, '-')")
    .option("--no-overwrite", "fail when the destination exists")
    .action(async (src: string, dst: string, opts: { metadata?: string[]; overwrite: boolean }) => {
      const metadata = parseMetadata(opts.metadata);
      const from = await resolveFileSystem(src, resolveOpts());
      const to = await resolveFileSystem(dst, resolveOpts());
      const st = await from.fs.stat(from.path, { signal: ctx.signal });
      if (st.isDirectory) throw new InvalidInputError(`${from.url} is a directory; fs cp copies one file at a time.`);
      if (!opts.overwrite && (await to.fs.exists(to.path, { signal: ctx.signal }))) {
        throw new InvalidInputError(`${to.url} already exists; drop --no-overwrite to replace it.`);
      }
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
    .option("--size <bytes>", "size the copy must have", (v) => {
      if (!/^\d+$/.test(v)) throw new InvalidInputError(`--size must be a number of bytes, got ${JSON.stringify(v)}`);
      return Number(v);
    })
    .action(async (url: string, opts: { metadata?: string[]; size?: number }) => {
      const { fs: store, path, url: shown } = await resolveFileSystem(url, resolveOpts());
      const r = await store.isUpToDate(path, { metadata: parseMetadata(opts.metadata), ...(opts.size === undefined ? {} : { size: opts.size }) }, { signal: ctx.signal });
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

function parseMetadata(pairs: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new InvalidInputError(`--metadata expects key=value, got ${JSON.stringify(p)}`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}
