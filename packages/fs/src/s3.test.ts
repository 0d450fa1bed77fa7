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
