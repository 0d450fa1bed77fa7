import { execFileSync } from "node:child_process";
import { hostPlatform, isSidecarUpToDate, lockHash, makeSidecar, parseSidecar, serializeSidecar, specFileHash } from "./sidecar";

const lock = { requirements: ["six==1.17.0", "python-dateutil==2.9.0.post0"], platform: "linux_x86_64", pythonVersion: "3.11.7", packer: "pex" };

describe("sidecar", () => {
  it("keeps cluster-pack's three keys and adds the lock hash; bytes are deterministic", () => {
    const s = makeSidecar(lock, { sha256: "ab", size: 3 });
    const text = serializeSidecar(s).toString();
    expect(JSON.parse(text)).toEqual({
      archive_sha256: "ab",
      archive_size: 3,
      lock_hash: lockHash(lock),
      package_installed: ["python-dateutil==2.9.0.post0", "six==1.17.0"],
      packer: "pex",
      platform: hostPlatform(),
      python_version: "3.11.7",
    });
    expect(serializeSidecar(makeSidecar({ ...lock, requirements: [...lock.requirements].reverse() }, { sha256: "ab", size: 3 }))).toEqual(serializeSidecar(s));
  });

  it("changes the lock hash when a pin, the target or the packer changes", () => {
    const h = lockHash(lock);
    expect(lockHash({ ...lock, requirements: ["six==1.16.0", "python-dateutil==2.9.0.post0"] })).not.toBe(h);
    expect(lockHash({ ...lock, pythonVersion: "3.12.1" })).not.toBe(h);
    expect(lockHash({ ...lock, packer: "venv" })).not.toBe(h);
    expect(lockHash({ ...lock, extra: { compress: false } })).not.toBe(h);
  });

  it("writes cluster-pack's keys exactly as Python's json.dumps(indent=4) does, then ours", () => {
    const s = makeSidecar({ ...lock, clusterPack: { packages: ["caf\u00e9==1", "pip==23.2.1"], pythonVersion: "3.11.7" } }, { sha256: "ab", size: 3 });
    const { package_installed, platform, python_version } = s;
    const python = execFileSync("python3", ["-c", "import json,sys; print(json.dumps(json.loads(sys.argv[1]), indent=4), end='')", JSON.stringify({ package_installed, platform, python_version })]).toString();
    const text = serializeSidecar(s).toString();
    expect(text.startsWith(python.slice(0, -2))).toBe(true); // all but the closing "\n}"
    expect(text).toContain("caf\\u00e9==1");
    expect(text.endsWith("}")).toBe(true);
  });

  it("decides up to date by lock hash, or by cluster-pack's own rule for its sidecars (this machine's platform)", () => {
    expect(isSidecarUpToDate(parseSidecar(serializeSidecar(makeSidecar(lock, { sha256: "x", size: 1 }))), lock)).toBe(true);
    expect(isSidecarUpToDate(makeSidecar(lock, { sha256: "x", size: 1 }), { ...lock, requirements: ["six==1.17.0"] })).toBe(false);
    const python = JSON.stringify({ package_installed: ["six==1.17.0", "python-dateutil==2.9.0.post0"], platform: hostPlatform(), python_version: "3.11.7" });
    expect(isSidecarUpToDate(parseSidecar(python), lock)).toBe(true);
    expect(isSidecarUpToDate(parseSidecar(python.replace(hostPlatform(), "Darwin-23.1.0")), lock)).toBe(false);
    // The cluster-pack form of the lock (pip list, seed packages included) is what it is compared with.
    const withSeeds = { ...lock, clusterPack: { packages: ["pip==23.2.1", ...lock.requirements], pythonVersion: "3.11.7" } };
    expect(isSidecarUpToDate(parseSidecar(python), withSeeds)).toBe(false);
    expect(isSidecarUpToDate(parseSidecar(python.replace('"six', '"pip==23.2.1", "six')), withSeeds)).toBe(true);
  });

  it("hashes a requirements file as upload_spec does (text mode: universal newlines)", () => {
    const text = "six==1.17.0\r\npython-dateutil\n";
    const python = execFileSync("python3", ["-c", "import hashlib,sys; open(sys.argv[1],'wb').write(sys.argv[2].encode()); print(hashlib.sha1(open(sys.argv[1]).read().encode()).hexdigest(), end='')", "/tmp/cp-spec-hash.txt", text]).toString();
    expect(specFileHash(text)).toBe(python);
  });

  it("treats garbage and foreign JSON as not a sidecar", () => {
    expect(parseSidecar("{nope")).toBeUndefined();
    expect(parseSidecar('{"package_installed": [1]}')).toBeUndefined();
    expect(parseSidecar("null")).toBeUndefined();
    // A hash field is kept only when it is one (hex of sha256's length).
    const withHash = (h: string) => parseSidecar(JSON.stringify({ package_installed: [], archive_sha256: h }))?.archive_sha256;
    expect(withHash("../../x")).toBeUndefined();
    expect(withHash("ab".repeat(32))).toBe("ab".repeat(32));
    expect(parseSidecar('["six==1"]')).toEqual({ package_installed: ["six==1"], platform: "", python_version: "" });
  });
});
