import type { ThreatIndicator } from '../../domain/prediction/risk';
import type { SeverityLevel, ThreatScope, ValidIndicator } from '../../domain/threat-intel/indicators';
import { reachOfChanges, type IndicatorReach } from '../../domain/threat-intel/reach';
import { appendAudit } from './audit-repository';
import type { Database, Queryable } from './database';

export interface StoredIndicator extends ValidIndicator {
  /** Whether it still counts (expiresAt is after the time of the read). */
  live: boolean;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  updatedBy: string;
}

interface Row {
  id: string;
  severity: number;
  severity_level: SeverityLevel | null;
  scope: ThreatScope;
  target: string | null;
  expires_at: Date;
  source: string;
  created_at: Date;
  created_by: string;
  updated_at: Date;
  updated_by: string;
}

const toIndicator = (row: Row, now: Date): StoredIndicator => ({
  id: row.id,
  severity: row.severity,
  severityLevel: row.severity_level,
  scope: row.scope,
  target: row.target,
  expiresAt: row.expires_at.toISOString(),
  source: row.source,
  live: row.expires_at.getTime() > now.getTime(),
  createdAt: row.created_at.toISOString(),
  createdBy: row.created_by,
  updatedAt: row.updated_at.toISOString(),
  updatedBy: row.updated_by,
});

/** What the audit log keeps of an indicator: every field that decides what it does to a risk score. */
const audited = (indicator: ValidIndicator): Record<string, unknown> => ({
  id: indicator.id,
  severity: indicator.severity,
  severityLevel: indicator.severityLevel,
  scope: indicator.scope,
  target: indicator.target,
  expiresAt: indicator.expiresAt,
  source: indicator.source,
});

export interface UpsertOutcome {
  created: number;
  updated: number;
  /** Re-posted exactly as stored: nothing changed, nothing audited. */
  unchanged: number;
}

export interface UpsertResult extends UpsertOutcome {
  /**
   * Where the created and updated indicators change what the risk score reads, before and after (reachOfChanges): the
   * keys whose threat component this upsert may have moved. Indicators posted again unchanged add nothing.
   */
  reach: IndicatorReach[];
}

interface ChangeRow {
  id: string;
  inserted: boolean;
  severity: number;
  scope: ThreatScope;
  target: string | null;
  expires_at: Date;
  previous_severity: number | null;
  previous_scope: ThreatScope | null;
  previous_target: string | null;
  previous_expires_at: Date | null;
}

/**
 * Stores a validated batch in one transaction: a new id is created, a known one updated (upsert), one posted again
 * unchanged is left alone. One audit entry lists what was created and updated, with the values.
 */
export async function upsertIndicators(db: Database, indicators: ValidIndicator[], actor: string, now: Date = new Date()): Promise<UpsertResult> {
  return db.transaction(async (tx) => {
    // Both parts see the same snapshot, so `previous` holds an updated indicator as it was before this change.
    const { rows } = await tx.query<ChangeRow>(
      `WITH previous AS (SELECT id, severity, scope, target, expires_at FROM threat_indicators WHERE id = ANY($1::text[])),
       upserted AS (
         INSERT INTO threat_indicators AS t (id, severity, severity_level, scope, target, expires_at, source, created_at, created_by, updated_at, updated_by)
         SELECT i.*, $8, $9, $8, $9
           FROM unnest($1::text[], $2::float8[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[]) AS i
         ON CONFLICT (id) DO UPDATE
           SET severity = EXCLUDED.severity, severity_level = EXCLUDED.severity_level, scope = EXCLUDED.scope, target = EXCLUDED.target,
               expires_at = EXCLUDED.expires_at, source = EXCLUDED.source, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
           WHERE (t.severity, t.severity_level, t.scope, t.target, t.expires_at, t.source)
                 IS DISTINCT FROM (EXCLUDED.severity, EXCLUDED.severity_level, EXCLUDED.scope, EXCLUDED.target, EXCLUDED.expires_at, EXCLUDED.source)
         RETURNING t.id, (t.xmax = 0) AS inserted, t.severity, t.scope, t.target, t.expires_at)
       SELECT u.*, p.severity AS previous_severity, p.scope AS previous_scope, p.target AS previous_target, p.expires_at AS previous_expires_at
         FROM upserted u LEFT JOIN previous p USING (id)`,
      [
        indicators.map((i) => i.id), indicators.map((i) => i.severity), indicators.map((i) => i.severityLevel), indicators.map((i) => i.scope),
        indicators.map((i) => i.target), indicators.map((i) => i.expiresAt), indicators.map((i) => i.source), now, actor,
      ],
    );
    const createdIds = new Set(rows.filter((row) => row.inserted).map((row) => row.id));
    const updatedIds = new Set(rows.filter((row) => !row.inserted).map((row) => row.id));
    if (rows.length > 0) {
      await appendAudit(tx, {
        actor,
        action: 'threat-intel.upserted',
        subject: 'threat-intel',
        details: {
          created: indicators.filter((i) => createdIds.has(i.id)).map(audited),
          updated: indicators.filter((i) => updatedIds.has(i.id)).map(audited),
        },
      }, now);
    }
    const reach = reachOfChanges(rows.map((row) => ({
      before: row.previous_scope === null
        ? null
        : { severity: row.previous_severity as number, scope: row.previous_scope, target: row.previous_target, expiresAt: (row.previous_expires_at as Date).toISOString() },
      after: { severity: row.severity, scope: row.scope, target: row.target, expiresAt: row.expires_at.toISOString() },
    })), now.getTime());
    return { created: createdIds.size, updated: updatedIds.size, unchanged: indicators.length - rows.length, reach };
  });
}

export interface IndicatorQuery {
  includeExpired: boolean;
  scope?: ThreatScope;
  target?: string;
  limit: number;
  offset: number;
}

/** Indicators, soonest expiry last; live only unless asked for expired ones too. */
export async function listIndicators(db: Queryable, query: IndicatorQuery, now: Date = new Date()): Promise<{ indicators: StoredIndicator[]; total: number }> {
  const where = `WHERE ($1 OR expires_at > $2) AND ($3::text IS NULL OR scope = $3) AND ($4::text IS NULL OR target = $4)`;
  const params = [query.includeExpired, now, query.scope ?? null, query.target ?? null];
  const [page, count] = await Promise.all([
    db.query<Row>(`SELECT * FROM threat_indicators ${where} ORDER BY expires_at DESC, id LIMIT $5 OFFSET $6`, [...params, query.limit, query.offset]),
    db.query<{ total: string }>(`SELECT count(*) AS total FROM threat_indicators ${where}`, params),
  ]);
  return { indicators: page.rows.map((row) => toIndicator(row, now)), total: Number(count.rows[0]?.total ?? 0) };
}

/** Removes an indicator and audits what it was; undefined when there is none with that id. */
export async function deleteIndicator(db: Database, id: string, actor: string, now: Date = new Date()): Promise<StoredIndicator | undefined> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<Row>('DELETE FROM threat_indicators WHERE id = $1 RETURNING *', [id]);
    const row = rows[0];
    if (!row) return undefined;
    const deleted = toIndicator(row, now);
    await appendAudit(tx, { actor, action: 'threat-intel.deleted', subject: 'threat-intel', details: audited(deleted) }, now);
    return deleted;
  });
}

export type KeyThreat = ThreatIndicator & { id: string; source: string };

/**
 * The indicators that apply to a key — scope all, scope key naming it, scope app naming one of the applications that
 * use it — as the risk score takes them: the live ones, and how many have expired. A scope-all indicator has no target;
 * it comes with target '*', which the risk score ignores for that scope.
 */
export async function threatsForKey(db: Queryable, input: { key: string; apps: string[]; now: Date }): Promise<{ live: KeyThreat[]; expired: number }> {
  const applies = `(scope = 'all' OR (scope = 'key' AND target = $1) OR (scope = 'app' AND target = ANY($2::text[])))`;
  const [live, expired] = await Promise.all([
    db.query<Pick<Row, 'id' | 'severity' | 'scope' | 'target' | 'expires_at' | 'source'>>(
      `SELECT id, severity, scope, target, expires_at, source FROM threat_indicators WHERE ${applies} AND expires_at > $3 ORDER BY severity DESC, id`,
      [input.key, input.apps, input.now],
    ),
    db.query<{ n: string }>(`SELECT count(*) AS n FROM threat_indicators WHERE ${applies} AND expires_at <= $3`, [input.key, input.apps, input.now]),
  ]);
  return {
    live: live.rows.map((row) => ({ id: row.id, severity: row.severity, scope: row.scope, target: row.target ?? '*', expiresAt: row.expires_at.toISOString(), source: row.source })),
    expired: Number(expired.rows[0]?.n ?? 0),
  };
}

export interface FeedPull {
  at: string;
  ok: boolean;
  received: number;
  created: number;
  updated: number;
  unchanged: number;
  error: string | null;
}

// A month of pulls is enough to see how a feed behaves; older rows only grow the table.
const FEED_PULL_HISTORY_DAYS = 30;

export async function recordFeedPull(db: Queryable, pull: Omit<FeedPull, 'at'>, now: Date = new Date()): Promise<void> {
  await db.query(
    'INSERT INTO threat_feed_pulls (at, ok, received, created, updated, unchanged, error) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [now, pull.ok, pull.received, pull.created, pull.updated, pull.unchanged, pull.error],
  );
  await db.query("DELETE FROM threat_feed_pulls WHERE at < $1::timestamptz - make_interval(days => $2)", [now, FEED_PULL_HISTORY_DAYS]);
}

export async function lastFeedPull(db: Queryable): Promise<FeedPull | null> {
  const { rows } = await db.query<Omit<FeedPull, 'at'> & { at: Date }>('SELECT at, ok, received, created, updated, unchanged, error FROM threat_feed_pulls ORDER BY id DESC LIMIT 1');
  const row = rows[0];
  return row ? { at: row.at.toISOString(), ok: row.ok, received: row.received, created: row.created, updated: row.updated, unchanged: row.unchanged, error: row.error } : null;
}
