import { applyPackageEdits } from "./edits";

describe("applyPackageEdits", () => {
  const installed = { torch: "2.1.0", torchvision: "0.16.0", "Scikit_Learn": "1.3.0", six: "1.16.0" };

  it("pins every installed package, sorted by normalised name", () => {
    expect(applyPackageEdits(installed).requirements).toEqual(["Scikit_Learn==1.3.0", "six==1.16.0", "torch==2.1.0", "torchvision==0.16.0"]);
  });

  it("replaces by exact normalised name, not by substring (cluster-pack dropped torchvision when adding torch)", () => {
    const r = applyPackageEdits(installed, { additionalPackages: { torch: "2.2.0", "scikit-learn": ">=1.4" } });
    expect(r.requirements).toEqual(["scikit-learn>=1.4", "six==1.16.0", "torch==2.2.0", "torchvision==0.16.0"]);
  });

  it("adds new packages, unpinned when the version is empty", () => {
    expect(applyPackageEdits({ six: "1" }, { additionalPackages: { pandas: "" } }).requirements).toEqual(["pandas", "six==1"]);
  });

  it("ignores and restricts by normalised name, reporting names that matched nothing", () => {
    const r = applyPackageEdits(installed, { ignoredPackages: ["TORCH", "nothere"] });
    expect(r.requirements).toEqual(["Scikit_Learn==1.3.0", "six==1.16.0", "torchvision==0.16.0"]);
    expect(r.unmatched).toEqual(["nothere"]);
    const o = applyPackageEdits(installed, { onlyPackages: ["scikit-learn", "absent"], additionalPackages: { numpy: "1.26.0" } });
    expect(o.requirements).toEqual(["numpy==1.26.0", "Scikit_Learn==1.3.0"]);
    expect(o.unmatched).toEqual(["absent"]);
  });

  it("rejects contradictions and invalid names with the fix", () => {
    expect(() => applyPackageEdits(installed, { ignoredPackages: ["six"], additionalPackages: { Six: "2" } })).toThrow(/both in ignoredPackages and additionalPackages/);
    expect(() => applyPackageEdits(installed, { additionalPackages: { "six; rm -rf": "1" } })).toThrow(/Invalid package name .* in additionalPackages/);
  });
});
