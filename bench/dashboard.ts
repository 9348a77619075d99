/**
 * How fast the dashboard's keys view answers in Chromium with 1,000 keys, against the same view with 10 keys measured
 * in the same run (the baseline): the API and PostgreSQL of a real system, Debian's Chromium through playwright-core.
 * "Answers" means the table of the requested page is on screen (main[data-state=ready]), timed from the navigation;
 * "trends" means every row's risk sparkline is filled in too (main[data-trends=done]). Every key has a day of hourly
 * risk evaluations. "Requests" counts the API requests of the keys view (/keys…, /risk-trends…) per page shown. Last,
 * the first page's trends through the API alone: one GET /risk-trends against one GET /keys/:name/risk per row.
 *
 *   npx tsx bench/dashboard.ts [repeats=15]
 */
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Page } from 'playwright-core';
import { createToken } from '../adapters/postgres/token-repository';
import { buildDashboard } from '../scripts/build-dashboard';
import { launchChromium } from '../test/support/browser';
import { recordSyntheticEvaluations } from '../test/support/synthetic-evaluations';
import { recordSyntheticKeys } from '../test/support/synthetic-keys';
import { startSystem, type RunningSystem } from '../workers/system';
import { benchSystemConfig } from './system-support';

const ready = (view: string): string => `main[data-view=${view}][data-state=ready]:not([data-stale])`;
const READY = ready('keys');
const TRENDS = 'main[data-view=keys][data-trends=done]:not([data-stale])';
/** The keys view's own API requests (the list and the risk trends), not the page, its bundle or the alert badge. */
const KEYS_VIEW_REQUEST = /^\/(keys|risk-trends)([/?]|$)/;
const HOUR_MS = 3_600_000;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};
const p95 = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)] as number;
};

interface Sample {
  /** The table on screen. */
  tableMs: number;
  /** Every row's trend filled in. */
  trendsMs: number;
  requests: number;
}

/** Counts the keys view's API requests a page makes from now on. */
function countRequests(page: Page): { stop: () => number } {
  let count = 0;
  const listener = (request: { url: () => string }): void => {
    if (KEYS_VIEW_REQUEST.test(new URL(request.url()).pathname)) count += 1;
  };
  page.on('request', listener);
  return {
    stop: () => {
      page.off('request', listener);
      return count;
    },
  };
}

/** From setting the hash to the new table on screen, then to its trends, the page already loaded. */
async function navigate(page: Page, hash: string, view = 'keys'): Promise<Sample> {
  // The same hash again is no navigation: the page is already there.
  if ((await page.evaluate('window.location.hash')) === hash) return { tableMs: 0, trendsMs: 0, requests: 0 };
  await page.evaluate('document.querySelector("main").dataset.stale = "1"');
  const requests = countRequests(page);
  const started = performance.now();
  await page.evaluate(`window.location.hash = ${JSON.stringify(hash)}`);
  await page.waitForSelector(ready(view));
  const tableMs = performance.now() - started;
  if (view === 'keys') await page.waitForSelector(TRENDS);
  return { tableMs, trendsMs: performance.now() - started, requests: requests.stop() };
}

interface Scenario {
  label: string;
  run: () => Promise<Sample>;
}

/** A day of hourly evaluations for each key, its score drifting with the key, as its workflow would have stored them. */
async function recordTrends(system: RunningSystem, names: readonly string[], nowMs: number): Promise<void> {
  const queue = [...names];
  const worker = async (): Promise<void> => {
    for (let name = queue.shift(); name; name = queue.shift()) {
      const seed = names.indexOf(name);
      const points = Array.from({ length: 24 }, (_, i) => ({ atMs: nowMs - (24 - i) * HOUR_MS, score: 0.1 + 0.3 * Math.abs(Math.sin((seed + i) / 5)) }));
      await recordSyntheticEvaluations(system.db, { key: name, points });
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
}

/**
 * The first page's trends fetched both ways through the API itself, in the same run: one GET /risk-trends, against
 * what the keys view did before it existed (GET /keys/:name/risk?limit=24 per row, six at a time).
 */
async function trendsApiTime(system: RunningSystem, token: string, runs: number): Promise<{ perKey: number[]; batched: number[] }> {
  const headers = { authorization: `Bearer ${token}` };
  // A refused request would be quick and measure nothing.
  const get = async (url: string): Promise<void> => {
    const reply = await system.app.inject({ method: 'GET', url, headers });
    if (reply.statusCode !== 200) throw new Error(`GET ${url.slice(0, 80)} answered ${reply.statusCode}: ${reply.body.slice(0, 200)}`);
  };
  const names = (await system.app.inject({ method: 'GET', url: '/keys?limit=50&offset=0', headers })).json<{ keys: Array<{ name: string }> }>().keys.map((key) => key.name);
  const perKey: number[] = [];
  const batched: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    let started = performance.now();
    const queue = [...names];
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let name = queue.shift(); name; name = queue.shift()) await get(`/keys/${name}/risk?limit=24`);
      }),
    );
    perKey.push(performance.now() - started);
    started = performance.now();
    await get(`/risk-trends?keys=${names.join(',')}&points=24`);
    batched.push(performance.now() - started);
  }
  return { perKey, batched };
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
          const requests = countRequests(tab);
          const started = performance.now();
          await tab.goto(`${system.apiUrl}/ui/#/keys`);
          await tab.waitForSelector(READY);
          const tableMs = performance.now() - started;
          await tab.waitForSelector(TRENDS);
          const trendsMs = performance.now() - started;
          const sample = { tableMs, trendsMs, requests: requests.stop() };
          await tab.close();
          return sample;
        },
      },
      { label: 'first page from another view', run: async () => (await navigate(page, '#/alerts', 'alerts'), navigate(page, '#/keys')) },
      { label: 'next page', run: async () => (await navigate(page, '#/keys'), navigate(page, '#/keys?page=2')) },
      { label: 'filter by name prefix', run: async () => (await navigate(page, '#/keys'), navigate(page, '#/keys?prefix=k-00')) },
      { label: 'filter by phase', run: async () => (await navigate(page, '#/keys'), navigate(page, '#/keys?phase=active')) },
    ];
    const measure = async (): Promise<Sample[][]> => {
      const results: Sample[][] = [];
      for (const scenario of scenarios) {
        await scenario.run();
        const samples: Sample[] = [];
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
    const nowMs = Date.now();
    await recordTrends(system, await recordSyntheticKeys(system.db, { prefix: 'k-00', count: 10, nodeId }), nowMs);
    const baseline = await measure();
    const baselineApi = await apiTime();
    process.stderr.write('recording 990 more keys ...\n');
    await recordTrends(system, await recordSyntheticKeys(system.db, { prefix: 'k-', count: 990, nodeId, nowMs }), nowMs);
    const thousand = await measure();
    const thousandApi = await apiTime();
    const trendsApi = await trendsApiTime(system, token, repeats * 4);

    const row = (label: string, base: number[], big: number[]): string =>
      `| ${label} | ${median(base).toFixed(0)} | ${median(big).toFixed(0)} | ${p95(big).toFixed(0)} | ${(median(big) / median(base)).toFixed(2)} |`;
    process.stdout.write(`\nkeys view in Chromium ${browser.version()}, ${repeats} runs each, times in ms\n\n`);
    process.stdout.write('| scenario | 10 keys (median) | 1,000 keys (median) | 1,000 keys (p95) | ratio |\n| --- | ---: | ---: | ---: | ---: |\n');
    const pick = (samples: Sample[][], i: number, field: 'tableMs' | 'trendsMs'): number[] => (samples[i] as Sample[]).map((sample) => sample[field]);
    scenarios.forEach((scenario, i) => process.stdout.write(`${row(scenario.label, pick(baseline, i, 'tableMs'), pick(thousand, i, 'tableMs'))}\n`));
    process.stdout.write(`${row('GET /keys?limit=50 alone (inject, no browser)', baselineApi, thousandApi)}\n`);
    process.stdout.write('\nthe same navigations until every row shows its risk trend, and the keys view\'s API requests per page\n\n');
    process.stdout.write('| scenario | 10 keys (median) | 1,000 keys (median) | 1,000 keys (p95) | ratio | requests, 10 keys | requests, 1,000 keys |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n');
    scenarios.forEach((scenario, i) => {
      const requests = (samples: Sample[][]): number => median((samples[i] as Sample[]).map((sample) => sample.requests));
      process.stdout.write(`${row(scenario.label, pick(baseline, i, 'trendsMs'), pick(thousand, i, 'trendsMs'))} ${requests(baseline)} | ${requests(thousand)} |\n`);
    });
    process.stdout.write(`\nthe first page's 50 trends through the API alone (inject, no browser, 1,000 keys), ${repeats * 4} runs each, times in ms\n\n`);
    process.stdout.write('| way | median | p95 | ratio |\n| --- | ---: | ---: | ---: |\n');
    const apiRow = (label: string, samples: number[]): string => `| ${label} | ${median(samples).toFixed(1)} | ${p95(samples).toFixed(1)} | ${(median(samples) / median(trendsApi.perKey)).toFixed(2)} |`;
    process.stdout.write(`${apiRow('50 × GET /keys/:name/risk?limit=24, 6 at a time (baseline)', trendsApi.perKey)}\n${apiRow('1 × GET /risk-trends?keys=<50 names>&points=24', trendsApi.batched)}\n`);
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
