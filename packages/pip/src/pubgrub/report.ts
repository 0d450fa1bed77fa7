import type { Incompatibility } from "./incompatibility";

/**
 * Why no solution exists, as data (pubgrub-rs's `DerivationTree`, flattened so that it
 * serialises as JSON): facts from the provider (requirements, dependencies, constraints,
 * missing or unusable versions) and conclusions derived from two earlier nodes. Causes
 * come before the conclusions drawn from them; the last node is the final conclusion.
 */
export interface Derivation {
  nodes: DerivationNode[];
}

export type DerivationKind = "requirement" | "dependency" | "constraint" | "no-versions" | "unavailable" | "derived";

export interface DerivationNode {
  /** Its index in `Derivation.nodes`. */
  id: number;
  /**
   * requirement: the root needs a package; dependency: a package's versions need another;
   * constraint: a limit from the root; no-versions: none of a set is usable; unavailable:
   * one version cannot be used (`reason`); derived: concluded from `causes`.
   */
  kind: DerivationKind;
  /** The terms that cannot all hold at once (the root's own term left out). */
  terms: DerivationTerm[];
  /** The same in words, e.g. "a==2.0 depends on b<1". */
  text: string;
  /** For constraint and unavailable: why. */
  reason?: string;
  /** For derived: the ids of the two nodes it was concluded from. */
  causes?: [number, number];
}

export interface DerivationTerm {
  package: string;
  /** The version set, in the provider's notation ("" for every version). */
  versions: string;
  /** true: the package is selected with one of `versions`; false: it is not. */
  positive: boolean;
}

/** How a provider names what the core only knows as packages, bit sets and reasons. */
export interface DerivationWords<P, M> {
  packageName(pkg: P): string;
  versions(pkg: P, set: bigint): string;
  /** The incompatibility as a clause ("a==2.0 depends on b<1", "the requirements are unsatisfiable"). */
  describe(inc: Incompatibility<P, M>): string;
  reason(reason: M): string;
}

/** The derivation tree under `conclusion` as data. */
export function buildDerivation<P, M>(conclusion: Incompatibility<P, M>, root: P, words: DerivationWords<P, M>): Derivation {
  const ids = new Map<Incompatibility<P, M>, number>();
  const nodes: DerivationNode[] = [];
  // Post-order without recursion: long backtracking chains make deep trees.
  const stack: Incompatibility<P, M>[] = [conclusion];
  while (stack.length) {
    const inc = stack[stack.length - 1]!;
    if (ids.has(inc)) {
      stack.pop();
      continue;
    }
    const c = inc.cause;
    if (c.kind === "derived" && (!ids.has(c.left) || !ids.has(c.right))) {
      if (!ids.has(c.right)) stack.push(c.right);
      if (!ids.has(c.left)) stack.push(c.left);
      continue;
    }
    stack.pop();
    const id = nodes.length;
    const node: DerivationNode = {
      id,
      kind: c.kind === "dependency" && inc.terms.some((t) => t.pkg === root) ? "requirement" : c.kind,
      terms: inc.terms.filter((t) => t.pkg !== root).map((t) => ({ package: words.packageName(t.pkg), versions: words.versions(t.pkg, t.set), positive: t.positive })),
      text: words.describe(inc),
    };
    if (c.kind === "constraint" || c.kind === "unavailable") node.reason = words.reason(c.reason);
    if (c.kind === "derived") node.causes = [ids.get(c.left)!, ids.get(c.right)!];
    ids.set(inc, id);
    nodes.push(node);
  }
  return { nodes };
}

/**
 * The derivation as sentences, one step per line (pubgrub-rs's `DefaultStringReporter`):
 * "Because A and B, C." starts a chain, "And because D, E." continues from the line before.
 * A conclusion used more than once is explained once and cited by its line number, as in
 * "b is forbidden (2)"; lines are meant to be shown numbered from 1.
 */
export function explainDerivation(derivation: Derivation): string[] {
  const nodes = derivation.nodes;
  const top = nodes[nodes.length - 1];
  if (!top) return [];
  if (!top.causes) return [`${capitalize(top.text)}.`];
  const node = (id: number) => nodes[id]!;
  const uses = new Map<number, number>();
  for (const n of nodes) for (const c of n.causes ?? []) uses.set(c, (uses.get(c) ?? 0) + 1);
  const shared = (n: DerivationNode) => n.causes !== undefined && (uses.get(n.id) ?? 0) > 1;
  const lines: string[] = [];
  const lineOf = new Map<number, number>();

  const build = (current: DerivationNode): void => {
    explain(current);
    if (shared(current) && !lineOf.has(current.id)) lineOf.set(current.id, lines.length);
  };
  const explain = (current: DerivationNode): void => {
    const [a, b] = current.causes!.map(node) as [DerivationNode, DerivationNode];
    if (!a.causes && !b.causes) {
      lines.push(a.text === b.text ? `Because ${a.text}, ${current.text}.` : `Because ${a.text} and ${b.text}, ${current.text}.`);
    } else if (!b.causes) {
      oneEach(a, b, current);
    } else if (!a.causes) {
      oneEach(b, a, current);
    } else {
      const la = lineOf.get(a.id);
      const lb = lineOf.get(b.id);
      if (la !== undefined && lb !== undefined) {
        lines.push(a.id === b.id ? `Because ${a.text} (${la}), ${current.text}.` : `Because ${a.text} (${la}) and ${b.text} (${lb}), ${current.text}.`);
      } else if (la !== undefined) {
        build(b);
        lines.push(`And because ${a.text} (${la}), ${current.text}.`);
      } else if (lb !== undefined) {
        build(a);
        lines.push(`And because ${b.text} (${lb}), ${current.text}.`);
      } else {
        build(a);
        if (shared(a)) {
          // a now has a line: explain current again, citing it.
          explain(current);
        } else {
          const line = lines.length;
          build(b);
          lines.push(`And because ${a.text} (${line}), ${current.text}.`);
        }
      }
    }
  };
  /** One derived cause and one external: explain the derived one, then add the other. */
  const oneEach = (derived: DerivationNode, external: DerivationNode, current: DerivationNode): void => {
    const line = lineOf.get(derived.id);
    if (line !== undefined) {
      lines.push(`Because ${derived.text} (${line}) and ${external.text}, ${current.text}.`);
      return;
    }
    const [p, q] = derived.causes!.map(node) as [DerivationNode, DerivationNode];
    // When the derived cause itself has one external cause, chain both externals in one line.
    const prior = p.causes && !q.causes ? { derived: p, external: q } : q.causes && !p.causes ? { derived: q, external: p } : null;
    if (prior && !lineOf.has(prior.derived.id)) {
      build(prior.derived);
      lines.push(`And because ${prior.external.text} and ${external.text}, ${current.text}.`);
    } else {
      build(derived);
      lines.push(`And because ${external.text}, ${current.text}.`);
    }
  };

  build(top);
  return lines;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
