import { type ErrorOptions, InvalidInputError } from "@cluster-pack/errors";

/**
 * The hash algorithms a distribution file can be pinned with (PEP 691 `hashes`, HTML
 * `#<alg>=<hex>` fragments, pylock.toml `hashes`, `--hash`), with the length of their hex
 * digest. These are the hashlib names that Node's crypto computes under the same name.
 */
export const HASH_HEX_LENGTHS: Readonly<Record<HashAlgorithm, number>> = { md5: 32, sha1: 40, sha224: 56, sha256: 64, sha384: 96, sha512: 128 };

export type HashAlgorithm = "md5" | "sha1" | "sha224" | "sha256" | "sha384" | "sha512";

/** The algorithms pip accepts in `--hash` (pip's STRONG_HASHES). */
export const STRONG_HASH_ALGORITHMS: readonly HashAlgorithm[] = ["sha256", "sha384", "sha512"];

export function isHashAlgorithm(name: string): name is HashAlgorithm {
  return Object.prototype.hasOwnProperty.call(HASH_HEX_LENGTHS, name);
}

/** True when `hex` is a hex digest of the right length for `algorithm` (either case). */
export function isValidHexDigest(algorithm: string, hex: string): boolean {
  if (!isHashAlgorithm(algorithm)) return false;
  return hex.length === HASH_HEX_LENGTHS[algorithm] && HEX.test(hex);
}

/**
 * Validates one claimed hash: the algorithm must be known and the digest hex of its
 * length. Returns the pair lower-cased; throws InvalidHashError naming `what`.
 */
export function checkHash(algorithm: string, hex: string, what: string): { algorithm: HashAlgorithm; hex: string } {
  const alg = algorithm.toLowerCase();
  if (!isHashAlgorithm(alg)) throw new InvalidHashError(`${what}: unknown hash algorithm ${JSON.stringify(algorithm)}.`, { hint: `use one of ${Object.keys(HASH_HEX_LENGTHS).join(", ")}.` });
  if (!isValidHexDigest(alg, hex)) {
    throw new InvalidHashError(`${what}: the ${alg} hash ${JSON.stringify(hex)} is not ${HASH_HEX_LENGTHS[alg]} hex digits.`);
  }
  return { algorithm: alg, hex: hex.toLowerCase() };
}

/**
 * Validates a hash record (`{ sha256: "ab12..." }`) from outside. Entries of known
 * algorithms must be valid digests (else InvalidHashError naming `what`); entries of
 * algorithms this package cannot compute are dropped, as nothing could check them.
 * Keys and digests come back lower-cased.
 */
export function checkHashes(record: unknown, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (record === undefined || record === null) return out;
  if (typeof record !== "object" || Array.isArray(record)) throw new InvalidHashError(`${what}: hashes must be a table of algorithm = hex digest.`);
  for (const [k, v] of Object.entries(record)) {
    const alg = k.toLowerCase();
    if (!isHashAlgorithm(alg)) continue;
    if (typeof v !== "string") throw new InvalidHashError(`${what}: the ${alg} hash must be a string of hex digits.`);
    out[alg] = checkHash(alg, v, what).hex;
  }
  return out;
}

/** A hash field that is not a digest of its algorithm. */
export class InvalidHashError extends InvalidInputError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, code: "ERR_INVALID_HASH" });
  }
}

const HEX = /^[0-9a-fA-F]+$/;
