import { ScheduleOverlapPolicy } from '@temporalio/client';
import { signsAfter } from '../../adapters/postgres/usage-repository';
import { ensureUsageRetentionSchedule } from '../../adapters/temporal/schedules';
import { USAGE_RETENTION_SCHEDULE_ID } from '../../domain/identifiers';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { startTestSystem, testConfig, tokenFor, uniqueName } from '../support/system';

const HOUR = 3_600_000;

describe('raw usage event retention', () => {
  let system: RunningSystem;
  let operator: string;
  let kid: string;

  beforeAll(async () => {
    system = await startTestSystem(await testConfig({ env: { KEYROTOR_USAGE_RAW_RETENTION: '2d' } }));
    operator = await tokenFor(system, 'operator');
    const created = await system.app.inject({ method: 'POST', url: '/keys', headers: { authorization: `Bearer ${operator}` }, payload: { name: 'kept-key', type: 'ec-p256' } });
    expect(created.statusCode).toBe(202);
    kid = await eventually(async () => {
      const { rows } = await system.db.query<{ kid: string }>("SELECT kid FROM key_versions WHERE name = 'kept-key' AND state = 'active'");
      return rows[0]?.kid;
    }, 'the first version of kept-key');
  });

  afterAll(async () => {
    // The Temporal server is shared by the test files of this run: leave no schedule behind.
    await system?.client.schedule.getHandle(USAGE_RETENTION_SCHEDULE_ID).delete().catch(() => undefined);
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
    const handle = system.client.schedule.getHandle(USAGE_RETENTION_SCHEDULE_ID);
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
    expect(result).toMatchObject({ deleted: 7, batches: 3 });
    expect(await rawEventIds()).toEqual(['recent-1', 'recent-2']);

    await system.db.query("DELETE FROM usage_events WHERE key = 'kept-key'");
    expect(await signsAfter(system.db, { key: 'kept-key', version: 1, since: new Date(Date.now() - HOUR).toISOString() })).toEqual({ evidence: 'events', count: 0, apps: [] });
  });
});
