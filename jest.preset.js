// Shared jest settings for every package: tests live beside the code as src/**/*.test.ts,
// TypeScript is transformed by swc (type checking is `npm run typecheck`'s job), and
// workspace packages resolve to their sources so tests never need a prior build.
const path = require("node:path");
const fs = require("node:fs");

const root = __dirname;
const moduleNameMapper = {};
for (const dir of ["packages", "apps"]) {
  const base = path.join(root, dir);
  if (!fs.existsSync(base)) continue;
  for (const name of fs.readdirSync(base)) {
    const pkgFile = path.join(base, name, "package.json");
    if (!fs.existsSync(pkgFile)) continue;
    const pkg = JSON.parse(fs.readFileSync(pkgFile, "utf8"));
    const src = path.join(base, name, "src");
    moduleNameMapper[`^${pkg.name.replace(/[/@.-]/g, (c) => `\\${c}`)}$`] = path.join(src, "index.ts");
    moduleNameMapper[`^${pkg.name.replace(/[/@.-]/g, (c) => `\\${c}`)}/(.*)$`] = path.join(src, "$1");
  }
}

module.exports = {
  testEnvironment: "node",
  transform: {
    "^.+\\.(t|j)sx?$": ["@swc/jest", { jsc: { target: "es2022", parser: { syntax: "typescript" } }, module: { type: "commonjs" } }],
  },
  testMatch: ["<rootDir>/src/**/*.test.ts"],
  moduleNameMapper,
  testTimeout: 120000,
};
