"use strict";
// Loads TypeScript worker modules in a worker thread when the packages run from their
// sources (the monorepo's jest runs): jest transforms the main thread only, so a worker
// started there gets this loader first (WorkerPool does it for `.ts` modules). It compiles
// `.ts` files with swc, as jest.preset.js does, and resolves `@cluster-pack/<name>[/sub]`
// to `packages/<name>/src/<sub or index>.ts`, as the preset's moduleNameMapper does. The
// built packages never use it: their worker modules are JavaScript.
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");
const swc = require("@swc/core");

const SWC = { jsc: { target: "es2022", parser: { syntax: "typescript" } }, module: { type: "commonjs" }, sourceMaps: "inline" };

Module._extensions[".ts"] = (module, filename) => {
  const { code } = swc.transformSync(fs.readFileSync(filename, "utf8"), { ...SWC, filename });
  module._compile(code, filename);
};

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  const m = /^@cluster-pack\/([^/]+)(?:\/(.+))?$/.exec(request);
  if (m && parent && parent.filename) {
    for (const dir of Module._nodeModulePaths(path.dirname(parent.filename))) {
      const pkg = path.join(dir, "@cluster-pack", m[1]);
      if (!fs.existsSync(path.join(pkg, "package.json"))) continue;
      const src = path.join(fs.realpathSync(pkg), "src", m[2] ?? "index");
      for (const file of [`${src}.ts`, path.join(src, "index.ts")]) if (fs.existsSync(file)) return file;
      break;
    }
  }
  return resolve.call(this, request, parent, ...rest);
};
