import { join } from 'node:path';
import { startTemporalDevServer, type DevServerHandle } from '../../adapters/temporal/dev-server';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { freePort } from '../support/ports';
import { callApiAs, startTestSystem, testConfig, tokenFor, uniqueName } from '../support/system';

/**
 * A rotation whose Update the Temporal server aborts while the call waits must be answered with its outcome, not a 500.
 * The server keeps the Updates in flight in a workflow's in-memory context; when that context leaves its history cache
 * (at 3,000 keys, bench/scale.ts, contexts are evicted all the time), the waiting calls end with UNAVAILABLE "workflow
 * update was aborted" once the server's and the client's retries are spent, and the API answered 500 `internal_error`
 * for rotations that went on. Here the server's cache holds one workflow, and ten keys rotate at once while the
 * process's event loop is held in long stretches.
 */
/**
 * Keys rotating at once. With a cache of one workflow every one of them is evicted again and again; 20 keys took 283 s
 * and 604 s (against a 600 s timeout) in two CI runs of two test files at a time, most of it the busy event loop below.
 */
const KEYS = 10;

describe('rotations whose Update calls the server aborts', () => {
  let temporal: DevServerHandle;
  let system: RunningSystem;
  let operator: string;

  beforeAll(async () => {
    const runDir = process.env.KEYROTOR_TEST_RUN_DIR as string;
    temporal = await startTemporalDevServer({
      dataDir: join(runDir, uniqueName('temporal-small-cache-')),
      port: await freePort(),
      uiPort: await freePort(),
      namespace: 'default',
      log: () => undefined,
      dynamicConfig: { 'history.cacheMaxSize': 1, 'history.hostLevelCacheMaxSize': 1 },
    });
    system = await startTestSystem(await testConfig({ env: { TEMPORAL_ADDRESS: temporal.address } }));
    operator = await tokenFor(system, 'operator');
  });

  afterAll(async () => {
    await system?.stop();
    await temporal?.stop();
  });

  const versions = async (name: string): Promise<string[]> =>
    ((await callApiAs(system, operator, 'GET', `/keys/${name}`)).body.versions as Array<{ version: number; state: string }>).map((v) => `v${v.version}:${v.state}`);

  it('answers every rotation with its new version', async () => {
    const names = Array.from({ length: KEYS }, () => uniqueName('evicted-'));
    for (const name of names) {
      expect((await callApiAs(system, operator, 'POST', '/keys', { name, type: 'ec-p256', policy: { publicationLead: '0s' } })).status).toBe(202);
    }
    for (const name of names) await eventually(async () => ((await versions(name)).includes('v1:active') ? true : undefined), `${name} v1 active`, 120_000);

    // The process is also as busy as at 3,000 keys, where synchronous PKCS#11 calls held its event loop for seconds:
    // workflow tasks take long, and each Update waits longer in the server's memory before its workflow accepts it.
    let rotating = true;
    const busy = (): void => {
      if (!rotating) return;
      const until = Date.now() + 3_000;
      while (Date.now() < until) {
        // Holds the event loop as a long synchronous call does.
      }
      setTimeout(busy, 1_000);
    };
    setTimeout(busy, 0);
    // Each rotation is asked with an Idempotency-Key. An answer of 503 update_outcome_unknown (the calls ended without
    // an outcome for longer than the API waits: possible on a machine much busier than this test's) is asked again with
    // the same key after its Retry-After, which gets the rotation's outcome; a 500 is never an answer.
    const rotate = async (name: string): Promise<{ name: string; status: number; version: unknown; code: unknown; unknownFirst: number }> => {
      const key = `rotate-${name}`;
      for (let unknownFirst = 0; ; unknownFirst += 1) {
        const reply = await system.app.inject({
          method: 'POST',
          url: `/keys/${name}/rotate`,
          headers: { authorization: `Bearer ${operator}`, 'idempotency-key': key },
          payload: { reason: 'rotation under cache eviction' },
        });
        const body = reply.json<Record<string, unknown>>();
        if (reply.statusCode === 503 && body.code === 'update_outcome_unknown') {
          expect(Number(reply.headers['retry-after'])).toBeGreaterThan(0);
          await new Promise((resolve) => setTimeout(resolve, 1_000 * Number(reply.headers['retry-after'])));
          continue;
        }
        return { name, status: reply.statusCode, version: body.version, code: body.code, unknownFirst };
      }
    };
    const answers = await Promise.all(names.map(rotate)).finally(() => {
      rotating = false;
    });

    expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
    // The test saw what it is about: Update calls that the server ended without an outcome, made again.
    const metrics = (await system.app.inject({ method: 'GET', url: '/metrics' })).body;
    const retried = [...metrics.matchAll(/^keyrotor_api_update_calls_retried_total\{[^}]*\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    process.stderr.write(`[update-outcome] ${retried} Update call(s) ended without an outcome and were made again\n`);
    expect(retried).toBeGreaterThan(0);
    expect(answers.map((answer) => answer.version)).toEqual(names.map(() => 2));
    // Asked again, a rotation is not made twice: v2 is the newest version of every key.
    for (const name of names) {
      const found = await versions(name);
      expect(found).toEqual(expect.arrayContaining(['v2:active']));
      expect(found.some((v) => v.startsWith('v3:'))).toBe(false);
    }
  }, 900_000);
});
