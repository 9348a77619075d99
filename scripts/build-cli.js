#!/usr/bin/env node
'use strict';
// Precompiles the `keyrotor` command with esbuild, so that `keyrotor --help` and the start of every command load no
// TypeScript compiler:
// - cli/dist/keyrotor.js: the command table (cli/main.ts and what it imports: commander, the declarations of every
//   command, the API commands);
// - cli/dist/actions/*.js: the code of the commands that are pure computation or one HTTP client (ea, sts, ...), each
//   loaded only when its command runs.
// The commands that run services (start, worker, api, ...) stay TypeScript, compiled by tsx when they run: they find
// their workflows and migrations next to their sources. bin/keyrotor.js uses the build only while every file it was
// built from is unchanged, and runs the sources through tsx otherwise, so a fresh clone or an edited source needs no
// build. Plain Node: the bootstrap calls it before `npm start` and `npm test`; `currentCliBundle` runs at every start.
const fs = require('node:fs');
const path = require('node:path');

const projectRoot = path.resolve(__dirname, '..');
const distDir = path.join(projectRoot, 'cli', 'dist');
const bundleFile = path.join(distDir, 'keyrotor.js');
const stampFile = path.join(distDir, 'keyrotor.inputs.json');
const actionsDir = path.join(projectRoot, 'cli', 'actions');
const precompiledActionsDir = path.join(distDir, 'actions');
/** The actions compiled here; the others load through tsx. Each needs nothing beside its sources but node_modules. */
const precompiledActions = ['backtest', 'ea', 'health', 'ingest', 'kat', 'sts'];
/** cli/workers/*.ts, compiled to cli/dist/workers/*.js: worker threads an action starts (sts runs half its tests on one). */
const workerEntries = ['sts-battery'];
// Classes that cross from a command's code to cli/main.ts, which tells its failures apart with instanceof.
const sharedModules = [path.join(projectRoot, 'domain', 'errors.ts')];

const sha256 = (file) => require('node:crypto').createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const relativeFrom = (dir, file) => `./${path.relative(dir, file).split(path.sep).join('/')}`;
const relativeToDist = (file) => relativeFrom(distDir, file);

/**
 * The bundle's path when it is current: each input has the size and modification time it had at build time (or, when
 * a checkout touched it, the same content). Otherwise undefined.
 */
function currentCliBundle() {
  let stamp;
  try {
    stamp = JSON.parse(fs.readFileSync(stampFile, 'utf8'));
  } catch {
    return undefined;
  }
  if (stamp.node !== process.versions.node || !fs.existsSync(bundleFile)) return undefined;
  for (const [relative, recorded] of Object.entries(stamp.inputs)) {
    const file = path.join(projectRoot, relative);
    let stat;
    try {
      stat = fs.statSync(file);
    } catch {
      return undefined;
    }
    if (stat.size !== recorded.size) return undefined;
    if (stat.mtimeMs !== recorded.mtimeMs && sha256(file) !== recorded.sha256) return undefined;
  }
  return bundleFile;
}

/** Resolves a relative import the way tsx does: the file itself, then .ts, .js, then a folder's index. */
function resolveRelative(fromDir, request) {
  const base = path.resolve(fromDir, request);
  for (const candidate of [base, `${base}.ts`, `${base}.js`, path.join(base, 'index.ts'), path.join(base, 'index.js')]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

/**
 * Keeps out of the command table what must not be in it: a command's implementation, loaded when it runs by a small
 * stub that first shares the table's error classes with it (through require's cache, under their source's name), and
 * the project's plain JavaScript files, which find their folder with __dirname.
 */
const lazyActions = {
  name: 'keyrotor-lazy-actions',
  setup(build) {
    build.onResolve({ filter: /^\./ }, (args) => {
      if (args.namespace === 'lazy-action') return { path: args.path, external: true };
      const file = resolveRelative(args.resolveDir, args.path);
      if (file === undefined) return undefined;
      if (path.dirname(file) === actionsDir) return { path: file, namespace: 'lazy-action' };
      if (file.endsWith('.js') && !file.includes(`${path.sep}node_modules${path.sep}`)) return { path: relativeToDist(file), external: true };
      return undefined;
    });
    build.onResolve({ filter: /^tsx\// }, () => ({ external: true }));
    // commander loads child_process for subcommands that are programs of their own, which keyrotor has none of; loading
    // it (and net, dgram, ... behind it) took a fifth of the start-up. Loaded on first use instead.
    build.onResolve({ filter: /^node:child_process$/ }, (args) =>
      (args.importer.includes(`${path.sep}node_modules${path.sep}commander${path.sep}`) ? { path: 'child_process', namespace: 'on-first-use' } : undefined));
    build.onLoad({ filter: /.*/, namespace: 'on-first-use' }, (args) => ({
      loader: 'js',
      contents: `module.exports = new Proxy({}, { get: (_, name) => require(${JSON.stringify(`node:${args.path}`)})[name] });`,
    }));
    build.onLoad({ filter: /.*/, namespace: 'lazy-action' }, (args) => ({
      resolveDir: distDir,
      loader: 'js',
      contents: [
        precompiledActions.includes(path.basename(args.path, '.ts')) ? '' : "require('tsx/cjs');",
        "const Module = require('node:module');",
        "const path = require('node:path');",
        ...sharedModules.map((shared) => [
          '{',
          `  const filename = path.join(__dirname, ${JSON.stringify(path.relative(distDir, shared))});`,
          '  if (!require.cache[filename]) {',
          '    const shared = new Module(filename, module);',
          `    shared.filename = filename; shared.loaded = true; shared.exports = require(${JSON.stringify(shared)});`,
          '    require.cache[filename] = shared;',
          '  }',
          '}',
        ].join('\n')),
        `module.exports = require(${JSON.stringify(precompiledActions.includes(path.basename(args.path, '.ts'))
          ? relativeToDist(path.join(precompiledActionsDir, `${path.basename(args.path, '.ts')}.js`))
          : relativeToDist(args.path))});`,
      ].join('\n'),
    }));
    // The shared modules are imported above by absolute path: resolve them into the bundle, not as lazy actions.
    build.onResolve({ filter: /^\// }, (args) => (args.namespace === 'lazy-action' ? { path: args.path } : undefined));
  },
};

/** In an action's bundle: the shared modules (the stub put them in require's cache) and the project's JavaScript stay outside. */
const sharedOutside = {
  name: 'keyrotor-shared-outside',
  setup(build) {
    build.onResolve({ filter: /^\./ }, (args) => {
      const file = resolveRelative(args.resolveDir, args.path);
      if (file === undefined) return undefined;
      if (sharedModules.includes(file) || file.endsWith('.js')) return { path: relativeFrom(precompiledActionsDir, file), external: true };
      if (path.dirname(file) === actionsDir) throw new Error(`${args.importer} imports another command's code (${args.path}); share it from outside cli/actions`);
      return undefined;
    });
  },
};

/** Builds the command table and the precompiled actions, and records what they were built from. */
async function buildCli() {
  const started = process.hrtime.bigint();
  const esbuild = require('esbuild');
  fs.rmSync(distDir, { recursive: true, force: true });
  fs.mkdirSync(distDir, { recursive: true });
  // Both builds: CommonJS for this Node, with the list of inputs the stamp records.
  const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', metafile: true, absWorkingDir: projectRoot, logLevel: 'warning' };
  const result = await esbuild.build({ ...common, entryPoints: [path.join(projectRoot, 'cli', 'main.ts')], outfile: bundleFile, plugins: [lazyActions] });
  const actions = await esbuild.build({
    ...common,
    entryPoints: Object.fromEntries(precompiledActions.map((name) => [name, path.join(actionsDir, `${name}.ts`)])),
    outdir: precompiledActionsDir,
    packages: 'external',
    plugins: [sharedOutside],
  });
  // Worker threads of the precompiled actions: plain bundles with the domain code they need (no shared modules).
  const workers = await esbuild.build({
    ...common,
    entryPoints: Object.fromEntries(workerEntries.map((name) => [name, path.join(projectRoot, 'cli', 'workers', `${name}.ts`)])),
    outdir: path.join(distDir, 'workers'),
    packages: 'external',
  });
  const inputs = {};
  for (const input of [...Object.keys(result.metafile.inputs), ...Object.keys(actions.metafile.inputs), ...Object.keys(workers.metafile.inputs)]) {
    if (input.includes(':')) continue; // the lazy-action stubs: generated, not read from a file
    const file = path.resolve(projectRoot, input);
    const stat = fs.statSync(file);
    inputs[path.relative(projectRoot, file)] = { size: stat.size, mtimeMs: stat.mtimeMs, sha256: sha256(file) };
  }
  for (const file of [__filename, path.join(projectRoot, 'package.json')]) {
    const stat = fs.statSync(file);
    inputs[path.relative(projectRoot, file)] = { size: stat.size, mtimeMs: stat.mtimeMs, sha256: sha256(file) };
  }
  fs.writeFileSync(stampFile, `${JSON.stringify({ node: process.versions.node, inputs }, null, 1)}\n`);
  return { built: true, ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

/** Builds when the bundle is missing or not current. */
async function ensureCli(options = {}) {
  if (!options.force && currentCliBundle()) return { built: false, ms: 0 };
  return buildCli();
}

module.exports = { currentCliBundle, ensureCli, bundleFile };

if (require.main === module) {
  ensureCli({ force: process.argv.includes('--force') }).then(
    (result) => process.stdout.write(result.built ? `[cli] built ${path.relative(projectRoot, bundleFile)} in ${result.ms.toFixed(0)} ms\n` : '[cli] up to date\n'),
    (error) => {
      process.stderr.write(`[cli] build failed: ${error.message}\n[cli] next step: fix the error above in cli/, then run node scripts/build-cli.js\n`);
      process.exit(1);
    },
  );
}
