import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startS3Server, type TestS3Server } from "@cluster-pack/fs/test-kit";
import { runCli } from "../test-kit";

jest.setTimeout(300_000);

describe("upload-env --spark and spark-conf give one conf (one code path)", () => {
  let server: TestS3Server;
  let dir: string;
  const saved = { ...process.env };
  beforeAll(async () => {
    server = await startS3Server({ buckets: ["cli"] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-cli-spark-"));
  });
  afterAll(async () => {
    process.env = saved;
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    // The store is found through AWS_ENDPOINT_URL only, as a user's shell would have it.
    Object.assign(process.env, {
      C_PACK_USER: "cli",
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL: server.endpoint,
      AWS_REQUEST_CHECKSUM_CALCULATION: "WHEN_REQUIRED",
      AWS_RESPONSE_CHECKSUM_VALIDATION: "WHEN_REQUIRED",
    });
    delete process.env.AWS_ENDPOINT_URL_S3;
    delete process.env.VIRTUAL_ENV;
    delete process.env.CONDA_PREFIX;
  });

  it("with AWS_ENDPOINT_URL set, upload-env --spark yarn has the s3a endpoint keys spark-conf adds for the same archive", async () => {
    const target = "s3://cli/envs/parity.pex";
    const up = await runCli("--json", "upload-env", "six", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "-o", target, "--cache-dir", path.join(dir, "cache"), "--spark", "yarn");
    if (up.code !== 0) console.error(up.err);
    expect(up.code).toBe(0);
    const fromUpload = JSON.parse(up.out).sparkConf as Record<string, string>;
    const conf = await runCli("spark-conf", target, "--master", "yarn", "--format", "json");
    expect(conf.code).toBe(0);
    const fromSparkConf = JSON.parse(conf.out).conf as Record<string, string>;
    expect(fromUpload["spark.hadoop.fs.s3a.endpoint"]).toBe(server.endpoint);
    expect(fromUpload["spark.hadoop.fs.s3a.connection.ssl.enabled"]).toBe("false");
    expect(fromUpload).toEqual(fromSparkConf);
  });
});
