import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ClusterPackError, InvalidInputError } from "@cluster-pack/errors";
import { WorkerPool } from "./index";

jest.setTimeout(30_000);

type Job = { op: "square" | "thread" | "sleep" | "fail" | "refuse" | "exit" | "throw-later" | "bytes" | "spin"; n?: number; data?: ArrayBuffer; path?: string };

// Jobs that succeed, fail, or kill their worker in the ways a real one can.
const SOURCE = `
const { threadId } = require("node:worker_threads");
async function handle(job, transfer) {
  switch (job.op) {
    case "square": return job.n * job.n;
    case "thread": await new Promise((r) => setTimeout(r, 50)); return threadId;
    case "sleep": await new Promise((r) => setTimeout(r, job.n)); return job.n;
    case "fail": { const e = new Error("no such file: " + job.n); e.code = "ENOENT"; e.path = "/x/" + job.n; throw e; }
    case "refuse": { const e = new Error("bad level " + job.n); e.name = "InvalidInputError"; e.code = "ERR_BAD_LEVEL"; e.hint = "pass --level 0-9"; throw e; }
    case "exit": process.exit(3);
    case "throw-later": setTimeout(() => { throw new Error("boom outside a job"); }, 1); return new Promise(() => {});
    case "spin": { require("node:fs").writeFileSync(job.path + ".start", ""); const end = Date.now() + job.n; while (Date.now() < end); require("node:fs").writeFileSync(job.path + ".done", ""); return 0; }
    case "bytes": { const out = Buffer.from(new Uint8Array(job.data)).reverse(); const ab = out.buffer.slice(out.byteOffset, out.byteOffset + out.length); transfer.push(ab); return ab; }
  }
}
`;

const pools: WorkerPool<Job, unknown>[] = [];
function pool(options: Partial<ConstructorParameters<typeof WorkerPool<Job, unknown>>[0]> = {}): WorkerPool<Job, unknown> {
  const p = new WorkerPool<Job, unknown>({ source: SOURCE, size: 2, ...options });
  pools.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

test("runs jobs on up to `size` threads, started as needed, each result to its job", async () => {
  const p = pool({ size: 3 });
  expect(p.started).toBe(0);
  expect(await Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => p.run({ op: "square", n })))).toEqual([1, 4, 9, 16, 25, 36, 49]);
  const threads = await Promise.all(Array.from({ length: 6 }, () => p.run({ op: "thread" })));
  expect(new Set(threads).size).toBe(3);
  expect(p.started).toBe(3);
});

test("by default a job's error comes back as its own class, with its code and hint", async () => {
  const p = pool();
  const err = await p.run({ op: "refuse", n: 12 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidInputError);
  expect(err).toMatchObject({ code: "ERR_BAD_LEVEL", hint: "pass --level 0-9", message: "bad level 12" });
  const plain = await p.run({ op: "fail", n: 1 }).catch((e: unknown) => e);
  expect(plain).toBeInstanceOf(ClusterPackError);
  expect(plain).toMatchObject({ code: "ENOENT", message: "no such file: 1" });
});

test("transfers ArrayBuffers both ways", async () => {
  const p = pool();
  const data = new Uint8Array([1, 2, 3, 4]).buffer;
  const out = (await p.run({ op: "bytes", data }, [data])) as ArrayBuffer;
  expect(data.byteLength).toBe(0); // moved, not copied
  expect([...new Uint8Array(out)]).toEqual([4, 3, 2, 1]);
});

test("a job's error rejects that job only, mapped by jobError with the error's code and path", async () => {
  const p = pool({ jobError: (d, job) => new InvalidInputError(`job ${job.n}: ${d.message} [${d.code} ${d.path}]`) });
  const results = await Promise.allSettled([p.run({ op: "square", n: 3 }), p.run({ op: "fail", n: 7 }), p.run({ op: "square", n: 4 })]);
  expect(results[0]).toEqual({ status: "fulfilled", value: 9 });
  expect(results[2]).toEqual({ status: "fulfilled", value: 16 });
  const err = (results[1] as PromiseRejectedResult).reason;
  expect(err).toBeInstanceOf(InvalidInputError);
  expect(err.message).toBe("job 7: no such file: 7 [ENOENT /x/7]");
  // The default error is a ClusterPackError carrying the worker's message.
  await expect(pool().run({ op: "fail", n: 1 })).rejects.toThrow(/no such file: 1/);
});

test.each(["exit", "throw-later"] as const)("a worker dying (%s) fails every pending job with crashError naming its job, and the pool", async (op) => {
  const p = pool({ size: 2, crashError: (cause, job) => new ClusterPackError("ERR_TEST_CRASH", `crashed on ${job?.n}: ${cause.message}`, { cause }) });
  const slow = p.run({ op: "sleep", n: 5000 });
  const dying = p.run({ op, n: 42 });
  const queued = p.run({ op: "square", n: 2 });
  for (const job of [slow, dying, queued]) await expect(job).rejects.toThrow(op === "exit" ? /crashed on 42: .*exited \(code 3\)/ : /crashed on 42: boom outside a job/);
  await expect(p.run({ op: "square", n: 1 })).rejects.toThrow(/crashed on 42/);
  // Its workers were terminated.
  await new Promise((r) => setTimeout(r, 50));
  expect(p.started).toBe(0);
});

test("failAll rejects pending jobs and the pool keeps working; close terminates", async () => {
  const p = pool({ size: 1 });
  const running = p.run({ op: "sleep", n: 300 });
  const queued = p.run({ op: "square", n: 5 });
  p.failAll(new Error("aborted"));
  await expect(running).rejects.toThrow("aborted");
  await expect(queued).rejects.toThrow("aborted");
  expect(await p.run({ op: "square", n: 6 })).toBe(36);
  const pending = expect(p.run({ op: "sleep", n: 5000 })).rejects.toThrow(/closed/);
  await p.close();
  await pending;
  expect(p.started).toBe(0);
  await expect(p.run({ op: "square", n: 1 })).rejects.toThrow(/closed/);
});

test("mayGrow keeps jobs on the started workers", async () => {
  const p = pool({ size: 4, mayGrow: (job, started) => started === 0 || job.op !== "thread" });
  const threads = await Promise.all(Array.from({ length: 4 }, () => p.run({ op: "thread" })));
  expect(new Set(threads).size).toBe(1);
  expect(p.started).toBe(1);
});

test("runs a module file's exported handle (what built packages use), which may require other modules", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-worker-module-"));
  try {
    fs.writeFileSync(path.join(dir, "helper.js"), "exports.twice = (n) => 2 * n;\n");
    fs.writeFileSync(path.join(dir, "worker.js"), 'const { twice } = require("./helper");\nexports.handle = async (job) => twice(job.n);\n');
    const p = new WorkerPool<{ n: number }, number>({ module: path.join(dir, "worker.js"), size: 2 });
    try {
      expect(await Promise.all([1, 2, 3].map((n) => p.run({ n })))).toEqual([2, 4, 6]);
    } finally {
      await p.close();
    }
    expect(() => new WorkerPool({ size: 1 })).toThrow(/either a module or a source/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("close stops a worker between its jobs' code, not inside it (a terminate inside a zlib call's set-up aborts the process)", async () => {
  const p = pool({ size: 1 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pool-stop-"));
  try {
    const marker = path.join(dir, "job");
    const running = p.run({ op: "spin", n: 400, path: marker });
    running.catch(() => undefined); // rejected by close, as every pending job is
    const deadline = Date.now() + 10_000;
    while (!fs.existsSync(`${marker}.start`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(fs.existsSync(`${marker}.start`)).toBe(true);
    await p.close();
    // The job's synchronous code ran to its end before the worker exited.
    expect(fs.existsSync(`${marker}.done`)).toBe(true);
    await expect(running).rejects.toMatchObject({ code: "ERR_WORKER" });
    expect(p.started).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
