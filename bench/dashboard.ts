/**
 * How fast the dashboard's keys view answers in Chromium with 1,000 keys, against the same view with 10 keys measured
 * in the same run (the baseline): the API and PostgreSQL of a real system, Debian's Chromium through playwright-core.
 * "Answers" means the table of the requested page is on screen (main[data-state=ready]), timed from the navigation.
 *
 *   npx tsx bench/dashboard.ts [repeats=15]
 */
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Page } from 'playwright-core';
import { createToken } from '../adapters/postgres/token-repository';
import { buildDashboard } from '../scripts/build-dashboard';
import { launchChromium } from '../test/support/browser';
import { recordSyntheticKeys } from '../test/support/synthetic-keys';
import { startSystem } from '../workers/system';
import { benchSystemConfig } from './system-support';

const ready = (view: string): string => `main[data-view=${view}][data-state=ready]:not([data-stale])`;
const READY = ready('keys');

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};
const p95 = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)] as number;
};

/** From setting the hash to the new table on screen, the page already loaded. */
async function navigate(page: Page, hash: string, view = 'keys'): Promise<number> {
  // The same hash again is no navigation: the page is already there.
  if ((await page.evaluate('window.location.hash')) === hash) return 0;
  await page.evaluate('document.querySelector("main").dataset.stale = "1"');
  const started = performance.now();
  await page.evaluate(`window.location.hash = ${JSON.stringify(hash)}`);
  await page.waitForSelector(ready(view));
  return performance.now() - started;
}

interface Scenario {
  label: string;
  run: () => Promise<number>;
}

async function main(): Promise<void> {
  const repeats = Number(process.argv[2] ?? 15);
  const { dataDir, config } = await benchSystemConfig();
  await buildDashboard();
  process.stderr.write(`starting the system in ${dataDir} ...\n`);
  const system = await startSystem(config, { log: () => undefined, apiLogger: false, schedules: false });
  const browser = await launchChromium();
  try {
    const { token } = await createToken(system.db, { name: 'bench', role: 'auditor', actor: 'bench' });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(`sessionStorage.setItem('keyrotor.token', ${JSON.stringify(token)})`);
    const page = await context.newPage();
    await page.goto(`${system.apiUrl}/ui/#/keys`);
    await page.waitForSelector(READY);
    const nodeId = config.hsm.nodes[0]!.id;

    const scenarios: Scenario[] = [
      {
        label: 'open the keys view (new tab: page, bundle, sign-in check, first page)',
        run: async () => {
          const tab = await context.newPage();
          const started = performance.now();
          await tab.goto(`${system.apiUrl}/ui/#/keys`);
          await tab.waitForSelector(READY);
          const ms = performance.now() - started;
          await tab.close();
          return ms;
        },
      },
      { label: 'first page from another view', run: async () => (await navigate(page, '#/alerts', 'alerts'), navigate(page, '#/keys')) },
      { label: 'next page', run: async () => (await navigate(page, '#/keys'), navigate(page, '#/keys?page=2')) },
      { label: 'filter by name prefix', run: async () => (await navigate(page, '#/keys'), navigate(page, '#/keys?prefix=k-00')) },
      { label: 'filter by phase', run: async () => (await navigate(page, '#/keys'), navigate(page, '#/keys?phase=active')) },
    ];
    const measure = async (): Promise<number[][]> => {
      const results: number[][] = [];
      for (const scenario of scenarios) {
        await scenario.run();
        const samples: number[] = [];
        for (let i = 0; i < repeats; i += 1) samples.push(await scenario.run());
        results.push(samples);
      }
      return results;
    };
    const apiTime = async (): Promise<number[]> => {
      const samples: number[] = [];
      for (let i = 0; i < repeats * 4; i += 1) {
        const started = performance.now();
        await system.app.inject({ method: 'GET', url: '/keys?limit=50&offset=0', headers: { authorization: `Bearer ${token}` } });
        samples.push(performance.now() - started);
      }
      return samples;
    };

    process.stderr.write('baseline: 10 keys ...\n');
    await recordSyntheticKeys(system.db, { prefix: 'k-00', count: 10, nodeId });
    const baseline = await measure();
    const baselineApi = await apiTime();
    process.stderr.write('recording 990 more keys ...\n');
    await recordSyntheticKeys(system.db, { prefix: 'k-', count: 990, nodeId, nowMs: Date.now() });
    const thousand = await measure();
    const thousandApi = await apiTime();

    const row = (label: string, base: number[], big: number[]): string =>
      `| ${label} | ${median(base).toFixed(0)} | ${median(big).toFixed(0)} | ${p95(big).toFixed(0)} | ${(median(big) / median(base)).toFixed(2)} |`;
    process.stdout.write(`\nkeys view in Chromium ${browser.version()}, ${repeats} runs each, times in ms\n\n`);
    process.stdout.write('| scenario | 10 keys (median) | 1,000 keys (median) | 1,000 keys (p95) | ratio |\n| --- | ---: | ---: | ---: | ---: |\n');
    scenarios.forEach((scenario, i) => process.stdout.write(`${row(scenario.label, baseline[i] as number[], thousand[i] as number[])}\n`));
    process.stdout.write(`${row('GET /keys?limit=50 alone (inject, no browser)', baselineApi, thousandApi)}\n`);
  } finally {
    await browser.close();
    await system.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
