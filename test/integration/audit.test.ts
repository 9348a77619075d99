import { appendAudit } from '../../adapters/postgres/audit-repository';
import { recordKeyEvent, recordKeyEvents } from '../../adapters/postgres/key-repository';
import { newKeyState } from '../../domain/keys/lifecycle-state';
import { DEFAULT_POLICY } from '../../domain/keys/policy';
import type { RunningSystem } from '../../workers/system';
import type { Database } from '../../adapters/postgres/database';
import { eventually } from '../support/eventually';
import { startTestSystem, superuserDatabase, tokenFor } from '../support/system';

interface Verification {
  ok: boolean;
  entries: number;
  problems: Array<{ seq: number; kind: string; message: string }>;
}

describe('audit log on PostgreSQL', () => {
  let system: RunningSystem;
  let superuser: Database;
  let auditor: string;

  beforeAll(async () => {
    system = await startTestSystem();
    superuser = superuserDatabase(system.config);
    auditor = await tokenFor(system, 'auditor');
    for (let i = 0; i < 5; i += 1) {
      await system.db.transaction((tx) => appendAudit(tx, { actor: 'test', action: 'key.rotated', subject: `key/k${i}`, details: { version: i + 1 } }));
    }
  });

  afterAll(async () => {
    await superuser?.close();
    await system?.stop();
  });

  const verify = async (): Promise<Verification> => {
    const reply = await system.app.inject({ method: 'GET', url: '/audit/verify', headers: { authorization: `Bearer ${auditor}` } });
    expect(reply.statusCode).toBe(200);
    return reply.json<Verification>();
  };

  /** What an intruder with database superuser rights can do: switch the append-only trigger off and edit. */
  const tamper = async (sql: string, values: unknown[]): Promise<void> => {
    await superuser.transaction(async (tx) => {
      await tx.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
      await tx.query(sql, values);
      await tx.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only');
    });
  };

  it('refuses ordinary updates and deletes: the application role has no right to, and the trigger stops even a superuser', async () => {
    // Both are SQLSTATE 42501; PostgreSQL's own message (the cause) says which guard stopped the statement.
    const refusedBy = (message: RegExp) => ({ code: 'db_42501', cause: expect.objectContaining({ message: expect.stringMatching(message) }) });
    await expect(system.db.query("UPDATE audit_log SET actor = 'x'")).rejects.toMatchObject(refusedBy(/permission denied for table audit_log/));
    await expect(system.db.query('DELETE FROM audit_log')).rejects.toMatchObject(refusedBy(/permission denied for table audit_log/));
    await expect(superuser.query("UPDATE audit_log SET actor = 'x'")).rejects.toMatchObject(refusedBy(/audit_log is append-only/));
    await expect(superuser.query('DELETE FROM audit_log')).rejects.toMatchObject(refusedBy(/audit_log is append-only/));
  });

  it('lists entries a page at a time for auditors, and not for operators', async () => {
    const first = await system.app.inject({ method: 'GET', url: '/audit?limit=2', headers: { authorization: `Bearer ${auditor}` } });
    const page = first.json<{ entries: Array<{ seq: number; action: string }>; nextAfterSeq: number }>();
    expect(page.entries.map((entry) => entry.seq)).toEqual([1, 2]);
    expect(page.nextAfterSeq).toBe(2);
    const operator = await tokenFor(system, 'operator');
    const refused = await system.app.inject({ method: 'GET', url: '/audit', headers: { authorization: `Bearer ${operator}` } });
    expect(refused.statusCode).toBe(403);
    expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
  });

  it('records the steps of several keys in one transaction, each with its audit entry in order, an event already recorded not again', async () => {
    const state = (name: string, eventSeq: number) => ({ ...newKeyState({ name, keyType: 'ec-p256', policy: DEFAULT_POLICY, actor: 'test', now: new Date().toISOString() }), eventSeq });
    const event = (name: string, seq: number) => ({ id: `${name}/${seq}`, action: 'key.created', actor: 'test', details: { seq } });
    await recordKeyEvent(system.db, state('batch-c', 1), event('batch-c', 1));
    const before = Number((await system.db.query<{ seq: string }>('SELECT max(seq) AS seq FROM audit_log')).rows[0]?.seq);
    const results = await recordKeyEvents(system.db, [
      { state: state('batch-a', 1), event: event('batch-a', 1) },
      { state: state('batch-b', 1), event: event('batch-b', 1) },
      // The same step twice (an attempt retried while the first waited) and a step recorded before.
      { state: state('batch-a', 1), event: event('batch-a', 1) },
      { state: state('batch-c', 1), event: event('batch-c', 1) },
      { state: state('batch-a', 2), event: event('batch-a', 2) },
    ]);
    expect(results).toEqual([{ recorded: true }, { recorded: true }, { recorded: false }, { recorded: false }, { recorded: true }]);
    const { rows } = await system.db.query<{ seq: string; subject: string; details: { eventId: string } }>('SELECT seq, subject, details FROM audit_log WHERE seq > $1 ORDER BY seq', [before]);
    expect(rows.map((row) => [Number(row.seq), row.subject, row.details.eventId])).toEqual([
      [before + 1, 'key/batch-a', 'batch-a/1'], [before + 2, 'key/batch-b', 'batch-b/1'], [before + 3, 'key/batch-a', 'batch-a/2'],
    ]);
    const keys = await system.db.query<{ name: string; event_seq: string }>("SELECT name, event_seq FROM keys WHERE name LIKE 'batch-%' ORDER BY name");
    expect(keys.rows.map((row) => [row.name, Number(row.event_seq)])).toEqual([['batch-a', 2], ['batch-b', 1], ['batch-c', 1]]);
  });

  it('records steps of several keys together beside a change of one of them that locks its row and then the map epoch', async () => {
    const state = (name: string, eventSeq: number) => ({ ...newKeyState({ name, keyType: 'ec-p256', policy: DEFAULT_POLICY, actor: 'test', now: new Date().toISOString() }), eventSeq });
    const event = (name: string, seq: number) => ({ id: `${name}/${seq}`, action: 'key.created', actor: 'test', details: { seq } });
    await recordKeyEvents(system.db, [{ state: state('lock-x', 1), event: event('lock-x', 1) }, { state: state('lock-y', 1), event: event('lock-y', 1) }]);
    let batch: Promise<Array<{ recorded: boolean }>> | undefined;
    // As an evaluation's prediction write does: the key's row first, then (its trigger) the map's epoch row, here with
    // the batch started in between and waiting for the row.
    await system.db.transaction(async (tx) => {
      await tx.query("SELECT 1 FROM keys WHERE name = 'lock-y' FOR UPDATE");
      // Both change what the map shows (their phase), so that each upsert bumps the epoch.
      const active = (name: string) => ({ ...state(name, 2), phase: 'active' as const });
      batch = recordKeyEvents(system.db, [{ state: active('lock-x'), event: event('lock-x', 2) }, { state: active('lock-y'), event: event('lock-y', 2) }]);
      batch.catch(() => undefined);
      await eventually(async () => ((await system.db.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%keys%'")).rowCount ?? 0) > 0 || undefined, 'the batch to wait for a key row', 30_000, 20);
      await tx.query("UPDATE keys SET prediction = jsonb_build_object('at', clock_timestamp()::text) WHERE name = 'lock-y'");
    });
    await expect(batch).resolves.toEqual([{ recorded: true }, { recorded: true }]);
  });

  it('records steps of several keys together while another transaction holds a usage event of one of them', async () => {
    const state = (name: string, eventSeq: number) => ({ ...newKeyState({ name, keyType: 'ec-p256', policy: DEFAULT_POLICY, actor: 'test', now: new Date().toISOString() }), eventSeq });
    const event = (name: string, seq: number) => ({ id: `${name}/${seq}`, action: 'key.created', actor: 'test', details: { seq } });
    await system.db.transaction(async (tx) => {
      // Its foreign key holds lock-y's row for key share until this transaction ends.
      await tx.query("INSERT INTO usage_events (ts, key, version, op, app, count, source) VALUES (now(), 'lock-y', 1, 'sign', 'test', 1, 'app-report')");
      let settled = false;
      const batch = recordKeyEvents(system.db, [{ state: state('lock-x', 3), event: event('lock-x', 3) }, { state: state('lock-y', 3), event: event('lock-y', 3) }]);
      batch.then(() => { settled = true; }, () => { settled = true; });
      const outcome = await eventually(async () => {
        if (settled) return 'settled';
        return ((await system.db.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%keys%'")).rowCount ?? 0) > 0 ? 'waits for the usage event' : undefined;
      }, 'the batch to settle or to wait', 30_000, 20);
      expect(outcome).toBe('settled');
      await expect(batch).resolves.toEqual([{ recorded: true }, { recorded: true }]);
    });
  });

  it('verifies an intact log', async () => {
    const result = await verify();
    expect(result.ok).toBe(true);
    expect(result.problems).toEqual([]);
    expect(result.entries).toBeGreaterThanOrEqual(5);
    // No key map sync ran, so no node anchors the log: an intact chain alone is not called anchored.
    expect(result).toMatchObject({ anchored: false, anchors: [] });
  });

  it('catches a modified entry', async () => {
    const { rows } = await system.db.query<{ seq: string }>("SELECT seq FROM audit_log WHERE subject = 'key/k2'");
    const seq = Number(rows[0]?.seq);
    await tamper(`UPDATE audit_log SET details = '{"version": 99}' WHERE seq = $1`, [seq]);
    const result = await verify();
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([{ seq, kind: 'modified', message: `entry ${seq} was modified after it was written (its hash does not match its content)` }]);
    await tamper(`UPDATE audit_log SET details = '{"version": 3}' WHERE seq = $1`, [seq]);
    expect((await verify()).ok).toBe(true);
  });

  it('catches a deleted entry', async () => {
    const { rows } = await system.db.query<{ seq: string }>("SELECT seq FROM audit_log WHERE subject = 'key/k3'");
    const seq = Number(rows[0]?.seq);
    await tamper('DELETE FROM audit_log WHERE seq = $1', [seq]);
    const result = await verify();
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([
      { seq: seq + 1, kind: 'missing', message: `entry ${seq} is missing before entry ${seq + 1}` },
      { seq: seq + 1, kind: 'broken-link', message: `entry ${seq + 1} does not point at the hash of the entry before it` },
    ]);
  });
});
