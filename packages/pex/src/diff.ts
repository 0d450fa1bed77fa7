import type { PexDistribution, PexInspection } from "./inspect";

/** One side of a changed distribution. */
export interface DiffSide {
  version: string;
  wheel: string;
  fingerprint: string;
  /** The layer's sha256 (layered PEX files). */
  layerSha256?: string;
  /** Shipped bytes (when sizes were read). */
  size?: number;
}

export interface PexDiff {
  a: { path: string; pexHash?: string; size: number; layout: string };
  b: { path: string; pexHash?: string; size: number; layout: string };
  added: { project: string; version: string; wheel: string; size?: number }[];
  removed: { project: string; version: string; wheel: string; size?: number }[];
  /** Same project, other bytes: `what` lists what differs (version, wheel, fingerprint, layer, size). */
  changed: { project: string; what: string[]; from: DiffSide; to: DiffSide }[];
  unchanged: number;
  /** Fields of PEX-INFO that differ, from -> to. */
  fields: { field: string; from: unknown; to: unknown }[];
  /** Shipped bytes of the distributions only in B or changed in B: what a layered upload of B after A sends. */
  newBytes?: number;
}

/**
 * What changed from PEX `a` to PEX `b` (two inspections): distributions added, removed
 * and changed (versions, wheels, fingerprints, layer hashes, sizes), and the PEX-INFO
 * fields that matter at run time (interpreter constraints, entry point, script, inherit
 * path, venv, injected args and env, requirements, code hash). Pure: `cluster-pack diff`
 * inspects the two sides (by range requests when remote) and prints this.
 */
export function diffPex(a: PexInspection, b: PexInspection): PexDiff {
  const byProject = (i: PexInspection) => {
    const m = new Map<string, PexDistribution[]>();
    for (const d of i.distributions) m.set(d.project, [...(m.get(d.project) ?? []), d]);
    return m;
  };
  const left = byProject(a);
  const right = byProject(b);
  const out: PexDiff = {
    a: { path: a.path, ...(a.pexHash ? { pexHash: a.pexHash } : {}), size: a.size, layout: a.layout },
    b: { path: b.path, ...(b.pexHash ? { pexHash: b.pexHash } : {}), size: b.size, layout: b.layout },
    added: [],
    removed: [],
    changed: [],
    unchanged: 0,
    fields: [],
  };
  const brief = (d: PexDistribution) => ({ project: d.project, version: d.version, wheel: d.wheel, ...(d.size ? { size: d.size.shipped } : {}) });
  const side = (d: PexDistribution): DiffSide => ({
    version: d.version,
    wheel: d.wheel,
    fingerprint: d.fingerprint,
    ...(d.layer ? { layerSha256: d.layer.sha256 } : {}),
    ...(d.size ? { size: d.size.shipped } : {}),
  });
  let newBytes: number | undefined = b.distributions.every((d) => d.size) ? 0 : undefined;
  for (const project of [...new Set([...left.keys(), ...right.keys()])].sort()) {
    const l = left.get(project) ?? [];
    const r = right.get(project) ?? [];
    if (!l.length) {
      out.added.push(...r.map(brief));
      if (newBytes !== undefined) newBytes += r.reduce((s, d) => s + d.size!.shipped, 0);
      continue;
    }
    if (!r.length) {
      out.removed.push(...l.map(brief));
      continue;
    }
    // Several wheels of one project (per platform): matched by wheel name, the rest paired in order.
    const pairs: [PexDistribution, PexDistribution][] = [];
    const restL = l.filter((x) => !r.some((y) => y.wheel === x.wheel));
    const restR = r.filter((y) => !l.some((x) => x.wheel === y.wheel));
    for (const x of l) {
      const y = r.find((y) => y.wheel === x.wheel);
      if (y) pairs.push([x, y]);
    }
    restL.forEach((x, i) => (restR[i] ? pairs.push([x, restR[i]!]) : out.removed.push(brief(x))));
    restR.slice(restL.length).forEach((y) => {
      out.added.push(brief(y));
      if (newBytes !== undefined) newBytes += y.size!.shipped;
    });
    for (const [x, y] of pairs) {
      const what: string[] = [];
      if (x.version !== y.version) what.push("version");
      if (x.wheel !== y.wheel) what.push("wheel");
      if (x.fingerprint !== y.fingerprint) what.push("fingerprint");
      if ((x.layer?.sha256 ?? null) !== (y.layer?.sha256 ?? null) && x.layer && y.layer) what.push("layer");
      // Same fingerprint, same installed files: a size difference is the layout's (a layer's
      // zip headers vs a zipapp's entries, compression), not a change.
      if (what.length && x.size && y.size && x.size.shipped !== y.size.shipped) what.push("size");
      if (what.length) {
        out.changed.push({ project, what, from: side(x), to: side(y) });
        if (newBytes !== undefined) newBytes += y.size!.shipped;
      } else out.unchanged++;
    }
  }
  const fields: [string, unknown, unknown][] = [
    ["interpreter_constraints", [...a.interpreterConstraints].sort(), [...b.interpreterConstraints].sort()],
    ["entry_point", a.entryPoint ?? null, b.entryPoint ?? null],
    ["script", a.script ?? null, b.script ?? null],
    ["inherit_path", a.inheritPath, b.inheritPath],
    ["venv", a.venv, b.venv],
    ["strip_pex_env", a.stripPexEnv, b.stripPexEnv],
    ["inject_args", a.injectArgs, b.injectArgs],
    ["inject_env", sortKeys(a.injectEnv), sortKeys(b.injectEnv)],
    ["requirements", [...a.requirements].sort(), [...b.requirements].sort()],
    ["code_hash", a.codeHash ?? null, b.codeHash ?? null],
  ];
  for (const [field, from, to] of fields) if (JSON.stringify(from) !== JSON.stringify(to)) out.fields.push({ field, from, to });
  if (newBytes !== undefined) out.newBytes = newBytes;
  return out;
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([x], [y]) => (x < y ? -1 : 1)));
}
