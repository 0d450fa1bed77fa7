// Root jest: one run over every workspace (each workspace's jest.config.js is a project).
const fs = require("node:fs");
const path = require("node:path");

const projects = [];
for (const dir of ["packages", "apps"]) {
  const base = path.join(__dirname, dir);
  if (!fs.existsSync(base)) continue;
  for (const name of fs.readdirSync(base).sort()) {
    const config = path.join(base, name, "jest.config.js");
    if (fs.existsSync(config)) projects.push(config);
  }
}

// testTimeout is a global option: project configs cannot set it in a multi-project run.
module.exports = { projects, testTimeout: 120000 };
