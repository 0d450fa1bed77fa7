import { Option, type Command } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import type { TfCluster, TfStrategy, TfTaskType } from "@cluster-pack/engines";
import type { CommandContext } from "../context";
import { helpText } from "../help";
import { lib } from "../lib";
import { repeatable } from "../options";

export function register(program: Command, ctx: CommandContext): void {
  program
    .command("tf-config")
    .description("Print TF_CONFIG for a distributed TensorFlow job (MultiWorkerMirroredStrategy or ParameterServerStrategy).")
    .addOption(new Option("--strategy <strategy>", "distribution strategy").choices(["multi-worker-mirrored", "parameter-server"]).default("multi-worker-mirrored"))
    .addOption(repeatable("--chief <host:port>", "the chief (at most one)"))
    .addOption(repeatable("--worker <host:port>", "a worker, in index order"))
    .addOption(repeatable("--ps <host:port>", "a parameter server, in index order"))
    .addOption(repeatable("--evaluator <host:port>", "the evaluator (at most one)"))
    .option("--task <type:index>", "print only this task's TF_CONFIG (e.g. worker:1); default every task")
    .addOption(new Option("--format <format>", "json (TF_CONFIG values) or env (TF_CONFIG='...' lines)").choices(["json", "env"]).default("json"))
    .addHelpText(
      "after",
      helpText({
        notes: "Without --task, prints one line per task (chief, workers, ps, evaluator order).",
        examples: [
          "cluster-pack tf-config --worker w0:2222 --worker w1:2222 --task worker:0",
          "cluster-pack tf-config --strategy parameter-server --chief c:2222 --ps p0:2222 \\",
          "    --worker w0:2222 --format env",
        ],
      }),
    )
    .action((opts: { strategy: TfStrategy; chief?: string[]; worker?: string[]; ps?: string[]; evaluator?: string[]; task?: string; format: "json" | "env" }) => {
      const { tfConfigEnv, tfConfigFor, tfConfigsForCluster } = lib.engines();
      const cluster: TfCluster = { chief: opts.chief ?? [], worker: opts.worker ?? [], ps: opts.ps ?? [], evaluator: opts.evaluator ?? [] };
      let configs;
      if (opts.task) {
        const m = /^(chief|worker|ps|evaluator):(\d+)$/.exec(opts.task);
        if (!m) throw new InvalidInputError(`--task "${opts.task}" is not type:index (e.g. worker:0; types chief, worker, ps, evaluator).`);
        configs = [tfConfigFor(opts.strategy, cluster, { type: m[1] as TfTaskType, index: Number(m[2]) })];
      } else {
        configs = tfConfigsForCluster(opts.strategy, cluster);
      }
      ctx.output(opts.task ? configs[0] : configs, () =>
        configs.map((c) => (opts.format === "env" ? `TF_CONFIG='${tfConfigEnv(c).TF_CONFIG}'` : tfConfigEnv(c).TF_CONFIG)).join("\n"),
      );
    });
}
