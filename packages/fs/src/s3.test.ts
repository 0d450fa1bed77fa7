import fsMod from "node:fs";
import os from "node:os";
import path from "node:path";
import { resolveFileSystem } from "./resolve";
import { S3FileSystem } from "./s3";
import { runConformanceSuite } from "./test-kit/conformance";
import { startS3Server, type TestS3Server } from "./test-kit/s3-server";

// The preset's testTimeout is not applied under the root multi-project run; the machine is shared.
jest.setTimeout(120_000);

let server: TestS3Server | undefined;
let n = 0;

runConformanceSuite(
  "s3 (s3rver on loopback)",
  async () => {
    server ??= await startS3Server({ buckets: ["conformance"] });
    // Small parts so the 3 MiB put goes multipart (s3rver does not enforce the 5 MiB minimum).
    const fs = new S3FileSystem({ ...server.clientOptions, partSize: 1024 * 1024, concurrency: 3 });
    return {
      fs,
      root: `/conformance/run-${++n}`,
      cleanup: async () => {
        fs.client.destroy();
        await server?.close();
      },
    };
  },
  { hierarchical: false },
);

describe("S3 defaults from the user's AWS configuration", () => {
  it("uses AWS_PROFILE from the shared credentials/config files, the profile's region and AWS_ENDPOINT_URL_S3", async () => {
    const kit = await startS3Server({ buckets: ["profiled"] });
    const dir = fsMod.mkdtempSync(path.join(os.tmpdir(), "cp-aws-"));
    fsMod.writeFileSync(path.join(dir, "credentials"), "[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n\n[kit]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n");
    fsMod.writeFileSync(path.join(dir, "config"), "[profile kit]\nregion = eu-north-1\nrequest_checksum_calculation = when_required\nresponse_checksum_validation = when_required\n");
    const keys = ["AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];
    const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
    try {
      for (const k of keys) delete process.env[k];
      Object.assign(process.env, { AWS_PROFILE: "kit", AWS_SHARED_CREDENTIALS_FILE: path.join(dir, "credentials"), AWS_CONFIG_FILE: path.join(dir, "config"), AWS_ENDPOINT_URL_S3: kit.endpoint });
      const { fs: s3, path: p } = await resolveFileSystem("s3://profiled/from-profile.txt");
      await s3.write(p, "hello from a profile");
      expect((await s3.read(p)).toString()).toBe("hello from a profile");
      expect(await (s3 as S3FileSystem).client.config.region()).toBe("eu-north-1");
      expect(kit.requests.every((r) => String(r.headers.authorization).includes("Credential=S3RVER/"))).toBe(true);
      (s3 as S3FileSystem).client.destroy();
    } finally {
      for (const k of keys) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
      await kit.close();
      fsMod.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("S3 single PUT below a multipart threshold larger than the part size", () => {
  it("sends the whole body, not its first part", async () => {
    const kit = await startS3Server({ buckets: ["thresholds"] });
    const s3 = new S3FileSystem({ ...kit.clientOptions, partSize: 1024 * 1024, multipartThreshold: 4 * 1024 * 1024 });
    try {
      const body = Buffer.alloc(2 * 1024 * 1024 + 5, 7);
      await s3.write("/thresholds/two-parts-worth.bin", body);
      expect((await s3.stat("/thresholds/two-parts-worth.bin")).size).toBe(body.length);
      expect(kit.requests.filter((r) => r.method === "POST" && r.query.has("uploads"))).toEqual([]);
    } finally {
      s3.client.destroy();
      await kit.close();
    }
  });
});
