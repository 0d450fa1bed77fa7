import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { bufferSource, fileSource, OutOfRangeError, sliceSource } from "./source";
import { httpRangeSource } from "./http-range";
import { startHttpServer } from "./test-kit/servers";

describe("random-access sources", () => {
  it("every source throws the one OutOfRangeError for a read outside it", async () => {
    const data = Buffer.from("0123456789");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-io-src-"));
    const file = path.join(dir, "f");
    fs.writeFileSync(file, data);
    const server = await startHttpServer((req, res) => {
      const m = /bytes=(\d*)-(\d*)/.exec(req.headers.range ?? "")!;
      const [start, end] = m[1] === "" ? [data.length - Math.min(data.length, Number(m[2])), data.length - 1] : [Number(m[1]), Number(m[2])];
      res.writeHead(206, { "content-range": `bytes ${start}-${end}/${data.length}`, etag: '"v1"' }).end(data.subarray(start, end + 1));
    });
    const local = await fileSource(file);
    try {
      const sources = [local, bufferSource(data), await httpRangeSource(`${server.origin}/f`, { tailSize: 4 }), sliceSource(bufferSource(Buffer.concat([Buffer.from("##"), data])), 2, 10)];
      for (const s of sources) {
        expect((await s.read(2, 3)).toString()).toBe("234");
        const err = await s.read(8, 5).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(OutOfRangeError);
        expect(err).toMatchObject({ code: "ERR_OUT_OF_BOUNDS", size: 10, offset: 8, length: 5 });
        await expect(s.read(-1, 1)).rejects.toBeInstanceOf(OutOfRangeError);
      }
      expect(() => sliceSource(bufferSource(data), 5, 6)).toThrow(OutOfRangeError);
    } finally {
      await local.close?.();
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
