import { Command, Option } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import { shellExports, torchDistributedEnv, torchProcessEnv, type TorchProcessEnv } from "@cluster-pack/engines";
import type { CommandContext } from "../context";
import { intOption } from "./spark-conf";

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("torch-env")
    .description("Print the torch.distributed env:// variables (as torchrun sets them) for N nodes x M processes.")
    .requiredOption("--master-addr <host>", "address of the rank 0 node")
    .option("--master-port <port>", "rendezvous port", "29500")
    .option("--nodes <n>", "number of nodes", "1")
    .option("--nproc-per-node <m>", "processes per node", "1")
    .option("--node <i>", "print only this node's processes")
    .option("--local-rank <j>", "with --node: print only this process")
    .addOption(new Option("--format <format>", "env (export lines, a block per process) or json").choices(["env", "json"]).default("env"))
    .addHelpText(
      "after",
      `
Ranks are node-major: RANK = node * nproc-per-node + local rank.

Examples:
  cluster-pack torch-env --master-addr 10.0.0.1 --nodes 2 --nproc-per-node 4
  cluster-pack torch-env --master-addr 10.0.0.1 --nodes 3 --node 2 --local-rank 0 --format json`,
    )
    .action((opts: { masterAddr: string; masterPort: string; nodes: string; nprocPerNode: string; node?: string; localRank?: string; format: "env" | "json" }) => {
      const o = {
        masterAddr: opts.masterAddr,
        masterPort: intOption(opts.masterPort, "--master-port"),
        nodes: intOption(opts.nodes, "--nodes"),
        procsPerNode: intOption(opts.nprocPerNode, "--nproc-per-node"),
      };
      if (opts.localRank !== undefined && opts.node === undefined) throw new InvalidInputError("--local-rank needs --node: say which node's process to print.");
      let list: TorchProcessEnv[] = torchDistributedEnv(o);
      if (opts.node !== undefined) {
        const node = intOption(opts.node, "--node");
        list =
          opts.localRank !== undefined
            ? [torchProcessEnv(o, node, intOption(opts.localRank, "--local-rank"))]
            : [...Array(o.procsPerNode).keys()].map((j) => torchProcessEnv(o, node, j));
      }
      const single = opts.localRank !== undefined;
      if (opts.format === "json" && !ctx.json) {
        ctx.stdout.write(`${JSON.stringify(single ? list[0] : list, null, 2)}\n`);
        return;
      }
      ctx.output(single ? list[0] : list, () =>
        list.map((e) => [`# rank ${e.RANK} (node ${e.GROUP_RANK}, local rank ${e.LOCAL_RANK})`, ...shellExports({ ...e })].join("\n")).join("\n\n"),
      );
    });
}
