#!/usr/bin/env node
'use strict';
// The `keyrotor` command. Its command table runs precompiled (scripts/build-cli.js, which the bootstrap runs) while the
// files it was built from are unchanged, so that starting it loads no TypeScript compiler; a command's own code is
// TypeScript that tsx compiles when the command runs. Without a current build (a fresh clone, an edited source) the
// sources run through tsx directly, so a checkout needs no build step.
const bundle = require('../scripts/build-cli').currentCliBundle();
let cli;
if (bundle) {
  cli = require(bundle);
} else {
  require('tsx/cjs');
  cli = require('../cli/main.ts');
}
cli.main(process.argv).then((code) => {
  process.exitCode = code;
});
