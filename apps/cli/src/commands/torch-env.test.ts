import { spawnSync } from "node:child_process";
import { runCli } from "../test-kit";

const cli = runCli;

describe("cluster-pack torch-env", () => {
  it("prints export blocks a shell can source", async () => {
    const r = await cli("torch-env", "--master-addr", "10.0.0.1", "--nodes", "2", "--nproc-per-node", "2");
    expect(r.code).toBe(0);
    const blocks = r.out.trim().split("\n\n");
    expect(blocks).toHaveLength(4);
    expect(blocks[3]).toBe(
      [
        "# rank 3 (node 1, local rank 1)",
        "export MASTER_ADDR=10.0.0.1",
        "export MASTER_PORT=29500",
        "export WORLD_SIZE=4",
        "export RANK=3",
        "export LOCAL_RANK=1",
        "export LOCAL_WORLD_SIZE=2",
        "export GROUP_RANK=1",
        "export ROLE_RANK=3",
        "export ROLE_WORLD_SIZE=4",
      ].join("\n"),
    );
    const sh = spawnSync("sh", ["-c", `${blocks[2]}\necho "$RANK/$WORLD_SIZE/$LOCAL_RANK"`], { encoding: "utf8" });
    expect(sh.stdout).toBe("2/4/0\n");
  });

  it("one process as JSON", async () => {
    const r = await cli("torch-env", "--master-addr", "h", "--master-port", "1234", "--nodes", "3", "--node", "2", "--local-rank", "0", "--format", "json");
    expect(JSON.parse(r.out)).toMatchObject({ RANK: "2", WORLD_SIZE: "3", GROUP_RANK: "2", MASTER_PORT: "1234" });
  });

  it.each([
    [["--master-addr", "h", "--nodes", "0"], /nodes must be a positive integer/],
    [["--master-addr", "h", "--master-port", "http"], /--master-port takes a whole number, got "http"/],
    [["--master-addr", "h", "--local-rank", "0"], /--local-rank needs --node/],
    [["--master-addr", "h", "--node", "1"], /Node 1 does not exist/],
  ])("bad input %j exits 2", async (args, re) => {
    const r = await cli("torch-env", ...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re);
  });
});
