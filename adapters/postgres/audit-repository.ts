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
  return (await appendAuditEntries(client, [input], now))[0] as AuditEntry;
}

/**
 * Appends entries in their order inside the caller's transaction, each linked to the one before it: one wait for the
 * append lock and one statement for all of them.
 */
export async function appendAuditEntries(client: pg.PoolClient, inputs: readonly AuditInput[], now: Date = new Date()): Promise<AuditEntry[]> {
  if (inputs.length === 0) return [];
  await client.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_APPEND_LOCK]);
  const last = await client.query<Pick<AuditRow, 'seq' | 'hash'>>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
  let previous: Pick<AuditEntry, 'seq' | 'hash'> | undefined = last.rows[0] ? { seq: Number(last.rows[0].seq), hash: last.rows[0].hash } : undefined;
  const at = new Date(Math.floor(now.getTime())).toISOString();
  const entries = inputs.map((input) => {
    const entry = chainAuditEntry({ seq: (previous?.seq ?? 0) + 1, at, actor: input.actor, action: input.action, subject: input.subject, details: input.details ?? {} }, previous);
    previous = entry;
    return entry;
  });
  const values: unknown[] = [];
  const rows = entries.map((entry) => {
    const first = values.push(entry.seq, entry.at, entry.actor, entry.action, entry.subject, JSON.stringify(entry.details), entry.prevHash, entry.hash) - 7;
    return `(${Array.from({ length: 8 }, (_, i) => `$${first + i}`).join(', ')})`;
  });
  await client.query(`INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES ${rows.join(', ')}`, values);
  return entries;
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
