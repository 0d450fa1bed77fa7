/**
 * smol-toml ships a CommonJS build (dist/index.cjs) but only ESM type declarations, which
 * TypeScript refuses to import from a CommonJS module; require it with the two signatures we use.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const toml = require("smol-toml") as { parse(text: string): Record<string, unknown>; stringify(value: Record<string, unknown>): string };

export const parseToml = toml.parse;
export const stringifyToml = toml.stringify;
