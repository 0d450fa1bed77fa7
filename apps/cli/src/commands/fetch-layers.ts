import type { Command } from "commander";
import type { FetchedLayer } from "cluster-pack";
import type { CommandContext } from "../context";
import { formatBytes } from "../format";
import { helpText } from "../help";
import { lib } from "../lib";
import { addStoreOptions, libraryOptions, storeLocation, storeOptions, type StoreCliOptions } from "../options";

const HELP = helpText({
  notes: `Run on each node before starting Dask or Ray processes from a layered PEX whose
engine configuration was made with layersDir (PEX_LAYERS_PATH=<dir>). The PEX's PEX-INFO is
read by range requests; each layer the directory lacks is downloaded into a temporary
sibling, checked against its sha256 and published by rename; a layer already there with
those bytes costs no request, so the next job fetches only its new layers.`,
  examples: [
    "cluster-pack fetch-layers s3://bucket/envs/app.pex --layers-dir /local/cp-layers",
    "cluster-pack fetch-layers hdfs:///user/me/envs/app.pex --layers-dir /tmp/cp-layers \\",
    "    --layer-store hdfs:///shared/layers",
  ],
});

/** `cluster-pack fetch-layers <pex> --layers-dir <dir>`: a node's layer directory filled with what it lacks. */
export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command("fetch-layers")
    .summary("Fetch the layers of a layered environment a node lacks into its layer directory.")
    .description("Fills a node's layer directory (<sha256>.zip, shared by every job of the node) with the layers of an uploaded layered PEX that it does not have yet, each checked by hash.")
    .argument("<pex>", "the uploaded layered PEX (s3://, hdfs://, file://, a local path)", storeLocation)
    .requiredOption("--layers-dir <dir>", "the node's layer directory (absolute; PEX_LAYERS_PATH of the processes)")
    .option("--layer-store <url>", "where the layers are stored (default: layers/ beside the PEX)", storeLocation);
  libraryOptions(cmd, { layersDir: "--layers-dir", layers: "<pex>" });
  addStoreOptions(cmd)
    .addHelpText("after", HELP)
    .action(async (pex: string, opts: StoreCliOptions & { layersDir: string; layerStore?: string }) => {
      const cp = lib.clusterPack();
      const store = storeOptions(opts);
      const layers = await cp.environmentLayers(pex, { store, ...(opts.layerStore ? { layerStore: opts.layerStore } : {}), signal: ctx.signal });
      const env = lib.engines().pythonEnvironment(pex, { layers: layers.map((l) => l.url), layersDir: opts.layersDir });
      const result = await cp.fetchLayers(env, { store, signal: ctx.signal });
      ctx.output(result, (r: { dir: string; layers: FetchedLayer[]; bytesFetched: number }) => {
        const fetched = r.layers.filter((l) => l.fetched).length;
        return `${r.dir}: fetched ${fetched} of ${r.layers.length} layers (${formatBytes(r.bytesFetched)}), ${r.layers.length - fetched} already there`;
      });
    });
}
