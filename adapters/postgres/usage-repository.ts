import { PRIVATE_KEY_OPERATIONS, type RowProblem, type UsageEvent, type UsageOperation, type UsageSource } from '../../domain/usage/events';
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
    const stored = await insertUsage(tx, events.map((event, row) => ({ ...event, version: versions[row] as number })), 'app-report');
    return { kind: 'stored', stored, duplicates: events.length - stored };
  });
}

/** A use with its version resolved, as insertUsage stores it. */
export type ResolvedUse = Omit<UsageEvent, 'version' | 'kid'> & { version: number };

/**
 * Inserts raw events and grows the hourly aggregates of their source by exactly the rows kept (a repeated event id
 * adds nothing), in one statement: no row travels back to Node. Hours are cut in UTC whatever the session's time zone.
 */
export async function insertUsage(tx: Queryable, events: ResolvedUse[], source: UsageSource): Promise<number> {
  if (events.length === 0) return 0;
  const { rows: [result] } = await tx.query<{ stored: number }>(
    `WITH inserted AS (
       INSERT INTO usage_events (event_id, ts, key, version, op, app, node, count, sensitivity, source)
       SELECT *, $10::text FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[])
       ON CONFLICT (event_id) DO NOTHING
       RETURNING key, version, op, ts, count
     ), hourly AS (
       INSERT INTO usage_hourly (key, version, op, hour, source, count)
       SELECT key, version, op, date_trunc('hour', ts, 'UTC'), $10::text, sum(count) FROM inserted GROUP BY 1, 2, 3, 4
       ON CONFLICT (key, version, op, hour, source) DO UPDATE SET count = usage_hourly.count + EXCLUDED.count
     )
     SELECT count(*)::int AS stored FROM inserted`,
    [
      events.map((e) => e.eventId), events.map((e) => e.ts), events.map((e) => e.key), events.map((e) => e.version), events.map((e) => e.op),
      events.map((e) => e.app), events.map((e) => e.node), events.map((e) => e.count), events.map((e) => e.sensitivity), source,
    ],
  );
  return result?.stored ?? 0;
}

/**
 * The hourly aggregates as one series: per key, version, operation and hour, the larger of the sources' counts (the
 * HSM's view where a log is read, the reports elsewhere; see USAGE_SOURCES). A FROM item for the readers.
 */
export const USAGE_HOURLY_ONE_SERIES = '(SELECT key, version, op, hour, max(count) AS count FROM usage_hourly GROUP BY key, version, op, hour)';

/**
 * Recorded signing use of a version after a moment, and whether any usage of the key was ever reported. The second
 * is read from the hourly aggregates, which outlive the raw events: a key whose old events passed their retention
 * still has evidence.
 */
export async function signsAfter(db: Database, input: { key: string; version: number; since: string; operations?: readonly UsageOperation[] }): Promise<{ evidence: 'none' | 'events'; count: number; apps: string[] }> {
  const any = await db.query('SELECT 1 FROM usage_hourly WHERE key = $1 LIMIT 1', [input.key]);
  if (any.rowCount === 0) return { evidence: 'none', count: 0, apps: [] };
  // Per application, the larger of what it reported and what its access log showed: one use is not counted twice.
  const { rows } = await db.query<{ app: string; count: string }>(
    `SELECT app, max(count) AS count FROM (
       SELECT app, source, sum(count) AS count FROM usage_events WHERE key = $1 AND version = $2 AND op = ANY($4) AND ts > $3 GROUP BY app, source
     ) AS per_source GROUP BY app ORDER BY app`,
    [input.key, input.version, input.since, input.operations ?? ['sign']],
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

export interface UsageBySource {
  /** Private-key operations per hour and source, from the hourly aggregates. */
  hourly: Array<{ hour: number; source: UsageSource; count: number }>;
  /** Every operation per source, application, node, version and operation since the moment asked, from the raw events. */
  uses: Array<{ source: UsageSource; app: string; node: string | null; version: number; op: string; count: number; lastAt: string }>;
}

/** A key's use since `since` as each source saw it: what GET /keys/:name/usage shows beside the one series. */
export async function usageBySource(db: Queryable, input: { key: string; since: Date }): Promise<UsageBySource> {
  const hourly = await db.query<{ hour: Date; source: UsageSource; count: string }>(
    'SELECT hour, source, sum(count) AS count FROM usage_hourly WHERE key = $1 AND op = ANY($2) AND hour >= $3 GROUP BY hour, source ORDER BY hour, source',
    [input.key, PRIVATE_KEY_OPERATIONS, input.since],
  );
  const uses = await db.query<{ source: UsageSource; app: string; node: string | null; version: number; op: string; count: string; last_at: Date }>(
    `SELECT source, app, node, version, op, sum(count) AS count, max(ts) AS last_at FROM usage_events
     WHERE key = $1 AND ts >= $2 GROUP BY source, app, node, version, op ORDER BY source, app, node, version, op`,
    [input.key, input.since],
  );
  return {
    hourly: hourly.rows.map((row) => ({ hour: row.hour.getTime(), source: row.source, count: Number(row.count) })),
    uses: uses.rows.map((row) => ({ source: row.source, app: row.app, node: row.node, version: row.version, op: row.op, count: Number(row.count), lastAt: row.last_at.toISOString() })),
  };
}

/**
 * Per application and version, the private-key operations the HSM access logs showed (`hsm-log`) and those the
 * application reported (`app-report`) since a moment: what the risk score's unreported-use component compares. Only
 * applications some access log shows are listed; the node is where the log is.
 */
export async function observedAgainstReported(db: Queryable, input: { key: string; since: Date }): Promise<Array<{ app: string; node: string | null; version: number; seen: number; reported: number }>> {
  const { rows } = await db.query<{ app: string; node: string | null; version: number; seen: string; reported: string }>(
    `SELECT app, max(node) FILTER (WHERE source = 'hsm-log') AS node, version,
            coalesce(sum(count) FILTER (WHERE source = 'hsm-log'), 0) AS seen,
            coalesce(sum(count) FILTER (WHERE source = 'app-report'), 0) AS reported
     FROM usage_events WHERE key = $1 AND ts >= $2 AND op = ANY($3)
     GROUP BY app, version HAVING count(*) FILTER (WHERE source = 'hsm-log') > 0 ORDER BY app, version`,
    [input.key, input.since, PRIVATE_KEY_OPERATIONS],
  );
  return rows.map((row) => ({ app: row.app, node: row.node, version: row.version, seen: Number(row.seen), reported: Number(row.reported) }));
}
