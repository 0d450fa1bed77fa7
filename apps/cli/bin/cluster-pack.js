#!/usr/bin/env node
"use strict";
const cli = require("../dist/main.js");
cli.exitQuietlyOnBrokenPipe(process.stdout);
cli.main(process.argv).then((code) => {
  // Interrupted: the operation has cleaned up; exit now rather than wait for sockets or
  // worker threads it left winding down (registered temporaries are removed at exit).
  if (code === 130 || code === 143) process.exit(code);
  process.exitCode = code;
});
