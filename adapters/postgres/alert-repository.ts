import { randomUUID } from 'node:crypto';
import type { Database } from './database';
import { appendAudit } from './audit-repository';

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface AlertInput {
  /** Alerts with the same key fold into one open alert (its count and last-seen grow). */
  dedupKey: string;
  severity: Severity;
  source: string;
  subject: string;
  message: string;
}

export interface Alert extends Omit<AlertInput, 'dedupKey'> {
  id: string;
  dedupKey: string;
  firstSeen: string;
  lastSeen: string;
  count: number;
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
}

interface AlertRow {
  id: string;
  dedup_key: string;
  severity: Severity;
  source: string;
  subject: string;
  message: string;
  first_seen: Date;
  last_seen: Date;
  count: number;
  acknowledged_by: string | null;
  acknowledged_at: Date | null;
}

const toAlert = (row: AlertRow): Alert => ({
  id: row.id,
  dedupKey: row.dedup_key,
  severity: row.severity,
  source: row.source,
  subject: row.subject,
  message: row.message,
  firstSeen: row.first_seen.toISOString(),
  lastSeen: row.last_seen.toISOString(),
  count: row.count,
  acknowledgedBy: row.acknowledged_by,
  acknowledgedAt: row.acknowledged_at?.toISOString() ?? null,
});

/**
 * Raises an alert, or counts one more occurrence of the open alert with the same key. A new alert is queued for
 * every webhook sink in the same transaction, so delivery survives a crash and never delays the caller.
 */
export async function raiseAlert(db: Database, input: AlertInput, sinkIds: readonly string[], now: Date = new Date()): Promise<{ alert: Alert; isNew: boolean }> {
  return db.transaction(async (client) => {
    const { rows } = await client.query<AlertRow & { inserted: boolean }>(
      `INSERT INTO alerts (id, dedup_key, severity, source, subject, message, first_seen, last_seen)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
       ON CONFLICT (dedup_key) WHERE acknowledged_at IS NULL DO UPDATE
         SET last_seen = EXCLUDED.last_seen, count = alerts.count + 1, message = EXCLUDED.message, severity = EXCLUDED.severity
       RETURNING *, (xmax = 0) AS inserted`,
      [randomUUID(), input.dedupKey, input.severity, input.source, input.subject, input.message, now],
    );
    const row = rows[0] as AlertRow & { inserted: boolean };
    if (row.inserted) {
      await appendAudit(client, { actor: `system:${input.source}`, action: 'alert.raised', subject: input.subject, details: { alertId: row.id, severity: input.severity, message: input.message } }, now);
      for (const sinkId of sinkIds) {
        await client.query('INSERT INTO alert_deliveries (alert_id, sink_id, event, next_attempt_at) VALUES ($1, $2, $3, $4)', [row.id, sinkId, 'alert.raised', now]);
      }
    }
    return { alert: toAlert(row), isNew: row.inserted };
  });
}

export interface AlertQuery {
  state?: 'open' | 'acknowledged';
  severity?: Severity;
  source?: string;
  limit: number;
  offset: number;
}

export async function listAlerts(db: Database, query: AlertQuery): Promise<{ alerts: Alert[]; total: number }> {
  const where = `WHERE ($1::text IS NULL OR ($1 = 'open') = (acknowledged_at IS NULL))
                   AND ($2::text IS NULL OR severity = $2) AND ($3::text IS NULL OR source = $3)`;
  const params = [query.state ?? null, query.severity ?? null, query.source ?? null];
  const [page, count] = await Promise.all([
    db.query<AlertRow>(`SELECT * FROM alerts ${where} ORDER BY last_seen DESC, id LIMIT $4 OFFSET $5`, [...params, query.limit, query.offset]),
    db.query<{ total: string }>(`SELECT count(*) AS total FROM alerts ${where}`, params),
  ]);
  return { alerts: page.rows.map(toAlert), total: Number(count.rows[0]?.total ?? 0) };
}

export type AckOutcome = { kind: 'acknowledged'; alert: Alert } | { kind: 'already'; alert: Alert } | { kind: 'missing' };

export async function acknowledgeAlert(db: Database, id: string, actor: string, sinkIds: readonly string[]): Promise<AckOutcome> {
  return db.transaction(async (client) => {
    const current = await client.query<AlertRow>('SELECT * FROM alerts WHERE id = $1 FOR UPDATE', [id]);
    const row = current.rows[0];
    if (!row) return { kind: 'missing' };
    if (row.acknowledged_at) return { kind: 'already', alert: toAlert(row) };
    const { rows } = await client.query<AlertRow>('UPDATE alerts SET acknowledged_by = $2, acknowledged_at = now() WHERE id = $1 RETURNING *', [id, actor]);
    await appendAudit(client, { actor, action: 'alert.acknowledged', subject: row.subject, details: { alertId: id } });
    for (const sinkId of sinkIds) {
      await client.query('INSERT INTO alert_deliveries (alert_id, sink_id, event, next_attempt_at) VALUES ($1, $2, $3, now())', [id, sinkId, 'alert.acknowledged']);
    }
    return { kind: 'acknowledged', alert: toAlert(rows[0] as AlertRow) };
  });
}

export interface DueDelivery {
  alert: Alert;
  sinkId: string;
  event: string;
  attempts: number;
}

/**
 * Claims deliveries that are due by pushing their next attempt out by a lease, so that several processes can run
 * dispatchers without sending one delivery twice at once.
 */
export async function claimDueDeliveries(db: Database, limit: number, leaseSeconds: number): Promise<DueDelivery[]> {
  const { rows } = await db.query<AlertRow & { sink_id: string; event: string; attempts: number }>(
    `WITH due AS (
       SELECT alert_id, sink_id, event FROM alert_deliveries
        WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
        ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
     UPDATE alert_deliveries d SET next_attempt_at = now() + make_interval(secs => $2), attempts = d.attempts + 1
       FROM due, alerts a
      WHERE d.alert_id = due.alert_id AND d.sink_id = due.sink_id AND d.event = due.event AND a.id = d.alert_id
     RETURNING a.*, d.sink_id, d.event, d.attempts`,
    [limit, leaseSeconds],
  );
  return rows.map((row) => ({ alert: toAlert(row), sinkId: row.sink_id, event: row.event, attempts: row.attempts }));
}

export async function recordDelivery(db: Database, delivery: DueDelivery, outcome: { ok: boolean; error?: string; retryInSeconds: number; giveUp: boolean }): Promise<void> {
  await db.query(
    `UPDATE alert_deliveries
        SET delivered_at = CASE WHEN $4 THEN now() END,
            failed_at = CASE WHEN NOT $4 AND $6 THEN now() END,
            next_attempt_at = now() + make_interval(secs => $5),
            last_error = $7
      WHERE alert_id = $1 AND sink_id = $2 AND event = $3`,
    [delivery.alert.id, delivery.sinkId, delivery.event, outcome.ok, outcome.retryInSeconds, outcome.giveUp, outcome.error ?? null],
  );
}
