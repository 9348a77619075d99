import type { RowProblem, UsageEvent } from '../../domain/usage/events';
import type { Database, Queryable } from './database';

export type IngestOutcome = { kind: 'refused'; problems: RowProblem[] } | { kind: 'stored'; stored: number; duplicates: number };

/**
 * Stores a validated batch in one transaction: each event's version resolved (by kid or number) against the recorded
 * versions, raw events inserted (a repeated event id is stored once), hourly aggregates grown by the new ones only.
 * An event naming an unknown key or version refuses the whole batch.
 */
export async function storeUsageBatch(db: Database, events: UsageEvent[]): Promise<IngestOutcome> {
  return db.transaction(async (tx) => {
    const names = [...new Set(events.map((event) => event.key))];
    const { rows } = await tx.query<{ name: string; version: number; kid: string }>('SELECT name, version, kid FROM key_versions WHERE name = ANY($1)', [names]);
    const byKid = new Map(rows.map((row) => [row.kid, row]));
    const byVersion = new Set(rows.map((row) => `${row.name}/${row.version}`));
    const problems: RowProblem[] = [];
    const versions = events.map((event, row) => {
      const fromKid = event.kid ? byKid.get(event.kid) : undefined;
      if (event.kid && (!fromKid || fromKid.name !== event.key)) {
        problems.push({ row, problems: [`kid '${event.kid}' is not a version of key '${event.key}'`] });
        return 0;
      }
      const version = event.version ?? fromKid?.version ?? 0;
      if (fromKid && event.version !== null && fromKid.version !== event.version) {
        problems.push({ row, problems: [`kid '${event.kid}' is version ${fromKid.version}, not ${event.version}`] });
      } else if (!byVersion.has(`${event.key}/${version}`)) {
        problems.push({ row, problems: [`key '${event.key}' has no version ${version}`] });
      }
      return version;
    });
    if (problems.length > 0) return { kind: 'refused', problems };
    // One statement: the aggregates grow by exactly the rows the insert kept (a repeated event id adds nothing), and no
    // row travels back to Node. Hours are cut in UTC whatever the session's time zone.
    const { rows: [result] } = await tx.query<{ stored: number }>(
      `WITH inserted AS (
         INSERT INTO usage_events (event_id, ts, key, version, op, app, node, count, sensitivity)
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[])
         ON CONFLICT (event_id) DO NOTHING
         RETURNING key, version, op, ts, count
       ), hourly AS (
         INSERT INTO usage_hourly (key, version, op, hour, count)
         SELECT key, version, op, date_trunc('hour', ts, 'UTC'), sum(count) FROM inserted GROUP BY 1, 2, 3, 4
         ON CONFLICT (key, version, op, hour) DO UPDATE SET count = usage_hourly.count + EXCLUDED.count
       )
       SELECT count(*)::int AS stored FROM inserted`,
      [
        events.map((e) => e.eventId), events.map((e) => e.ts), events.map((e) => e.key), versions, events.map((e) => e.op),
        events.map((e) => e.app), events.map((e) => e.node), events.map((e) => e.count), events.map((e) => e.sensitivity),
      ],
    );
    const stored = result?.stored ?? 0;
    return { kind: 'stored', stored, duplicates: events.length - stored };
  });
}

/**
 * Recorded signing use of a version after a moment, and whether any usage of the key was ever reported. The second
 * is read from the hourly aggregates, which outlive the raw events: a key whose old events passed their retention
 * still has evidence.
 */
export async function signsAfter(db: Database, input: { key: string; version: number; since: string }): Promise<{ evidence: 'none' | 'events'; count: number; apps: string[] }> {
  const any = await db.query('SELECT 1 FROM usage_hourly WHERE key = $1 LIMIT 1', [input.key]);
  if (any.rowCount === 0) return { evidence: 'none', count: 0, apps: [] };
  const { rows } = await db.query<{ app: string; count: string }>(
    "SELECT app, sum(count) AS count FROM usage_events WHERE key = $1 AND version = $2 AND op = 'sign' AND ts > $3 GROUP BY app ORDER BY app",
    [input.key, input.version, input.since],
  );
  return { evidence: 'events', count: rows.reduce((sum, row) => sum + Number(row.count), 0), apps: rows.map((row) => row.app) };
}

/**
 * Deletes at most `limit` raw usage events older than `before`, in one short transaction, and says how many went.
 * The hourly aggregates are another table and stay.
 */
export async function deleteRawUsageBatch(db: Queryable, input: { before: Date; limit: number }): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM usage_events WHERE id IN (SELECT id FROM usage_events WHERE ts < $1 LIMIT $2)', [input.before, input.limit]);
  return rowCount ?? 0;
}
