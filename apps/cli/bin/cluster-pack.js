#!/usr/bin/env node
"use strict";
const cli = require("../dist/main.js");
cli.exitQuietlyOnBrokenPipe(process.stdout);
cli.main(process.argv).then((code) => {
  process.exitCode = code;
});
