/**
 * Usage events per second into PostgreSQL three ways, on the same N rows in the same run:
 *   (a) a plain COPY FROM STDIN into usage_events (the baseline: no validation, no version resolution, no
 *       deduplication, no hourly aggregates; only the table's own indexes and foreign key);
 *   (b) POST /usage over HTTP to the real fastify server, batches of 10,000 (bodies serialised before the clock starts);
 *   (c) `keyrotor ingest FILE` on an NDJSON file, as its own process (its start-up is measured apart and included).
 * Both tables are emptied before each measurement; the three run one after the other in each of ROUNDS rounds, and
 * the medians are reported, with the median of the ratios taken within a round.
 *
 *   npx tsx bench/ingest.ts [N=100000] [ROUNDS=3]
 */
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';
import { MAX_BATCH } from '../domain/usage/events';
import { projectRoot } from '../scripts/tool-paths';
import { startSystem, type RunningSystem } from '../workers/system';
import { benchSystemConfig, createActiveKeys, operatorApi } from './system-support';

const KEYS = 4;
const APPS = ['checkout', 'billing', 'gateway', 'reports', 'mobile'];
const OPS = ['sign', 'verify'] as const;

interface BenchEvent {
  eventId: string;
  ts: string;
  key: string;
  kid: string;
  version: number;
  op: (typeof OPS)[number];
  app: string;
  count: number;
}

/** N events spread over the last week, over KEYS keys, a few applications, sign and verify. */
function makeEvents(n: number, keys: Array<{ name: string; kid: string }>, nowMs: number): BenchEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const key = keys[i % keys.length]!;
    return {
      eventId: `bench-${i}`,
      ts: new Date(nowMs - ((i * 7_919) % (7 * 86_400_000))).toISOString(),
      key: key.name,
      kid: key.kid,
      version: 1,
      op: OPS[i % 3 === 0 ? 0 : 1],
      app: APPS[i % APPS.length]!,
      count: 1 + (i % 4),
    };
  });
}

/**
 * What the usage tables hold now. The application's role may not empty them (usage_hourly is append-only for it since
 * migration 010), so each mode ingests events of its own IDs and is checked by what it added.
 */
async function storedCounts(system: RunningSystem): Promise<{ events: number; aggregated: number }> {
  const events = Number((await system.db.query<{ n: string }>('SELECT count(*) AS n FROM usage_events')).rows[0]?.n);
  const aggregated = Number((await system.db.query<{ n: string | null }>('SELECT coalesce(sum(count), 0) AS n FROM usage_hourly')).rows[0]?.n);
  return { events, aggregated };
}

async function checkStored(system: RunningSystem, events: BenchEvent[], withAggregates: boolean, before: { events: number; aggregated: number }): Promise<void> {
  const now = await storedCounts(system);
  if (now.events - before.events !== events.length) throw new Error(`expected ${events.length} stored events, found ${now.events - before.events} more`);
  if (!withAggregates) return;
  const total = events.reduce((sum, event) => sum + event.count, 0);
  if (now.aggregated - before.aggregated !== total) throw new Error(`expected hourly aggregates to grow by ${total}, found ${now.aggregated - before.aggregated}`);
}

/** The same events under IDs of their own, so that no mode's ingestion is a re-delivery of another's. */
const renamed = (events: BenchEvent[], tag: string): BenchEvent[] => events.map((event) => ({ ...event, eventId: `${event.eventId}-${tag}` }));

async function viaCopy(system: RunningSystem, events: BenchEvent[]): Promise<number> {
  const text = events.map((e) => `${e.eventId}\t${e.ts}\t${e.key}\t${e.version}\t${e.op}\t${e.app}\t\\N\t${e.count}\t\\N\n`).join('');
  const client = await system.db.pool.connect();
  try {
    const started = performance.now();
    const copy = client.query(copyFrom('COPY usage_events (event_id, ts, key, version, op, app, node, count, sensitivity) FROM STDIN'));
    await pipeline(Readable.from([Buffer.from(text)]), copy);
    return (performance.now() - started) / 1000;
  } finally {
    client.release();
  }
}

async function viaApi(system: RunningSystem, token: string, events: BenchEvent[]): Promise<number> {
  const bodies: string[] = [];
  for (let from = 0; from < events.length; from += MAX_BATCH) {
    bodies.push(JSON.stringify(events.slice(from, from + MAX_BATCH).map(({ eventId, ts, key, kid, op, app, count }) => ({ eventId, ts, key, kid, op, app, count }))));
  }
  const started = performance.now();
  for (const body of bodies) {
    const response = await fetch(`${system.apiUrl}/usage`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
    if (!response.ok) throw new Error(`POST /usage: ${response.status} ${await response.text()}`);
    await response.arrayBuffer();
  }
  return (performance.now() - started) / 1000;
}

function runIngest(file: string, url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['bin/keyrotor.js', 'ingest', file, '--url', url], { cwd: projectRoot, env: { ...process.env, KEYROTOR_TOKEN: token }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`keyrotor ingest exited ${code}: ${stderr}`));
      else resolve((performance.now() - started) / 1000);
    });
  });
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 100_000);
  const rounds = Number(process.argv[3] ?? 3);
  const { dataDir, config } = await benchSystemConfig({ api: 'listen' });
  process.stderr.write(`starting the system in ${dataDir} ...\n`);
  const system = await startSystem(config, { log: () => undefined, apiLogger: false, schedules: false });
  try {
    const { token, call } = await operatorApi(system);
    const names = Array.from({ length: KEYS }, (_, i) => `ingest-${i}`);
    process.stderr.write(`creating ${KEYS} keys ...\n`);
    const keys = await createActiveKeys(call, names, { type: 'ec-p256' });

    const events = makeEvents(n, keys, Date.now());
    const file = join(dataDir, 'events.ndjson');
    const empty = join(dataDir, 'empty.ndjson');
    writeFileSync(empty, '');

    const times = { copy: [] as number[], api: [] as number[], cli: [] as number[], cliStart: [] as number[] };
    for (let round = 1; round <= rounds; round += 1) {
      process.stderr.write(`round ${round} of ${rounds}: COPY`);
      const copied = renamed(events, `${round}-copy`);
      let before = await storedCounts(system);
      times.copy.push(await viaCopy(system, copied));
      await checkStored(system, copied, false, before);
      process.stderr.write(', API');
      const posted = renamed(events, `${round}-api`);
      before = await storedCounts(system);
      times.api.push(await viaApi(system, token, posted));
      await checkStored(system, posted, true, before);
      process.stderr.write(', CLI');
      const ingested = renamed(events, `${round}-cli`);
      writeFileSync(file, `${ingested.map(({ eventId, ts, key, kid, op, app, count }) => JSON.stringify({ eventId, ts, key, kid, op, app, count })).join('\n')}\n`);
      before = await storedCounts(system);
      times.cli.push(await runIngest(file, system.apiUrl, token));
      await checkStored(system, ingested, true, before);
      times.cliStart.push(await runIngest(empty, system.apiUrl, token));
      process.stderr.write('\n');
    }

    const rate = (seconds: number): number => Math.round(n / seconds);
    // Other work on the machine drifts between rounds; a ratio taken within one round, the modes seconds apart, is
    // steadier than the ratio of the medians.
    const roundRatio = (list: number[]): number => Number(median(list.map((t, i) => times.copy[i]! / t)).toFixed(3));
    const copy = median(times.copy);
    const api = median(times.api);
    const cli = median(times.cli);
    const cliStart = median(times.cliStart);
    process.stdout.write(`${JSON.stringify({
      events: n,
      keys: KEYS,
      rounds,
      copyBaseline: { seconds: Number(copy.toFixed(3)), eventsPerSecond: rate(copy) },
      api: { seconds: Number(api.toFixed(3)), eventsPerSecond: rate(api), ratioToCopy: Number((rate(api) / rate(copy)).toFixed(3)), medianRoundRatioToCopy: roundRatio(times.api) },
      cli: {
        seconds: Number(cli.toFixed(3)),
        eventsPerSecond: rate(cli),
        ratioToCopy: Number((rate(cli) / rate(copy)).toFixed(3)),
        medianRoundRatioToCopy: roundRatio(times.cli),
        startupSeconds: Number(cliStart.toFixed(3)),
        eventsPerSecondWithoutStartup: rate(cli - cliStart),
      },
      allRoundsSeconds: Object.fromEntries(Object.entries(times).map(([mode, list]) => [mode, list.map((t) => Number(t.toFixed(3)))])),
    }, null, 2)}\n`);
  } finally {
    await system.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/ingest failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
