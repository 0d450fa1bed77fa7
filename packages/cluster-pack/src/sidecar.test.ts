import { isSidecarUpToDate, lockHash, makeSidecar, parseSidecar, serializeSidecar } from "./sidecar";

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
      platform: "linux_x86_64",
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

  it("decides up to date by lock hash, or by cluster-pack's own rule for its sidecars", () => {
    expect(isSidecarUpToDate(parseSidecar(serializeSidecar(makeSidecar(lock, { sha256: "x", size: 1 }))), lock)).toBe(true);
    expect(isSidecarUpToDate(makeSidecar(lock, { sha256: "x", size: 1 }), { ...lock, requirements: ["six==1.17.0"] })).toBe(false);
    const python = JSON.stringify({ package_installed: ["six==1.17.0", "python-dateutil==2.9.0.post0"], platform: "linux_x86_64", python_version: "3.11.7" });
    expect(isSidecarUpToDate(parseSidecar(python), lock)).toBe(true);
    expect(isSidecarUpToDate(parseSidecar(python), { ...lock, platform: "macosx_11_0_arm64" })).toBe(false);
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
