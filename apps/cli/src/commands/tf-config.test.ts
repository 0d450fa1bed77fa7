import { runCli } from "../test-kit";

const cli = runCli;

describe("cluster-pack tf-config", () => {
  it("prints one TF_CONFIG per task, or the one asked for", async () => {
    const all = await cli("tf-config", "--worker", "w0:2222", "--worker", "w1:2222");
    expect(all.code).toBe(0);
    expect(all.out.trim().split("\n").map((l) => JSON.parse(l).task)).toEqual([
      { type: "worker", index: 0 },
      { type: "worker", index: 1 },
    ]);
    const one = await cli("tf-config", "--strategy", "parameter-server", "--chief", "c:1", "--ps", "p:1", "--worker", "w:1", "--task", "ps:0", "--format", "env");
    expect(one.out).toBe(`TF_CONFIG='{"cluster":{"chief":["c:1"],"worker":["w:1"],"ps":["p:1"]},"task":{"type":"ps","index":0}}'\n`);
    const json = await cli("--json", "tf-config", "--worker", "w0:1", "--task", "worker:0");
    expect(JSON.parse(json.out)).toEqual({ cluster: { worker: ["w0:1"] }, task: { type: "worker", index: 0 } });
  });

  it.each([
    [["--chief", "a:1", "--chief", "b:1", "--worker", "w:1"], /2 chiefs/],
    [["--strategy", "parameter-server", "--worker", "w:1", "--ps", "p:1"], /exactly one chief/],
    [["--worker", "w:1", "--task", "worker"], /not type:index/],
    [["--worker", "w:1", "--task", "worker:3"], /index 0 to 0/],
  ])("bad input %j exits 2", async (args, re) => {
    const r = await cli("tf-config", ...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re);
  });
});
