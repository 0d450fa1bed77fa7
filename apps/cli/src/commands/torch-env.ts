import { Option, type Command } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import type { TorchProcessEnv } from "@cluster-pack/engines";
import type { CommandContext } from "../context";
import { helpText } from "../help";
import { lib } from "../lib";
import { integer } from "../options";

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("torch-env")
    .description("Print the torch.distributed env:// variables (as torchrun sets them) for N nodes x M processes.")
    .requiredOption("--master-addr <host>", "address of the rank 0 node")
    .option("--master-port <port>", "rendezvous port", integer("--master-port"), 29500)
    .option("--nodes <n>", "number of nodes", integer("--nodes"), 1)
    .option("--nproc-per-node <m>", "processes per node", integer("--nproc-per-node"), 1)
    .option("--node <i>", "print only this node's processes", integer("--node"))
    .option("--local-rank <j>", "with --node: print only this process", integer("--local-rank"))
    .addOption(new Option("--format <format>", "env (export lines, a block per process) or json").choices(["env", "json"]).default("env"))
    .addHelpText(
      "after",
      helpText({
        notes: "Ranks are node-major: RANK = node * nproc-per-node + local rank.",
        examples: ["cluster-pack torch-env --master-addr 10.0.0.1 --nodes 2 --nproc-per-node 4", "cluster-pack torch-env --master-addr 10.0.0.1 --nodes 3 --node 2 --local-rank 0 --format json"],
      }),
    )
    .action((opts: { masterAddr: string; masterPort: number; nodes: number; nprocPerNode: number; node?: number; localRank?: number; format: "env" | "json" }) => {
      const { shellExports, torchDistributedEnv, torchProcessEnv } = lib.engines();
      const o = { masterAddr: opts.masterAddr, masterPort: opts.masterPort, nodes: opts.nodes, procsPerNode: opts.nprocPerNode };
      if (opts.localRank !== undefined && opts.node === undefined) throw new InvalidInputError("--local-rank needs --node: say which node's process to print.");
      let list: TorchProcessEnv[] = torchDistributedEnv(o);
      if (opts.node !== undefined) {
        const node = opts.node;
        list =
          opts.localRank !== undefined
            ? [torchProcessEnv(o, node, opts.localRank)]
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
