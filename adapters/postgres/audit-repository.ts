import type pg from 'pg';
import { AuditChainVerifier, chainAuditEntry, type AuditEntry, type AuditVerification } from '../../domain/audit/chain';
import type { Database, Queryable } from './database';

export interface AuditInput {
  actor: string;
  action: string;
  subject: string;
  details?: Record<string, unknown>;
}

// Serialises appends so that every entry links to the one committed before it.
const AUDIT_APPEND_LOCK = 7_302_002;

interface AuditRow {
  seq: string;
  at: Date;
  actor: string;
  action: string;
  subject: string;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

function fromRow(row: AuditRow): AuditEntry {
  return {
    seq: Number(row.seq),
    at: row.at.toISOString(),
    actor: row.actor,
    action: row.action,
    subject: row.subject,
    details: row.details,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/**
 * Appends one entry inside the caller's transaction, so that a state change and its audit entry commit together.
 * The time is truncated to milliseconds: PostgreSQL keeps microseconds, the hash covers what is read back.
 */
export async function appendAudit(client: pg.PoolClient, input: AuditInput, now: Date = new Date()): Promise<AuditEntry> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_APPEND_LOCK]);
  const last = await client.query<Pick<AuditRow, 'seq' | 'hash'>>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
  const previous = last.rows[0] ? { seq: Number(last.rows[0].seq), hash: last.rows[0].hash } : undefined;
  const entry = chainAuditEntry(
    {
      seq: (previous?.seq ?? 0) + 1,
      at: new Date(Math.floor(now.getTime())).toISOString(),
      actor: input.actor,
      action: input.action,
      subject: input.subject,
      details: input.details ?? {},
    },
    previous,
  );
  await client.query(
    'INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
    [entry.seq, entry.at, entry.actor, entry.action, entry.subject, JSON.stringify(entry.details), entry.prevHash, entry.hash],
  );
  return entry;
}

export interface AuditPageQuery {
  afterSeq?: number;
  limit: number;
  subject?: string;
  action?: string;
}

export async function listAudit(db: Queryable, query: AuditPageQuery): Promise<AuditEntry[]> {
  const { rows } = await db.query<AuditRow>(
    `SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log
      WHERE seq > $1 AND ($2::text IS NULL OR subject = $2) AND ($3::text IS NULL OR action = $3)
      ORDER BY seq LIMIT $4`,
    [query.afterSeq ?? 0, query.subject ?? null, query.action ?? null, query.limit],
  );
  return rows.map(fromRow);
}

const ENTRY_COLUMNS = 'seq, at, actor, action, subject, details, prev_hash, hash';

/** The newest entry; null for an empty log. */
export async function auditHead(db: Queryable): Promise<AuditEntry | null> {
  const { rows } = await db.query<AuditRow>(`SELECT ${ENTRY_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1`);
  return rows[0] ? fromRow(rows[0]) : null;
}

export async function auditEntryAt(db: Queryable, seq: number): Promise<AuditEntry | null> {
  const { rows } = await db.query<AuditRow>(`SELECT ${ENTRY_COLUMNS} FROM audit_log WHERE seq = $1`, [seq]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/** Walks the whole log a page at a time and checks the chain. */
export async function verifyAudit(db: Database, pageSize = 5000): Promise<AuditVerification> {
  const verifier = new AuditChainVerifier();
  let afterSeq = 0;
  for (;;) {
    const page = await listAudit(db, { afterSeq, limit: pageSize });
    for (const entry of page) verifier.add(entry);
    if (page.length < pageSize) return verifier.result();
    afterSeq = (page.at(-1) as AuditEntry).seq;
  }
}
