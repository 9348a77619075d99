import type { AnchorCheck, AnchorStatus } from '../../domain/audit/anchor';
import type { AuditEntry } from '../../domain/audit/chain';
import { auditEntryAt, auditHead } from './audit-repository';
import type { Database, Queryable } from './database';

/** Each node's last audit anchor check, as the key map sync recorded it. */

export interface AnchorRecord {
  node: string;
  seq: number | null;
  hash: string | null;
  status: AnchorStatus;
  problem: string | null;
  checkedAt: string;
  writtenAt: string | null;
}

export async function recordAnchorCheck(db: Database, nodeId: string, check: AnchorCheck): Promise<void> {
  await db.query(
    `INSERT INTO audit_anchors (node_id, seq, hash, status, problem, database_seq, database_hash, checked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, now())
     ON CONFLICT (node_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, status = EXCLUDED.status, problem = EXCLUDED.problem,
       database_seq = EXCLUDED.database_seq, database_hash = EXCLUDED.database_hash, checked_at = EXCLUDED.checked_at`,
    [nodeId, check.anchored?.seq ?? null, check.anchored?.hash ?? null, check.status, check.problem, check.database.headSeq, check.database.hashAtSeq],
  );
}

/** A node now holds an anchor of this entry, read back and verified on the node. */
export async function recordAnchorWritten(db: Database, nodeId: string, anchored: { seq: number; hash: string }): Promise<void> {
  await db.query(
    `UPDATE audit_anchors SET seq = $2, hash = $3, status = 'valid', problem = NULL, database_seq = $2, database_hash = $3, checked_at = now(), written_at = now()
     WHERE node_id = $1`,
    [nodeId, anchored.seq, anchored.hash],
  );
}

export async function listAnchorRecords(db: Queryable): Promise<AnchorRecord[]> {
  const { rows } = await db.query<{ node_id: string; seq: string | null; hash: string | null; status: AnchorStatus; problem: string | null; checked_at: Date; written_at: Date | null }>(
    `SELECT a.node_id, a.seq, a.hash, a.status, a.problem, a.checked_at, a.written_at
       FROM audit_anchors a JOIN keymap_nodes n USING (node_id) WHERE n.member ORDER BY a.node_id`,
  );
  return rows.map((row) => ({
    node: row.node_id, seq: row.seq === null ? null : Number(row.seq), hash: row.hash, status: row.status, problem: row.problem,
    checkedAt: row.checked_at.toISOString(), writtenAt: row.written_at?.toISOString() ?? null,
  }));
}

/** The log's head and its entries at the given seqs, for comparing anchors with. */
export async function anchorEvidence(db: Queryable, seqs: readonly number[]): Promise<{ head: AuditEntry | null; entries: Map<number, AuditEntry> }> {
  const head = await auditHead(db);
  const entries = new Map<number, AuditEntry>();
  for (const seq of new Set(seqs)) {
    const entry = await auditEntryAt(db, seq);
    if (entry) entries.set(seq, entry);
  }
  return { head, entries };
}
