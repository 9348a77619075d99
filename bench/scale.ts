/**
 * The whole system (three SoftHSM nodes, Temporal dev server, embedded PostgreSQL, workers and API in this process) with
 * 0, then 1,000, 3,000 and 10,000 managed EC P-256 keys made through POST /keys, each size reached by adding keys to the
 * previous one. At each size, once every key is active and the system has settled, it measures:
 *   - memory: VmRSS (and PSS, which counts PostgreSQL's shared buffers once) of the Temporal server, of this process
 *     (the HSM and control workers, the API and the bench's own small client) and of PostgreSQL, each with its children;
 *   - CPU while idle over a fixed window, schedules on (the minutely keymapSync, each key's own evaluations), in cores;
 *   - one key map sync, unchanged (POST /keymap/sync), and the sync that one policy change starts;
 *   - GET /keys p50/p99 over HTTP, a page of 50 as the dashboard's keys view asks for it, offsets spread over the list,
 *     and every key in pages of 500 as the overview and schedule views ask for them;
 *   - the dashboard in Chromium: the keys view's table and trends, its last page, and the overview;
 *   - a raw PKCS#11 probe on node 1 (generate + destroy an EC pair in a plain loop): SoftHSM's cost per object
 *     operation as its token fills;
 *   - the time to rotate 100 keys at once (POST /keys/:name/rotate, answered once each new version is active).
 * While it creates keys it prints the creation rate per block of 250 and the objects on each token.
 * The bench's keys evaluate every 5 minutes (the default is hourly), so that the window sees evaluations at a steady
 * rate: it prints how many ran in it. The entropy harvest runs once at the start, on the smallest assessment (its
 * interval is set to a day): it costs the same with 0 or 10,000 keys and is item 1's subject.
 *
 *   npx tsx bench/scale.ts [sizes…=1000 3000 10000]      e.g. `npx tsx bench/scale.ts 1000` or `… 1000,3000`
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import * as pkcs11js from 'pkcs11js';
import * as keys from '../adapters/pkcs11/keys';
import { TokenSessionPool } from '../adapters/pkcs11/session-pool';
import { createToken } from '../adapters/postgres/token-repository';
import { readSecret } from '../adapters/secrets';
import { KEYMAP_SYNC_SCHEDULE_ID, deploymentScheduleId } from '../domain/identifiers';
import { buildDashboard } from '../scripts/build-dashboard';
import { launchChromium } from '../test/support/browser';
import { startSystem } from '../workers/system';
import { benchSystemConfig } from './system-support';

const IDLE_WINDOW_S = 60;
const CREATE_IN_FLIGHT = 48;
const ROTATE_AT_ONCE = 100;
// Each key evaluates at the default interval (hourly): at 10,000 keys, 2.8 evaluations a second. Runs A to C gave every
// key 5 minutes, which at 3,000 keys made 10 a second and most of the idle CPU measured.
const POLICY = { gracePeriod: '1h', maxGracePeriod: '2h', publicationLead: '0s' };
const CLK_TCK = 100;

const say = (message: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * q) - 1))] as number;
};
const median = (values: number[]): number => quantile(values, 0.5);
const keyName = (i: number): string => `scale-${String(i).padStart(5, '0')}`;

// The whole-token searches (C_FindObjectsInit) this process makes, which cost as much as the token has objects on
// SoftHSM's file store: counted from before the first module instance, so every one is seen.
let searches = 0;
const prototype = pkcs11js.PKCS11.prototype;
const findObjectsInit = Reflect.get(prototype, 'C_FindObjectsInit') as (...args: unknown[]) => void;
Reflect.set(prototype, 'C_FindObjectsInit', function countedSearch(this: pkcs11js.PKCS11, ...args: unknown[]): void {
  searches += 1;
  findObjectsInit.apply(this, args);
});

// ---- processes -------------------------------------------------------------------------------------------------

interface Proc { pid: number; ppid: number; ticks: number; cmd: string }

function processes(): Map<number, Proc> {
  const all = new Map<number, Proc>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime, stime, and the children's that were waited for (a PostgreSQL backend that exited).
      const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      all.set(Number(entry), { pid: Number(entry), ppid: Number(fields[1]), ticks, cmd });
    } catch {
      // The process ended while it was read.
    }
  }
  return all;
}

function treeOf(all: Map<number, Proc>, root: number): number[] {
  const pids = [root];
  for (let i = 0; i < pids.length; i += 1) for (const p of all.values()) if (p.ppid === pids[i]) pids.push(p.pid);
  return pids.filter((pid) => all.has(pid));
}

type Group = 'temporal' | 'workers+api' | 'postgres';

/** The three process trees: Temporal (a child of this process), this process alone, PostgreSQL (its postmaster.pid). */
function groups(dataDir: string): Record<Group, number[]> {
  const all = processes();
  const postmaster = Number(readFileSync(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const temporal = [...all.values()].find((p) => p.ppid === process.pid && /temporal/.test(p.cmd) && /start-dev/.test(p.cmd));
  if (!temporal) throw new Error('no Temporal dev server among this process\'s children');
  return { temporal: treeOf(all, temporal.pid), 'workers+api': [process.pid], postgres: treeOf(all, postmaster) };
}

function memoryMiB(pids: number[]): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    try {
      rss += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      pss += Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // Ended.
    }
  }
  return { rss: Math.round(rss / 1024), pss: Math.round(pss / 1024) };
}

/** CPU of each group over `seconds`, in cores; pids are looked up again at the end (PostgreSQL starts backends). */
async function idleCpu(dataDir: string, seconds: number): Promise<Record<Group, number>> {
  const before = processes();
  const started = performance.now();
  await sleep(seconds * 1000);
  const elapsed = (performance.now() - started) / 1000;
  const after = processes();
  const tree = groups(dataDir);
  const cores = (pids: number[]): number =>
    pids.reduce((sum, pid) => sum + ((after.get(pid)?.ticks ?? 0) - (before.get(pid)?.ticks ?? 0)), 0) / CLK_TCK / elapsed;
  return { temporal: cores(tree.temporal), 'workers+api': cores(tree['workers+api']), postgres: cores(tree.postgres) };
}

/** Key objects in each token folder (SoftHSM's file store: one file per object). */
function tokenObjects(dataDir: string): number[] {
  const root = join(dataDir, 'softhsm', 'tokens');
  return readdirSync(root).map((token) => readdirSync(join(root, token)).filter((file) => file.endsWith('.object')).length);
}

// ---- the bench ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = process.argv.slice(2).flatMap((arg) => arg.split(',')).filter(Boolean).map(Number);
  const sizes = args.length > 0 ? args : [1000, 3000, 10000];
  if (sizes.some((size, i) => !Number.isInteger(size) || size <= (sizes[i - 1] ?? 0))) throw new Error(`sizes must be rising whole numbers: ${sizes.join(' ')}`);
  // The harvest's assessment costs the same with any number of keys (and is item 1's subject): the smallest one, once.
  const { dataDir, config } = await benchSystemConfig({
    api: 'listen',
    env: { KEYROTOR_ENTROPY_INTERVAL_SECONDS: '86400', KEYROTOR_ENTROPY_ASSESSMENT_SAMPLES: '10000', KEYROTOR_ENTROPY_BATTERY_BITS: '100000' },
  });
  await buildDashboard();
  say(`starting the system in ${dataDir} (load ${load()}) ...`);
  const system = await startSystem(config, { log: () => undefined, apiLogger: false });
  const schedule = system.client.schedule.getHandle(deploymentScheduleId(KEYMAP_SYNC_SCHEDULE_ID, system.config.temporal.controlTaskQueue));
  const node1 = config.hsm.nodes[0]!;
  const probePool = TokenSessionPool.open({ nodeId: node1.id, modulePath: node1.modulePath, tokenLabel: node1.tokenLabel, pin: readSecret(node1.pin, 'pin'), size: 1 });
  const browser = await launchChromium();
  // Ctrl-C stops the system (PostgreSQL, Temporal) instead of leaving it running.
  let stopping = false;
  const stopOnSignal = (): void => {
    if (stopping) return;
    stopping = true;
    say('stopping ...');
    void Promise.allSettled([browser.close(), probePool.close()]).then(() => system.stop()).finally(() => {
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', stopOnSignal).once('SIGTERM', stopOnSignal);
  const results: Array<Record<string, unknown>> = [];
  try {
    const { token } = await createToken(system.db, { name: 'bench', role: 'operator', actor: 'bench' });
    const http = async (method: string, url: string, body?: unknown): Promise<Record<string, unknown>> => {
      const headers = { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
      const reply = await fetch(`${system.apiUrl}${url}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await reply.text();
      if (reply.status >= 300) throw new Error(`${method} ${url}: ${reply.status} ${text.slice(0, 300)}`);
      return JSON.parse(text) as Record<string, unknown>;
    };
    const activeCount = async (): Promise<number> =>
      Number((await system.db.query<{ n: string }>(`SELECT count(*) AS n FROM keys WHERE name LIKE 'scale-%' AND active_version IS NOT NULL`)).rows[0]?.n ?? 0);
    const syncRunning = async (): Promise<boolean> =>
      (await system.db.query<{ holder: string | null; expires_at: Date | null }>('SELECT holder, expires_at FROM keymap_sync_lease')).rows.some((row) => row.holder !== null && (row.expires_at?.getTime() ?? 0) > Date.now());
    const syncIdle = async (): Promise<void> => {
      while (await syncRunning()) await sleep(200);
    };

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(`sessionStorage.setItem('keyrotor.token', ${JSON.stringify(token)})`);
    /** A new tab on `hash` until `selector` is there, in ms. */
    const openView = async (hash: string, selectors: string[]): Promise<number[]> => {
      const tab = await context.newPage();
      const started = performance.now();
      await tab.goto(`${system.apiUrl}/ui/${hash}`);
      const times: number[] = [];
      for (const selector of selectors) {
        await tab.waitForSelector(selector, { timeout: 120_000 });
        times.push(performance.now() - started);
      }
      await tab.close();
      return times;
    };

    // The first harvest of a fresh start assesses every node's source (minutes of CPU): the baseline waits for it.
    say('settling after the start: the first entropy harvest of every node ...');
    for (let waited = 0; waited < 900_000; waited += 2000) {
      const harvested = Number((await system.db.query<{ n: string }>('SELECT count(DISTINCT node_id) AS n FROM entropy_reports')).rows[0]?.n ?? 0);
      if (harvested >= config.hsm.nodes.length) break;
      await sleep(2000);
    }
    await sleep(10_000);
    await syncIdle();
    let created = 0;
    let rotated = 0;
    for (const size of [0, ...sizes]) {
      const row: Record<string, unknown> = { keys: size };
      // ---- create
      if (size > created) {
        say(`creating keys ${created} to ${size}, ${CREATE_IN_FLIGHT} in flight (load ${load()}) ...`);
        const blocks: Array<Record<string, unknown>> = [];
        const began = performance.now();
        let next = created;
        let active = await activeCount();
        let blockStart = performance.now();
        let blockFrom = active;
        let blockSearches = searches;
        const failures: string[] = [];
        while (active < size) {
          const posts: Array<Promise<unknown>> = [];
          while (next < size && next - active < CREATE_IN_FLIGHT) {
            const name = keyName(next);
            posts.push(http('POST', '/keys', { name, type: 'ec-p256', policy: POLICY, reason: 'scale bench' }).catch((error: unknown) => failures.push(String(error))));
            next += 1;
          }
          await Promise.all(posts);
          if (failures.length > 0) throw new Error(`POST /keys failed: ${failures.slice(0, 3).join('; ')}`);
          await sleep(250);
          active = await activeCount();
          if (active - blockFrom >= 250 || active >= size) {
            const seconds = (performance.now() - blockStart) / 1000;
            const searchesPerKey = Number(((searches - blockSearches) / Math.max(1, active - blockFrom)).toFixed(1));
            const block = { to: active, keysPerSecond: Number(((active - blockFrom) / seconds).toFixed(2)), searchesPerKey, tokenObjects: tokenObjects(dataDir), load: load() };
            blocks.push(block);
            say(`  ${active} active, ${block.keysPerSecond}/s over the last ${active - blockFrom}, ${searchesPerKey} whole-token searches per key (all three nodes, syncs and evaluations included), token objects ${block.tokenObjects.join('/')}, load ${block.load}`);
            blockStart = performance.now();
            blockFrom = active;
            blockSearches = searches;
          }
        }
        const seconds = (performance.now() - began) / 1000;
        row.creation = { seconds: Math.round(seconds), keysPerSecond: Number(((size - created) / seconds).toFixed(2)), blocks };
        created = size;
        say('settling: the syncs that the creations asked for, 20 s ...');
        await sleep(20_000);
        await syncIdle();
      }
      // ---- idle CPU and memory (schedules running)
      say(`${size} keys: idle CPU over ${IDLE_WINDOW_S} s (load ${load()}) ...`);
      const windowStart = new Date();
      const loadBefore = load();
      const cpu = await idleCpu(dataDir, IDLE_WINDOW_S);
      const inWindow = async (sql: string): Promise<number> => Number((await system.db.query<{ n: string }>(sql, [windowStart])).rows[0]?.n ?? 0);
      const evaluations = await inWindow('SELECT count(*) AS n FROM risk_evaluations WHERE evaluated_at >= $1');
      const syncs = await inWindow('SELECT count(*) AS n FROM keymap_sync_runs WHERE started_at >= $1');
      const tree = groups(dataDir);
      const memory = Object.fromEntries(Object.entries(tree).map(([group, pids]) => [group, memoryMiB(pids)]));
      row.idle = {
        cores: Object.fromEntries(Object.entries(cpu).map(([group, c]) => [group, Number(c.toFixed(3))])),
        totalCores: Number(Object.values(cpu).reduce((a, b) => a + b, 0).toFixed(3)),
        evaluationsPerSecond: Number((evaluations / IDLE_WINDOW_S).toFixed(2)),
        syncsInWindow: syncs,
        load: `${loadBefore} → ${load()}`,
      };
      row.memoryMiB = memory;
      say(`  ${JSON.stringify(row.idle)} ${JSON.stringify(memory)}`);

      // ---- syncs, schedule paused so that no minutely run overlaps the measured ones
      await schedule.pause('scale bench: measuring');
      await syncIdle();
      say(`${size} keys: key map syncs (load ${load()}) ...`);
      const unchanged: number[] = [];
      for (let i = 0; i < 3; i += 1) {
        const started = performance.now();
        await http('POST', '/keymap/sync');
        unchanged.push(performance.now() - started);
      }
      let changed: { ms: number; how: string } | null = null;
      if (size > 0) {
        const name = keyName(Math.floor(size / 2));
        const patchedAt = new Date();
        await http('PATCH', `/keys/${name}/policy`, { maxAge: size % 2 === 0 ? '60d' : '61d' });
        // The lifecycle step asks for a sync itself; its run is the one measured.
        let run: { started_at: Date; finished_at: Date | null } | undefined;
        for (let waited = 0; waited < 60_000; waited += 200) {
          run = (await system.db.query<{ started_at: Date; finished_at: Date | null }>('SELECT started_at, finished_at FROM keymap_sync_runs WHERE started_at >= $1 ORDER BY started_at LIMIT 1', [patchedAt])).rows[0];
          if (run?.finished_at) break;
          await sleep(200);
        }
        if (run?.finished_at) {
          changed = { ms: run.finished_at.getTime() - run.started_at.getTime(), how: 'the sync the policy change asked for (its run: started to finished)' };
        } else {
          const started = performance.now();
          await http('POST', '/keymap/sync');
          changed = { ms: performance.now() - started, how: 'POST /keymap/sync after the change' };
        }
      }
      row.sync = { unchangedMs: unchanged.map(Math.round), unchangedMedianMs: Math.round(median(unchanged)), oneChanged: changed && { ms: Math.round(changed.ms), how: changed.how }, load: load() };
      say(`  ${JSON.stringify(row.sync)}`);

      // ---- GET /keys
      say(`${size} keys: GET /keys (load ${load()}) ...`);
      const pages = Math.max(1, Math.ceil(size / 50));
      const page: number[] = [];
      for (let i = 0; i < 300; i += 1) {
        const offset = ((i * 7919) % pages) * 50;
        const started = performance.now();
        await http('GET', `/keys?limit=50&offset=${offset}`);
        page.push(performance.now() - started);
      }
      const everyKey: number[] = [];
      for (let i = 0; i < 10; i += 1) {
        const started = performance.now();
        const first = await http('GET', '/keys?limit=500&offset=0');
        await Promise.all(Array.from({ length: Math.ceil(Number(first.total) / 500) - 1 }, (_, p) => http('GET', `/keys?limit=500&offset=${(p + 1) * 500}`)));
        everyKey.push(performance.now() - started);
      }
      row.getKeys = {
        page50: { p50: Number(median(page).toFixed(1)), p99: Number(quantile(page, 0.99).toFixed(1)), requests: page.length },
        everyKeyIn500s: { p50: Math.round(median(everyKey)), max: Math.round(Math.max(...everyKey)) },
        load: load(),
      };
      say(`  ${JSON.stringify(row.getKeys)}`);

      // ---- dashboard
      say(`${size} keys: dashboard in Chromium (load ${load()}) ...`);
      const keysView: number[][] = [];
      const lastPage: number[] = [];
      const overview: number[] = [];
      const ready = (view: string): string => `main[data-view=${view}][data-state=ready]`;
      await openView('#/keys', [ready('keys')]);
      for (let i = 0; i < 5; i += 1) {
        keysView.push(await openView('#/keys', [ready('keys'), 'main[data-view=keys][data-trends=done]']));
        lastPage.push((await openView(`#/keys?page=${pages}`, [ready('keys')]))[0] as number);
        overview.push((await openView('#/overview', [ready('overview')]))[0] as number);
      }
      row.dashboard = {
        keysViewTableMs: Math.round(median(keysView.map((t) => t[0] as number))),
        keysViewTrendsMs: Math.round(median(keysView.map((t) => t[1] as number))),
        keysViewLastPageMs: Math.round(median(lastPage)),
        overviewMs: Math.round(median(overview)),
        load: load(),
      };
      say(`  ${JSON.stringify(row.dashboard)}`);

      // ---- SoftHSM alone
      say(`${size} keys: raw PKCS#11 probe on ${node1.id} (load ${load()}) ...`);
      const probe: number[] = [];
      for (let i = 0; i < 10; i += 1) {
        const started = performance.now();
        const pair = await keys.generateKeyPair(probePool, { keyType: 'ec-p256', label: `scale-probe-${size}-${i}` });
        await keys.destroyKeyObjects(probePool, { fingerprint: pair.fingerprint, privateKey: true, publicKey: true });
        probe.push(performance.now() - started);
      }
      row.rawPkcs11 = { generateAndDestroyMs: Number(median(probe).toFixed(1)), tokenObjects: tokenObjects(dataDir), load: load() };
      say(`  ${JSON.stringify(row.rawPkcs11)}`);

      // ---- 100 rotations at once
      if (size >= ROTATE_AT_ONCE) {
        say(`${size} keys: rotating ${ROTATE_AT_ONCE} at once (load ${load()}) ...`);
        const names = Array.from({ length: ROTATE_AT_ONCE }, (_, i) => keyName(rotated + i));
        rotated += ROTATE_AT_ONCE;
        const started = performance.now();
        // An answer can fail (a 500 when the API's wait for the workflow gave up) while the rotation goes on: the time
        // is until every key has its new version active, read from PostgreSQL, and failed answers are counted.
        const failedAnswers: string[] = [];
        await Promise.all(names.map((name) => http('POST', `/keys/${name}/rotate`, { reason: 'scale bench' }).catch((error: unknown) => failedAnswers.push(String(error).slice(0, 200)))));
        const answeredSeconds = (performance.now() - started) / 1000;
        for (let waited = 0; waited < 900_000; waited += 1000) {
          const rotatedNow = Number((await system.db.query<{ n: string }>('SELECT count(*) AS n FROM keys WHERE name = ANY($1) AND active_version >= 2', [names])).rows[0]?.n ?? 0);
          if (rotatedNow === names.length) break;
          await sleep(1000);
        }
        const seconds = (performance.now() - started) / 1000;
        row.rotate100 = {
          seconds: Number(seconds.toFixed(1)), rotationsPerSecond: Number((ROTATE_AT_ONCE / seconds).toFixed(2)), answeredSeconds: Number(answeredSeconds.toFixed(1)),
          failedAnswers: failedAnswers.length, ...(failedAnswers.length > 0 ? { firstFailure: failedAnswers[0] } : {}), load: load(),
        };
        say(`  ${JSON.stringify(row.rotate100)}`);
      }
      await syncIdle();
      await schedule.unpause('scale bench: measured');
      results.push(row);
      process.stdout.write(`${JSON.stringify(row)}\n`);
    }
    process.stdout.write(`${JSON.stringify({ nodes: config.hsm.nodes.length, keyType: 'ec-p256', policy: POLICY, results }, null, 2)}\n`);
  } finally {
    await browser.close();
    await probePool.close();
    await system.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/scale failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
