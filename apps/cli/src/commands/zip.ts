import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import type { RandomAccessSource, ZipEntry, ZipWriter } from "@cluster-pack/zip";
import type { CommandContext } from "../context";
import { plural } from "../format";
import { OUTPUT_RULE, helpText } from "../help";
import { asInput } from "../input";
import { lib } from "../lib";
import { addForceOption, checkOutput, integer } from "../options";

const HELP = helpText({
  notes: `Archives are read from a local path or an http(s) URL (range requests, no full download).
An archive that fails its checks is bad input (exit 2). ${OUTPUT_RULE}`,
  examples: [
    "# deterministic archive of a directory (sorted, 1980 timestamps, 0644/0755 modes)",
    "cluster-pack zip create app.zip ./src",
    "# an executable zipapp: shebang + __main__.py at the top level",
    'cluster-pack zip create app.pyz ./app --shebang "/usr/bin/env python3" --executable',
    "# list a remote wheel through HTTP range requests (no full download)",
    "cluster-pack zip list https://files.example.org/six-1.17.0-py2.py3-none-any.whl --json",
    "# check every entry (CRC, sizes, headers), then extract safely",
    "cluster-pack zip verify env.pex",
    "cluster-pack zip extract env.zip ./env --strip-prefix env/",
  ],
});

/** `cluster-pack zip create|list|verify|extract`: tools over @cluster-pack/zip. */
export function register(program: Command, ctx: CommandContext): void {
  const group = program
    .command("zip")
    .summary("Create, list, verify and extract zip archives (deterministic, ZIP64, safe).")
    .description("Zip tools: the same reader and writer that build PEX files and packed environments.")
    .addHelpText("after", HELP);

  const create = group
    .command("create")
    .description("Write a deterministic zip from files and directories (directories are added by their contents)")
    .argument("<output>", "archive to write (atomically)")
    .argument("<inputs...>", "files and directories")
    .option("--stored", "store entries without compression")
    .option("--level <n>", "deflate level 0-9", integer("--level", { min: 0, max: 9 }), 6)
    .option("--shebang <interpreter>", 'prefix the archive with "#!<interpreter>\\n"')
    .option("--executable", "make the output file executable (0755)")
    .option("--zip64", "always write ZIP64 records");
  addForceOption(create)
    .addHelpText(
      "after",
      helpText({ notes: OUTPUT_RULE, examples: ["cluster-pack zip create app.zip ./src", 'cluster-pack zip create app.pyz ./app --shebang "/usr/bin/env python3" --executable --force'] }),
    )
    .action(async (output: string, inputs: string[], opts: { stored?: boolean; level: number; shebang?: string; executable?: boolean; zip64?: boolean; force?: boolean }) => {
      const target = path.resolve(output);
      checkOutput(target, opts.force);
      const writer = new (lib.zip().ZipWriter)({
        compress: !opts.stored,
        compressionLevel: opts.level,
        forceZip64: Boolean(opts.zip64),
        ...(opts.shebang ? { prefix: `#!${opts.shebang}\n` } : {}),
      });
      for (const input of inputs) addInput(writer, input);
      const bar = ctx.progress("zip", writer.size, "items");
      try {
        const written = await lib.io().publishFile(target, (tmp) => writer.writeTo(tmp, { signal: ctx.signal, onProgress: (done) => bar.update(done), mode: opts.executable ? 0o755 : 0o644 }), {
          signal: ctx.signal,
          overwrite: Boolean(opts.force),
        });
        const result = { ...written, path: target };
        bar.stop();
        ctx.output(result, (r: typeof result) => `${r.path}: ${plural(r.entries, "entry", "entries")}, ${r.size} bytes, sha256 ${r.sha256}`);
      } finally {
        bar.stop();
      }
    });

  group
    .command("list")
    .description("List the entries of a local archive or of an http(s) URL (read with range requests)")
    .argument("<archive>")
    .addHelpText("after", helpText({ examples: ["cluster-pack zip list env.pex", "cluster-pack zip list https://files.example.org/six-1.17.0-py2.py3-none-any.whl --json"] }))
    .action(async (archive: string) => {
      const reader = await openArchive(archive, ctx.signal);
      try {
        const result = { archive: reader.source.name, size: reader.source.size, prefixLength: reader.prefixLength, entries: reader.entries.map(entryJson) };
        ctx.output(result, (r: typeof result) =>
          [
            ...(r.prefixLength ? [`(${r.prefixLength} bytes before the zip)`] : []),
            ...r.entries.map((e) => `${modeString(e)} ${String(e.size).padStart(12)} ${String(e.compressedSize).padStart(12)} ${e.method === 8 ? "deflate" : e.method === 0 ? "stored " : `m${e.method}`.padEnd(7)}  ${e.name}`),
            plural(r.entries.length, "entry", "entries"),
          ].join("\n"),
        );
      } finally {
        await reader.close();
      }
    });

  group
    .command("verify")
    .description("Check every byte: the central directory accounts for all data (no hidden, unlisted or overlapping entries), names, sizes, local headers and CRCs agree; zips glued one after another (a split PEX) are each checked (exit 2 when they do not)")
    .argument("<archive>")
    .addHelpText("after", helpText({ examples: ["cluster-pack zip verify env.pex", "cluster-pack zip verify https://files.example.org/six-1.17.0-py2.py3-none-any.whl --json"] }))
    .action(async (archive: string) => {
      const zip = lib.zip();
      const source: RandomAccessSource = /^https?:\/\//i.test(archive) ? await zip.httpRangeSource(archive, { signal: ctx.signal }) : await asInput(zip.fileSource(archive));
      const bar = ctx.progress("verify", undefined, "items");
      try {
        const checked = await asInput(zip.verifyZip(source, { signal: ctx.signal, onEntry: () => bar.increment() }));
        bar.stop();
        const result = { archive: checked.archive, ok: true, entries: checked.entries, bytes: checked.bytes, prefixLength: checked.prefixLength, zips: checked.zips };
        ctx.output(result, (r: typeof result) => `${r.archive}: OK (${plural(r.entries, "entry", "entries")}, ${r.bytes} bytes checked${r.zips.length > 1 ? ` in ${r.zips.length} zips` : ""})`);
      } finally {
        bar.stop();
        await source.close?.();
      }
    });

  group
    .command("extract")
    .description("Extract into a new or empty directory, atomically; unsafe names and symlinks are refused")
    .argument("<archive>")
    .argument("<dir>")
    .option("--strip-prefix <prefix>", "only extract entries under this directory, without it")
    .option("--skip-unsafe-symlinks", "leave out symlinks pointing outside the directory instead of failing")
    .addHelpText(
      "after",
      helpText({
        notes: "A directory that is not empty is never written into (there is no --force: extraction never replaces files).",
        examples: ["cluster-pack zip extract env.zip ./env --strip-prefix env/"],
      }),
    )
    .action(async (archive: string, dir: string, opts: { stripPrefix?: string; skipUnsafeSymlinks?: boolean }) => {
      const reader = await openArchive(archive, ctx.signal);
      try {
        await asInput(reader.extractTo(dir, { signal: ctx.signal, ...(opts.stripPrefix ? { stripPrefix: opts.stripPrefix } : {}), unsafeSymlinks: opts.skipUnsafeSymlinks ? "skip" : "error" }));
        const result = { archive: reader.source.name, directory: path.resolve(dir), entries: reader.entries.length };
        ctx.output(result, (r: typeof result) => `extracted ${r.archive} into ${r.directory}`);
      } finally {
        await reader.close();
      }
    });
}

/** The archive named on the command line, opened (a corrupt or truncated one is bad input: exit 2). */
async function openArchive(archive: string, signal: AbortSignal) {
  const zip = lib.zip();
  const source: RandomAccessSource = /^https?:\/\//i.test(archive) ? await zip.httpRangeSource(archive, { signal }) : await zip.fileSource(archive);
  return asInput(zip.ZipReader.open(source, { signal }));
}

/** Adds a file, a symlink, or a directory's contents (sorted; symlinks kept as symlinks). */
function addInput(writer: ZipWriter, input: string): void {
  const st = fs.lstatSync(input, { throwIfNoEntry: false });
  if (!st) throw new InvalidInputError(`${input} does not exist.`, { hint: "pass existing files or directories." });
  if (!st.isDirectory()) {
    addPath(writer, path.basename(input), input, st);
    return;
  }
  const walk = (dir: string, prefix: string) => {
    const names = fs.readdirSync(dir).sort();
    if (names.length === 0 && prefix) writer.addDirectory(prefix);
    for (const name of names) {
      const full = path.join(dir, name);
      const rel = prefix ? `${prefix}/${name}` : name;
      const s = fs.lstatSync(full);
      if (s.isDirectory()) walk(full, rel);
      else addPath(writer, rel, full, s);
    }
  };
  walk(input, "");
}

function addPath(writer: ZipWriter, name: string, full: string, st: fs.Stats): void {
  if (st.isSymbolicLink()) writer.addSymlink(name, fs.readlinkSync(full));
  else if (st.isFile()) writer.addFile(name, full, { mode: st.mode });
  else throw new InvalidInputError(`${full} is neither a file, a directory nor a symlink; zip archives cannot hold it.`);
}

function entryJson(e: ZipEntry) {
  return {
    name: e.name,
    type: e.isDirectory ? "directory" : e.isSymlink ? "symlink" : "file",
    size: e.uncompressedSize,
    compressedSize: e.compressedSize,
    method: e.method,
    mode: e.mode ? `0${(e.mode & 0o7777).toString(8)}` : null,
    crc32: e.crc32.toString(16).padStart(8, "0"),
  };
}

function modeString(e: ReturnType<typeof entryJson>): string {
  const type = e.type === "directory" ? "d" : e.type === "symlink" ? "l" : "-";
  if (!e.mode) return `${type}?????????`;
  const m = parseInt(e.mode, 8);
  const bits = "rwxrwxrwx".split("").map((c, i) => (m & (1 << (8 - i)) ? c : "-"));
  return type + bits.join("");
}
