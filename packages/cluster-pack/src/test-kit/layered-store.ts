import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DEBIAN_PYTHON, KIT_PYTHON, stop, type Started } from "@cluster-pack/engines/test-kit";
import { resolveFileSystem, type FileSystem } from "@cluster-pack/fs";
import { startS3Server, type TestS3Server } from "@cluster-pack/fs/test-kit";
import type { UploadEnvResult } from "../types";
import { uploadEnv } from "../upload-env";

/** What the layered end-to-end tests share: a real S3 server, a work directory, the job modules shipped as a code archive. */
export interface LayeredStore {
  s3: TestS3Server;
  s3fs: FileSystem;
  tmp: string;
  /** `s3://envs/code/cp_engines_marker.zip`: the engines kit's job modules. */
  codeUrl: string;
  /** Processes the tests started, stopped after all. */
  started: Started[];
  /** uploadEnv({ layout: "layered" }) of `requirements` for Debian's python3, as user `me`. */
  upload(requirements: string[], packagePath: string): Promise<UploadEnvResult>;
  /** Downloads an `s3://` URL of the server (YARN's localiser, a node's launcher). */
  download(url: string, dest: string): Promise<void>;
}

/** Sets up (beforeAll) and tears down (afterAll) a LayeredStore for the enclosing describe. */
export function layeredStore(prefix: string): LayeredStore {
  const kit = { started: [] as Started[] } as unknown as LayeredStore;
  beforeAll(async () => {
    kit.tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    kit.s3 = await startS3Server({ buckets: ["envs"] });
    kit.s3fs = (await resolveFileSystem("s3://envs/", { s3: kit.s3.clientOptions })).fs;
    const zip = path.join(kit.tmp, "cp_engines_marker.zip");
    const r = spawnSync(DEBIAN_PYTHON, ["-c", "import shutil, sys; shutil.make_archive(sys.argv[1][:-4], 'zip', sys.argv[2], 'cp_engines_marker')", zip, KIT_PYTHON], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(r.stderr);
    await kit.s3fs.put(zip, "/envs/code/cp_engines_marker.zip");
    kit.codeUrl = "s3://envs/code/cp_engines_marker.zip";
  }, 120_000);
  afterAll(async () => {
    await Promise.all(kit.started.map((p) => stop(p)));
    await kit.s3?.close();
    if (kit.tmp) fs.rmSync(kit.tmp, { recursive: true, force: true });
  });
  kit.upload = (requirements, packagePath) =>
    uploadEnv({
      layout: "layered",
      requirements,
      packagePath,
      // Debian's python3 runs the jobs: it has torch and distributed (seen through inherit_path fallback).
      target: { interpreter: DEBIAN_PYTHON },
      pex: { pythonShebang: DEBIAN_PYTHON },
      cacheDir: path.join(kit.tmp, "cache"),
      environ: { C_PACK_USER: "me", PATH: process.env.PATH, HOME: process.env.HOME },
      store: { s3: kit.s3.clientOptions },
    });
  kit.download = (url, dest) => kit.s3fs.get(url.replace(/^s3a?:\/\//, "/"), dest);
  return kit;
}
