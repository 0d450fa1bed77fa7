import { forEachLimit } from "@cluster-pack/io";
import type { WheelVerification, WheelZipFacts } from "@cluster-pack/wheel";
import { PEX_CHROOT_SCHEME } from "@cluster-pack/wheel";
import type { ZipWriter } from "@cluster-pack/zip";
import type { PexBuildOptions, PexBuildResult } from "./builder";
import { layerFileName, layerOptionsKey, LocalLayerStore, type StoredLayer } from "./layers";
import { layerField, type PexInfo } from "./pex-info";

/** Bump when a layer's bytes for the same wheel and options would change (also part of the store's directory name). */
const LAYER_FORMAT = 1;

interface LayeredInput {
  /** The top PEX's bulk zip: user code only (no `.deps/`). */
  bulk: ZipWriter;
  info: PexInfo;
  installed: WheelZipFacts[];
  /** Each distribution's zip, as the packed layout writes `.deps/<wheel>`. */
  deps: { name: string; writer: ZipWriter }[];
  /** The wheel's sha256 when known before verification (a replayed install plan). */
  knownSha256: (string | undefined)[];
  boot: { name: string; data: Buffer }[];
  compress: boolean;
  layerStore: string | undefined;
}

type Verified = () => Promise<WheelVerification[]>;
type WriteTop = (bulk: ZipWriter, info: PexInfo, installed: WheelZipFacts[], boot: { name: string; data: Buffer }[], options: PexBuildOptions, verified: Verified) => Promise<PexBuildResult>;

/**
 * The layered layout: every distribution's zip (the packed layout's writer, so the same
 * wheel makes the same bytes) goes to the local layer store under its sha256, unless the
 * store already holds the layer this verified wheel made; then the top PEX (split
 * structure: user code, PEX-INFO listing each layer's file, sha256 and size, bootstrap)
 * is published. Nothing is recorded for a wheel before it passed verification, and the
 * top PEX is renamed into place only after every wheel did.
 */
export async function writeLayered(output: string, input: LayeredInput, options: PexBuildOptions, verified: Verified, writeTop: WriteTop): Promise<PexBuildResult> {
  const store = new LocalLayerStore(input.layerStore);
  const key = layerOptionsKey([LAYER_FORMAT, PEX_CHROOT_SCHEME, input.compress]);
  const signal = options.signal;
  const layers: StoredLayer[] = new Array(input.deps.length);
  let done = 0;
  // Two at a time: writing a layer is a sequential copy, reads and writes overlap.
  await forEachLimit(
    input.deps.map((d, i) => ({ d, i })),
    2,
    async ({ d, i }) => {
      const sha = input.knownSha256[i];
      layers[i] = (sha ? await store.find(sha, key, signal) : undefined) ?? (await store.write(d.writer, signal));
      options.onProgress?.(++done, input.deps.length);
    },
    signal ? { signal } : {},
  );
  const checked = await verified();
  await Promise.all(checked.map((c, i) => store.remember(c.sha256, key, layers[i]!)));
  const field: Record<string, ReturnType<typeof layerField>> = {};
  input.deps.forEach((d, i) => (field[d.name] = layerField({ file: layerFileName(layers[i]!.sha256), sha256: layers[i]!.sha256, size: layers[i]!.size })));
  input.info.raw = { ...input.info.raw, cluster_pack: { ...(input.info.raw.cluster_pack as object), layout: "layered", layers: field } };
  const built = await writeTop(input.bulk, input.info, input.installed, input.boot, { ...options, onProgress: undefined }, verified);
  return {
    ...built,
    layout: "layered",
    layers: input.deps.map((d, i) => ({ wheel: d.name, file: layerFileName(layers[i]!.sha256), ...layers[i]! })),
  };
}
