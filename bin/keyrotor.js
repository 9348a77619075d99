#!/usr/bin/env node
'use strict';
// The `keyrotor` command. Runs the TypeScript sources directly through tsx, so a checkout needs no build step.
require('tsx/cjs');
require('../cli/main.ts')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
