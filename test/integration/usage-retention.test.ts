import { ScheduleOverlapPolicy } from '@temporalio/client';
import { signsAfter } from '../../adapters/postgres/usage-repository';
import { ensureUsageRetentionSchedule } from '../../adapters/temporal/schedules';
import { USAGE_RETENTION_SCHEDULE_ID, deploymentScheduleId, keyWorkflowId } from '../../domain/identifiers';
import type { UsageRetentionResult } from '../../workflows/usage-retention';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { startTestSystem, superuserDatabase, testConfig, tokenFor, uniqueName } from '../support/system';

const HOUR = 3_600_000;

describe('raw usage event and risk evaluation retention', () => {
  let system: RunningSystem;
  let operator: string;
  let kid: string;
  // A key rotated by a risk evaluation: its new versions' lineage names the evaluations that triggered them.
  const rotatedKey = uniqueName('rotated-');
  // Raw events are kept 2 days here: a key's grace period may not outlast them.
  // No publication lead: a rotation activates its version at once (the lead is not what this file is about).
  const withinRetention = { gracePeriod: '1h', maxGracePeriod: '1d', publicationLead: '0s' };

  beforeAll(async () => {
    system = await startTestSystem(await testConfig({ env: { KEYROTOR_USAGE_RAW_RETENTION: '2d', KEYROTOR_EVALUATION_RETENTION: '2d' } }));
    operator = await tokenFor(system, 'operator');
    const created = await system.app.inject({ method: 'POST', url: '/keys', headers: { authorization: `Bearer ${operator}` }, payload: { name: 'kept-key', type: 'ec-p256', policy: withinRetention } });
    expect(created.statusCode).toBe(202);
    kid = await eventually(async () => {
      const { rows } = await system.db.query<{ kid: string }>("SELECT kid FROM key_versions WHERE name = 'kept-key' AND state = 'active'");
      return rows[0]?.kid;
    }, 'the first version of kept-key');
  });

  afterAll(async () => {
    // The Temporal server is shared by the test files of this run: leave no schedule and no key workflow behind.
    await system?.client.schedule.getHandle(deploymentScheduleId(USAGE_RETENTION_SCHEDULE_ID, system.config.temporal.controlTaskQueue)).delete().catch(() => undefined);
    await Promise.allSettled(['kept-key', rotatedKey].map((name) => system?.client.workflow.getHandle(keyWorkflowId(name)).terminate('test file finished')));
    await system?.stop();
  });

  const post = async (events: Array<{ ageMs: number; op: string; id: string }>): Promise<void> => {
    const now = Date.now();
    const reply = await system.app.inject({
      method: 'POST',
      url: '/usage',
      headers: { authorization: `Bearer ${operator}` },
      payload: events.map((e) => ({ ts: new Date(now - e.ageMs).toISOString(), key: 'kept-key', kid, op: e.op, app: 'checkout', eventId: e.id })),
    });
    expect(reply.json()).toEqual({ stored: events.length, duplicates: 0 });
  };
  const rawEventIds = async (): Promise<string[]> => (await system.db.query<{ event_id: string }>('SELECT event_id FROM usage_events ORDER BY event_id')).rows.map((row) => row.event_id);
  const hourly = async (): Promise<Array<{ op: string; hour: Date; count: string }>> =>
    (await system.db.query<{ op: string; hour: Date; count: string }>('SELECT op, hour, count FROM usage_hourly ORDER BY hour, op')).rows;

  it('refuses a key policy whose grace period could outlast the raw usage events the end-of-grace check counts, and changes nothing', async () => {
    const headers = { authorization: `Bearer ${operator}` };
    const name = uniqueName('long-grace-');
    const created = await system.app.inject({ method: 'POST', url: '/keys', headers, payload: { name, type: 'ec-p256', policy: { gracePeriod: '1h', maxGracePeriod: '3d' } } });
    expect(created.statusCode).toBe(400);
    expect(created.json()).toMatchObject({ code: 'grace_outlasts_usage_retention', detail: expect.stringContaining('usage.rawRetention (2d)') });
    // The default policy (maxGracePeriod 30d) is refused too here, and nothing of either key exists.
    expect((await system.app.inject({ method: 'POST', url: '/keys', headers, payload: { name: `${name}-b`, type: 'ec-p256' } })).statusCode).toBe(400);
    expect((await system.db.query('SELECT 1 FROM keys WHERE name LIKE $1', [`${name}%`])).rowCount).toBe(0);

    const patched = await system.app.inject({ method: 'PATCH', url: '/keys/kept-key/policy', headers, payload: { maxGracePeriod: '3d' } });
    expect(patched.statusCode).toBe(400);
    expect(patched.json()).toMatchObject({ code: 'grace_outlasts_usage_retention' });
    const { rows } = await system.db.query<{ policy: { maxGracePeriod: string } }>("SELECT policy FROM keys WHERE name = 'kept-key'");
    expect(rows[0]?.policy.maxGracePeriod).toBe('1d');
    // Within the retention the change goes through.
    expect((await system.app.inject({ method: 'PATCH', url: '/keys/kept-key/policy', headers, payload: { maxGracePeriod: '2d' } })).statusCode).toBe(200);
  });

  it('deletes raw events past the retention on its hourly schedule, and keeps recent events and every hourly aggregate', async () => {
    await post([
      { ageMs: 3 * 24 * HOUR, op: 'sign', id: 'old-1' },
      { ageMs: 3 * 24 * HOUR, op: 'sign', id: 'old-2' },
      { ageMs: 5 * 24 * HOUR, op: 'verify', id: 'old-3' },
      { ageMs: 49 * HOUR, op: 'sign', id: 'old-4' },
      { ageMs: 47 * HOUR, op: 'sign', id: 'recent-1' },
      { ageMs: HOUR, op: 'verify', id: 'recent-2' },
    ]);
    const aggregates = await hourly();
    expect(aggregates.reduce((sum, row) => sum + Number(row.count), 0)).toBe(6);

    await ensureUsageRetentionSchedule(system.client, system.config.temporal.controlTaskQueue);
    const handle = system.client.schedule.getHandle(deploymentScheduleId(USAGE_RETENTION_SCHEDULE_ID, system.config.temporal.controlTaskQueue));
    expect((await handle.describe()).spec.intervals).toEqual([expect.objectContaining({ every: HOUR })]);
    await handle.trigger(ScheduleOverlapPolicy.ALLOW_ALL);
    await eventually(async () => ((await rawEventIds()).some((id) => id.startsWith('old-')) ? undefined : true), 'the old raw events to go', 120_000);

    expect(await rawEventIds()).toEqual(['recent-1', 'recent-2']);
    expect(await hourly()).toEqual(aggregates);
  });

  it('deletes in bounded batches until none is left, and a key whose raw events all went keeps its usage evidence', async () => {
    await post(Array.from({ length: 7 }, (_, i) => ({ ageMs: (60 + i) * 24 * HOUR, op: 'sign', id: `older-${i}` })));
    const result = await system.client.workflow.execute('usageRetentionWorkflow', {
      taskQueue: system.config.temporal.controlTaskQueue,
      workflowId: uniqueName('test-usage-retention/'),
      args: [{ batchSize: 3 }],
    });
    expect(result).toMatchObject({ deleted: 7, batches: 3, evaluations: { deleted: 0, batches: 1 } });
    expect(await rawEventIds()).toEqual(['recent-1', 'recent-2']);

    await system.db.query("DELETE FROM usage_events WHERE key = 'kept-key'");
    expect(await signsAfter(system.db, { key: 'kept-key', version: 1, since: new Date(Date.now() - HOUR).toISOString() })).toEqual({ evidence: 'events', count: 0, apps: [] });
  });

  it('deletes risk evaluations past their retention in bounded batches, and keeps recent ones, each key\'s newest and the evidence of rotations', async () => {
    const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) => {
      const reply = await system.app.inject({ method, url, headers: { authorization: `Bearer ${operator}` }, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
      return { status: reply.statusCode, body: reply.body === '' ? {} : reply.json<Record<string, unknown>>() };
    };
    interface Evaluation { evaluation_id: string; key: string; evaluated_at: Date; rotate: boolean; version: number }
    const evaluationsOf = async (key: string): Promise<Evaluation[]> =>
      (await system.db.query<Evaluation>('SELECT evaluation_id, key, evaluated_at, rotate, version FROM risk_evaluations WHERE key = $1 ORDER BY evaluated_at', [key])).rows;
    const evidenceOf = async (key: string): Promise<string[]> =>
      (await system.db.query<{ id: string }>("SELECT lineage #>> '{evidence,evaluationId}' AS id FROM key_versions WHERE name = $1 AND lineage ? 'evidence' ORDER BY version", [key])).rows.map((row) => row.id);

    // A key whose risk evaluation rotates it: a critical threat indicator wakes it (minRotationInterval 1s lets it act).
    expect((await call('POST', '/keys', { name: rotatedKey, type: 'ec-p256', policy: { ...withinRetention, evaluationInterval: '1d', minRotationInterval: '1s' } })).status).toBe(202);
    await eventually(async () => ((await evaluationsOf(rotatedKey)).length > 0 ? true : undefined), `the first evaluation of ${rotatedKey}`, 120_000);
    const indicator = { id: `threat-${rotatedKey}`, severity: 'critical', scope: 'key', target: rotatedKey, expiresAt: new Date(Date.now() + 86_400_000).toISOString(), source: 'test' };
    expect((await call('POST', '/threat-intel', [indicator])).body).toMatchObject({ created: 1 });
    await eventually(async () => ((await evidenceOf(rotatedKey)).length > 0 ? true : undefined), `${rotatedKey} rotated on risk`, 120_000);
    // Each new version meets the same indicator and may rotate again until it is withdrawn; then the key settles.
    const withdrawnAt = Date.now();
    expect((await call('DELETE', `/threat-intel/${indicator.id}`)).status).toBe(204);
    await eventually(async () => {
      const key = (await call('GET', `/keys/${rotatedKey}`)).body as { activeVersion: number | null; phase: string };
      const newest = (await evaluationsOf(rotatedKey)).at(-1);
      return newest && newest.evaluated_at.getTime() > withdrawnAt && !newest.rotate && newest.version === key.activeVersion && key.phase !== 'rotating' ? true : undefined;
    }, `${rotatedKey} evaluated without the indicator`, 120_000);

    // Copies of kept-key's real evaluation at several ages; everything of the rotated key made a month old.
    const [real] = await eventually(async () => {
      const found = await evaluationsOf('kept-key');
      return found.length > 0 ? found : undefined;
    }, 'the first evaluation of kept-key', 120_000);
    for (const days of [10, 5, 3, 1]) {
      await system.db.query(
        `INSERT INTO risk_evaluations SELECT evaluation_id || '-aged-' || $2::int::text, key, version, evaluated_at - make_interval(days => $2::int), score, threshold,
           rotate, trigger, held_trigger, predicted_trigger, reason, predicted_rotation_at, next_evaluation_at, capacity_exhausted_at, used_count,
           components, weights, model_version, forecast_method, forecast, anomaly
         FROM risk_evaluations WHERE evaluation_id = $1`,
        [real?.evaluation_id, days],
      );
    }
    // Ageing rows is no operation of keyrotor's: its role may delete evaluations, never rewrite them.
    const superuser = superuserDatabase(system.config);
    try {
      await superuser.query("UPDATE risk_evaluations SET evaluated_at = evaluated_at - interval '30 days' WHERE key = $1", [rotatedKey]);
    } finally {
      await superuser.close();
    }
    const keptBefore = await evaluationsOf('kept-key');
    const rotatedBefore = await evaluationsOf(rotatedKey);
    const evidence = await evidenceOf(rotatedKey);
    const newestRotated = rotatedBefore.at(-1) as Evaluation;
    // The evidence is an older evaluation than the newest, so only the lineage keeps it.
    expect(evidence.length).toBeGreaterThan(0);
    expect(evidence).not.toContain(newestRotated.evaluation_id);
    const keepRotated = new Set([...evidence, newestRotated.evaluation_id]);
    expect(rotatedBefore.filter((e) => keepRotated.has(e.evaluation_id)).length).toBe(keepRotated.size);
    const retainedSince = Date.now() - 2 * 24 * HOUR;
    const keptRecent = keptBefore.filter((e) => e.evaluated_at.getTime() > retainedSince).map((e) => e.evaluation_id);
    expect(keptRecent).toContain(`${real?.evaluation_id}-aged-1`);
    const expectedDeleted = keptBefore.length - keptRecent.length + rotatedBefore.length - keepRotated.size;

    const result = await system.client.workflow.execute('usageRetentionWorkflow', {
      taskQueue: system.config.temporal.controlTaskQueue,
      workflowId: uniqueName('test-usage-retention/'),
      args: [{ batchSize: 2 }],
    }) as UsageRetentionResult;
    expect(result.evaluations).toEqual({ deleted: expectedDeleted, batches: Math.floor(expectedDeleted / 2) + 1, before: expect.any(String) });
    // The cut-off is two days before the pass ran (give or take the minutes this test took to get there).
    expect(Math.abs(Date.parse(result.evaluations.before) - retainedSince)).toBeLessThan(10 * 60_000);

    // kept-key: the copies older than two days went; the one a day old and the real ones stay.
    expect(keptBefore.length - keptRecent.length).toBe(3);
    expect((await evaluationsOf('kept-key')).map((e) => e.evaluation_id)).toEqual(keptRecent);
    // The rotated key: every evaluation is a month old; its newest and those its lineage names stay.
    expect((await evaluationsOf(rotatedKey)).map((e) => e.evaluation_id).sort()).toEqual([...keepRotated].sort());
    const shown = (await call('GET', `/keys/${rotatedKey}`)).body as { prediction: { evaluatedAt: string } };
    expect(shown.prediction.evaluatedAt).toBe(newestRotated.evaluated_at.toISOString());
    const history = (await call('GET', `/keys/${rotatedKey}/risk`)).body as { items: Array<{ evaluationId: string }> };
    expect(history.items.map((item) => item.evaluationId).sort()).toEqual([...keepRotated].sort());

    // A second pass finds nothing more to delete.
    const again = await system.client.workflow.execute('usageRetentionWorkflow', {
      taskQueue: system.config.temporal.controlTaskQueue,
      workflowId: uniqueName('test-usage-retention/'),
      args: [{}],
    }) as UsageRetentionResult;
    expect(again.evaluations).toMatchObject({ deleted: 0, batches: 1 });
  });
});
