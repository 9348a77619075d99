#!/usr/bin/env node
'use strict';
// Builds the dashboard (dashboard/src, TypeScript and CSS) into dashboard/dist with esbuild, which the API serves under
// /ui/. First it brings the dashboard's API types (dashboard/src/model/api-types.ts) up to the OpenAPI document, which
// the API's schemas define. Regenerates and rebuilds only when a source, the bundler or the chart library changed, so it
// runs before every `npm start`, `npm test` and the image build at no cost when nothing did. Plain Node: the bootstrap
// calls it.
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { dashboardDistDir: distDir, projectRoot } = require('./tool-paths');

const sourceDir = path.join(projectRoot, 'dashboard');
const stampFile = path.join(distDir, '.build-stamp');
/** Outside dist (which a build empties) and outside git: what the API types were last generated from. */
const apiTypesStampFile = path.join(sourceDir, '.api-types-stamp');

function filesUnder(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return full === distDir ? [] : filesUnder(full);
    return [full];
  });
}

/** What the bundle is made of: every source file, this script, and the versions of esbuild and uPlot. */
function sourceFingerprint() {
  const hash = crypto.createHash('sha256');
  for (const file of [...filesUnder(sourceDir), __filename].sort()) {
    hash.update(path.relative(projectRoot, file)).update('\0').update(fs.readFileSync(file)).update('\0');
  }
  for (const pkg of ['esbuild', 'uplot']) hash.update(require(`${pkg}/package.json`).version);
  return hash.digest('hex');
}

/** What the API types are generated from: the API's schemas and everything they import, the generator, the schema libraries. */
function apiSourceFingerprint() {
  const hash = crypto.createHash('sha256');
  const sources = ['api', 'domain'].flatMap((dir) => filesUnder(path.join(projectRoot, dir))).filter((file) => file.endsWith('.ts'));
  for (const file of [...sources, path.join(__dirname, 'generate-api-types.ts')].sort()) {
    hash.update(path.relative(projectRoot, file)).update('\0').update(fs.readFileSync(file)).update('\0');
  }
  for (const pkg of ['@sinclair/typebox', '@fastify/swagger', 'fastify']) hash.update(fs.readFileSync(path.join(projectRoot, 'node_modules', pkg, 'package.json')));
  return hash.digest('hex');
}

/** Writes dashboard/src/model/api-types.ts from the OpenAPI document when the API's sources changed since the last time. */
async function ensureApiTypes(options) {
  const wanted = apiSourceFingerprint();
  const have = fs.existsSync(apiTypesStampFile) ? fs.readFileSync(apiTypesStampFile, 'utf8').trim() : '';
  if (have === wanted && !options.force) return;
  // A process of its own: the generator loads the API's TypeScript through tsx, whatever loader the caller runs under.
  const generated = spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, 'generate-api-types.ts')], { encoding: 'utf8' });
  if (generated.status !== 0) throw new Error(`the dashboard's API types could not be generated: ${(generated.stderr || generated.stdout || String(generated.error)).trim()}`);
  fs.writeFileSync(apiTypesStampFile, `${wanted}\n`);
}

/** Builds when the bundle is missing or stale; returns whether it built and how long that took. */
async function buildDashboard(options = {}) {
  const started = process.hrtime.bigint();
  await ensureApiTypes(options);
  const wanted = sourceFingerprint();
  const have = fs.existsSync(stampFile) ? fs.readFileSync(stampFile, 'utf8').trim() : '';
  if (have === wanted && !options.force) return { built: false, ms: 0 };
  const esbuild = require('esbuild');
  fs.rmSync(distDir, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: { app: path.join(sourceDir, 'src', 'main.ts') },
    bundle: true,
    minify: true,
    sourcemap: 'linked',
    format: 'iife',
    target: ['es2022'],
    outdir: distDir,
    logLevel: 'warning',
    legalComments: 'linked',
  });
  fs.copyFileSync(path.join(sourceDir, 'index.html'), path.join(distDir, 'index.html'));
  fs.writeFileSync(stampFile, `${wanted}\n`);
  return { built: true, ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

module.exports = { buildDashboard };

if (require.main === module) {
  buildDashboard({ force: process.argv.includes('--force') }).then(
    (result) => process.stdout.write(result.built ? `[dashboard] built into ${path.relative(projectRoot, distDir)} in ${result.ms.toFixed(0)} ms\n` : '[dashboard] up to date\n'),
    (error) => {
      process.stderr.write(`[dashboard] build failed: ${error.message}\n[dashboard] next step: fix the error above in dashboard/src, then run node scripts/build-dashboard.js\n`);
      process.exit(1);
    },
  );
}
