import type { Queryable } from './database';

/** How long an answered key replays its answer, and how long an unanswered one is presumed still being answered. */
export const IDEMPOTENCY_KEEP_MS = 24 * 3_600_000;
export const IDEMPOTENCY_ABANDONED_AFTER_MS = 2 * 60_000;

export interface IdempotencyRecord {
  operation: string;
  requestHash: string;
  startedAt: Date;
  status: number | null;
  response: unknown;
}

export type Claim = { kind: 'claimed' } | { kind: 'existing'; record: IdempotencyRecord };

/**
 * Claims a token's key for a request: inserted (it is this request's to answer), or the record already there. Expired
 * keys (older than a day) are deleted first, a bounded number at a time.
 */
export async function claimIdempotencyKey(db: Queryable, input: { tokenId: string; key: string; operation: string; requestHash: string }): Promise<Claim> {
  await db.query('DELETE FROM api_idempotency WHERE ctid IN (SELECT ctid FROM api_idempotency WHERE started_at < $1 LIMIT 100)', [new Date(Date.now() - IDEMPOTENCY_KEEP_MS)]);
  const inserted = await db.query(
    'INSERT INTO api_idempotency (token_id, idem_key, operation, request_hash) VALUES ($1, $2, $3, $4) ON CONFLICT (token_id, idem_key) DO NOTHING',
    [input.tokenId, input.key, input.operation, input.requestHash],
  );
  if ((inserted.rowCount ?? 0) === 1) return { kind: 'claimed' };
  const { rows } = await db.query<{ operation: string; request_hash: string; started_at: Date; status: number | null; response: unknown }>(
    'SELECT operation, request_hash, started_at, status, response FROM api_idempotency WHERE token_id = $1 AND idem_key = $2',
    [input.tokenId, input.key],
  );
  const row = rows[0];
  // Deleted between the two statements (expired): claim it again.
  if (!row) return claimIdempotencyKey(db, input);
  return { kind: 'existing', record: { operation: row.operation, requestHash: row.request_hash, startedAt: row.started_at, status: row.status, response: row.response } };
}

/**
 * Takes over an unanswered key whose request was abandoned (started before `abandonedBefore`): true for exactly one of
 * several callers, since the first moves its start to now.
 */
export async function reclaimIdempotencyKey(db: Queryable, input: { tokenId: string; key: string; abandonedBefore: Date }): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE api_idempotency SET started_at = now() WHERE token_id = $1 AND idem_key = $2 AND status IS NULL AND started_at < $3',
    [input.tokenId, input.key, input.abandonedBefore],
  );
  return (rowCount ?? 0) === 1;
}

export async function answerIdempotencyKey(db: Queryable, input: { tokenId: string; key: string; status: number; response: unknown }): Promise<void> {
  await db.query('UPDATE api_idempotency SET status = $3, response = $4, completed_at = now() WHERE token_id = $1 AND idem_key = $2', [
    input.tokenId, input.key, input.status, JSON.stringify(input.response),
  ]);
}

/** Lets go of a key whose request failed for a reason a retry may not meet (unreachable, internal). */
export async function releaseIdempotencyKey(db: Queryable, input: { tokenId: string; key: string }): Promise<void> {
  await db.query('DELETE FROM api_idempotency WHERE token_id = $1 AND idem_key = $2 AND status IS NULL', [input.tokenId, input.key]);
}
