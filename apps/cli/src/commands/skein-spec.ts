import { Option, type Command } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import type { CommandContext } from "../context";
import { helpText } from "../help";
import { lib } from "../lib";
import { addEnvironmentOptions, environmentFromOptions, integer, keyValues, repeatable, type EnvironmentCliOptions } from "../options";

interface SkeinCliOptions extends EnvironmentCliOptions {
  name: string;
  queue: string;
  user?: string;
  nodeLabel?: string;
  maxAttempts: number;
  tag?: string[];
  service: string;
  module?: string;
  script?: string;
  instances: number;
  memory: string;
  vcores: number;
  gpus?: number;
  maxRestarts: number;
  serviceEnv?: string[];
  file?: string[];
  principal?: string;
  keytab?: string;
  fileSystem?: string[];
  format: "yaml" | "json";
}

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command("skein-spec")
    .description("Print a skein application spec (YARN) that ships the environment and code and runs a module in it.")
    .argument("<archive>", "URL of the environment: .pex, .pex.zip, .tar.gz/.tgz/.zip (conda or venv)")
    .argument("[args...]", "arguments of the module, after --")
    .option("--name <name>", "application name", "cluster-pack")
    .option("--queue <queue>", "YARN queue", "default")
    .option("--user <user>", "submit as this user (needs proxy rights)")
    .option("--node-label <label>", "YARN node label for every container")
    .option("--max-attempts <n>", "application master attempts", integer("--max-attempts"), 1)
    .addOption(repeatable("--tag <tag>", "application tag"))
    .option("--service <name>", "service name", "main")
    .option("--module <module>", "run <interpreter> -m <module> <args>")
    .option("--script <script>", "run this shell script instead of a module")
    .option("--instances <n>", "containers of the service", integer("--instances"), 1)
    .option("--memory <size>", "memory per container (MiB or e.g. '2 GiB')", "2 GiB")
    .option("--vcores <n>", "vcores per container", integer("--vcores"), 1)
    .option("--gpus <n>", "GPUs per container", integer("--gpus"))
    .option("--max-restarts <n>", "restarts after failures (-1: unlimited)", integer("--max-restarts"), 0)
    .addOption(repeatable("--service-env <NAME=value>", "variable for this service only"))
    .addOption(repeatable("--file <dest=source>", "extra file shipped to the service (.zip/.tar.gz/.tgz unpacked)"))
    .option("--principal <principal>", "Kerberos principal (with --keytab) for skein.Client")
    .option("--keytab <path>", "Kerberos keytab on this machine (with --principal)")
    .addOption(repeatable("--file-system <url>", "extra Hadoop file system to get delegation tokens for"))
    .addOption(new Option("--format <format>", "output format").choices(["yaml", "json"]).default("yaml"));
  addEnvironmentOptions(cmd);
  cmd.addHelpText(
    "after",
    helpText({
      notes: `The spec ships the environment under its alias (PEX as a file, archives unpacked) and the
code archives on PYTHONPATH. Kerberos: skein ships delegation tokens for fs.defaultFS and
every --file-system; --principal/--keytab go to skein.Client (printed on stderr).`,
      examples: [
        "cluster-pack skein-spec hdfs://nn/envs/app.pex --module mylib.train -- --epochs 3",
        "cluster-pack skein-spec s3://b/envs/env.tar.gz --kind venv --module mylib.job --instances 4 \\",
        '    --memory "4 GiB" --vcores 2 --queue ml --node-label gpu --format json',
        "cluster-pack skein-spec hdfs://nn/envs/app.pex --script 'echo hi' --principal me@REALM \\",
        "    --keytab ~/me.keytab",
      ],
    }),
  );
  cmd.action((archive: string, args: string[], opts: SkeinCliOptions) => {
    const env = environmentFromOptions(archive, opts);
    const files = keyValues(opts.file, "--file");
    const engines = lib.engines();
    const { spec, client } = engines.skeinSpecFor(env, {
      name: opts.name,
      queue: opts.queue,
      user: opts.user,
      nodeLabel: opts.nodeLabel,
      maxAttempts: opts.maxAttempts,
      tags: opts.tag ?? [],
      services: {
        [opts.service]: {
          resources: { memory: /^\d+$/.test(opts.memory) ? Number(opts.memory) : opts.memory, vcores: opts.vcores, gpus: opts.gpus },
          instances: opts.instances,
          maxRestarts: opts.maxRestarts,
          module: opts.module,
          args,
          script: opts.script,
          env: keyValues(opts.serviceEnv, "--service-env"),
          files,
        },
      },
      kerberos: { principal: opts.principal, keytab: opts.keytab, fileSystems: opts.fileSystem ?? [] },
    });
    if (args.length && !opts.module) throw new InvalidInputError("Arguments after -- are the module's.", { hint: "give --module, or put them in --script." });
    if (client.principal) ctx.log(`skein.Client(principal=${JSON.stringify(client.principal)}, keytab=${JSON.stringify(client.keytab)})`);
    ctx.output({ spec, client }, () => (opts.format === "json" ? engines.skeinSpecJson(spec) : engines.skeinSpecYaml(spec)));
  });
}
