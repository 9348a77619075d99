import { createHash } from 'node:crypto';
import {
  IDEMPOTENCY_ABANDONED_AFTER_MS, answerIdempotencyKey, claimIdempotencyKey, reclaimIdempotencyKey, releaseIdempotencyKey,
} from '../adapters/postgres/idempotency-repository';
import type { Database } from '../adapters/postgres/database';
import { canonicalJson } from '../domain/canonical-json';
import { isShownErrorCode, type ShownErrorCode } from '../domain/error-codes';
import { IDEMPOTENT_UPDATE_ID_PREFIX } from '../domain/identifiers';
import { UserError } from '../domain/errors';

type Stored = { body: unknown } | { error: { code: ShownErrorCode; message: string } };

export interface Answer<T> {
  status: number;
  body: T;
  /** The answer of an earlier request with the same key, given again. */
  replayed: boolean;
}

/**
 * Answers a request once per Idempotency-Key (per token, for a day; draft-ietf-httpapi-idempotency-key-header): the
 * first request with a key runs; a repeat with the same request gets the first answer, refusals included; the same key
 * with another request is refused (422); a repeat while the first is still being answered gets 409, unless that first
 * one was abandoned (no answer after 2 minutes: the API died), and then runs again. `run` gets an Update id made from
 * the token and the key: a key's workflow answers a repeated Update id with the first outcome (Temporal within a run,
 * the workflow itself across its runs), so a request taken up again after the API died in the middle of it does not
 * rotate twice.
 */
export async function idempotent<T>(
  db: Database,
  input: { tokenId: string | undefined; operation: string; key: string | undefined; request: unknown },
  run: (updateId: string | undefined) => Promise<{ status: number; body: T }>,
): Promise<Answer<T>> {
  const { tokenId } = input;
  if (input.key === undefined || tokenId === undefined) return { ...(await run(undefined)), replayed: false };
  const claim = { tokenId, key: input.key };
  const requestHash = createHash('sha256').update(canonicalJson({ operation: input.operation, request: input.request })).digest('hex');
  const found = await claimIdempotencyKey(db, { ...claim, operation: input.operation, requestHash });
  if (found.kind === 'existing') {
    const { record } = found;
    if (record.operation !== input.operation || record.requestHash !== requestHash) {
      throw new UserError('idempotency_key_reused', `this Idempotency-Key was used for another request (${record.operation}) in the last day; use a new key for a new request`);
    }
    if (record.status !== null) {
      const stored = record.response as Stored;
      if ('error' in stored) throw new UserError(isShownErrorCode(stored.error.code) ? stored.error.code : 'invalid_request', stored.error.message);
      return { status: record.status, body: stored.body as T, replayed: true };
    }
    if (!(await reclaimIdempotencyKey(db, { ...claim, abandonedBefore: new Date(Date.now() - IDEMPOTENCY_ABANDONED_AFTER_MS) }))) {
      throw new UserError('idempotency_key_in_progress', 'a request with this Idempotency-Key is still being answered; ask again in a moment for its answer');
    }
  }
  const updateId = `${IDEMPOTENT_UPDATE_ID_PREFIX}${createHash('sha256').update(`${tokenId}\u0000${input.key}`).digest('hex').slice(0, 32)}`;
  try {
    const answered = await run(updateId);
    await answerIdempotencyKey(db, { ...claim, status: answered.status, response: { body: answered.body } satisfies Stored });
    return { ...answered, replayed: false };
  } catch (error) {
    if (error instanceof UserError) {
      await answerIdempotencyKey(db, { ...claim, status: error.status, response: { error: { code: error.code, message: error.message } } satisfies Stored });
    } else {
      await releaseIdempotencyKey(db, claim);
    }
    throw error;
  }
}
