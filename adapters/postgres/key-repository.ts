import type pg from 'pg';
import type { KeyVersion, Lineage, TransitionVerdict, VersionState } from '../../domain/keys/key-model';
import type { JweAlgorithm } from '../../domain/keys/key-types';
import type { KeyLifecycleState } from '../../domain/keys/lifecycle-state';
import type { EntropyProvenance } from '../../domain/entropy/node-entropy';
import type { Database, Queryable } from './database';
import { appendAuditEntries } from './audit-repository';

export interface KeyEvent {
  /** Unique per key and event: `<name>/<seq>`. */
  id: string;
  action: string;
  actor: string;
  details: Record<string, unknown>;
}

/** One lifecycle step to record: the workflow's view of the key after it, and its event. */
export interface KeyRecording {
  state: KeyLifecycleState;
  event: KeyEvent;
}

/**
 * Stores the workflow's view of a key and its audit entry in one transaction. Idempotent: an event already
 * recorded (a retried activity) changes nothing, and an older event never overwrites a newer state.
 */
export async function recordKeyEvent(db: Database, state: KeyLifecycleState, event: KeyEvent): Promise<{ recorded: boolean }> {
  return (await recordKeyEvents(db, [{ state, event }]))[0] as { recorded: boolean };
}

/**
 * Records several steps (of any keys) in one transaction, in their order, each as recordKeyEvent would: one wait for
 * the key map's epoch row and the audit log's append lock, and one commit, for all of them. Of the same event twice,
 * the first records it.
 */
export async function recordKeyEvents(db: Database, recordings: readonly KeyRecording[]): Promise<Array<{ recorded: boolean }>> {
  return db.transaction(async (tx) => {
    const inserted = await tx.query<{ event_id: string }>(
      // In one order: two batches holding the same retried events never wait for each other's rows.
      'INSERT INTO key_events (event_id) SELECT id FROM unnest($1::text[]) AS t(id) ORDER BY id ON CONFLICT DO NOTHING RETURNING event_id',
      [recordings.map(({ event }) => event.id)],
    );
    const fresh = new Set(inserted.rows.map((row) => row.event_id));
    const recorded = recordings.map(({ event }) => fresh.delete(event.id));
    const toRecord = recordings.filter((_recording, index) => recorded[index]);
    // A statement that changes one key (an evaluation's prediction) locks its row and then the epoch row. One that held
    // the epoch row (from a first key's upsert) while it waited for a second key's row could deadlock with it: the keys'
    // rows are locked first, in one order, as the upserts will (FOR NO KEY UPDATE: an insert that only refers to a key,
    // a usage event, is not held up).
    const names = [...new Set(toRecord.map(({ state }) => state.name))].sort();
    if (names.length > 1) await tx.query('SELECT 1 FROM keys WHERE name = ANY($1::text[]) ORDER BY name FOR NO KEY UPDATE', [names]);
    // From the first key's upsert on, this transaction holds the key map's epoch row (its triggers bump it), which
    // every recording of every key needs, and then the audit log's append lock: everything from here to COMMIT is done
    // by one transaction at a time. So a key and all its versions are one statement, not one per row.
    for (const { state } of toRecord) await upsertKeyAndVersions(tx, state);
    await appendAuditEntries(tx, toRecord.map(({ state, event }) => ({ actor: event.actor, action: event.action, subject: `key/${state.name}`, details: { eventId: event.id, ...event.details } })));
    return recorded.map((wasRecorded) => ({ recorded: wasRecorded }));
  });
}

const KEY_COLUMNS = 'name, key_type, phase, policy, active_version, next_rotation_at, created_at, created_by, updated_at, event_seq';
const VERSION_COLUMNS = `name, version, kid, fingerprint, state, spki, generated_on, created_at, activated_at, retiring_at, archived_at, purged_at,
  compromised_at, grace_deadline, purge_after, lineage, verdict, entropy_provenance, published_at, activates_at, jwe_alg`;
const VERSION_FIELDS = 21;

async function upsertKeyAndVersions(tx: pg.PoolClient, state: KeyLifecycleState): Promise<void> {
  const active = state.versions.find((version) => version.state === 'active');
  const values: unknown[] = [state.name, state.keyType, state.phase, JSON.stringify(state.policy), active?.version ?? null, state.nextRotationAt, state.createdAt, state.createdBy, state.eventSeq];
  const keyUpsert = `INSERT INTO keys (${KEY_COLUMNS})
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), $9)
       ON CONFLICT (name) DO UPDATE SET phase = EXCLUDED.phase, policy = EXCLUDED.policy, active_version = EXCLUDED.active_version,
         next_rotation_at = EXCLUDED.next_rotation_at, updated_at = now(), event_seq = EXCLUDED.event_seq
       WHERE keys.event_seq < EXCLUDED.event_seq`;
  if (state.versions.length === 0) {
    await tx.query(keyUpsert, values);
    return;
  }
  const rows = state.versions.map((v) => {
    const first = values.length + 1;
    values.push(state.name, v.version, v.kid, v.fingerprint, v.state, v.spki, v.generatedOn, v.createdAt, v.activatedAt, v.retiringAt, v.archivedAt,
      v.purgedAt, v.compromisedAt, v.graceDeadline, v.purgeAfter, JSON.stringify(v.lineage), v.verdict ? JSON.stringify(v.verdict) : null,
      v.entropyProvenance ? JSON.stringify(v.entropyProvenance) : null, v.publishedAt ?? null, v.activatesAt ?? null, v.jweAlg ?? null);
    return `(${Array.from({ length: VERSION_FIELDS }, (_, i) => `$${first + i}`).join(', ')})`;
  });
  // A data-modifying WITH runs whether or not the outer statement reads it.
  await tx.query(
    `WITH upserted_key AS (${keyUpsert})
     INSERT INTO key_versions (${VERSION_COLUMNS})
     VALUES ${rows.join(', ')}
     ON CONFLICT (name, version) DO UPDATE SET state = EXCLUDED.state, activated_at = EXCLUDED.activated_at,
       published_at = COALESCE(EXCLUDED.published_at, key_versions.published_at), activates_at = EXCLUDED.activates_at,
       retiring_at = EXCLUDED.retiring_at, archived_at = EXCLUDED.archived_at, purged_at = EXCLUDED.purged_at,
       compromised_at = EXCLUDED.compromised_at, grace_deadline = EXCLUDED.grace_deadline, purge_after = EXCLUDED.purge_after,
       verdict = EXCLUDED.verdict`,
    values,
  );
}

export interface KeyRow {
  name: string;
  keyType: string;
  phase: string;
  policy: Record<string, unknown>;
  activeVersion: number | null;
  nextRotationAt: string | null;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
}

const isoOrNull = (value: Date | null): string | null => value?.toISOString() ?? null;

interface RawKey {
  name: string; key_type: string; phase: string; policy: Record<string, unknown>; active_version: number | null;
  next_rotation_at: Date | null; created_at: Date; created_by: string; updated_at: Date;
}

const toKey = (row: RawKey): KeyRow => ({
  name: row.name,
  keyType: row.key_type,
  phase: row.phase,
  policy: row.policy,
  activeVersion: row.active_version,
  nextRotationAt: isoOrNull(row.next_rotation_at),
  createdAt: row.created_at.toISOString(),
  createdBy: row.created_by,
  updatedAt: row.updated_at.toISOString(),
});

/** A key_versions row. The JSON columns hold what the domain wrote (upsertVersion), and the state column its strings. */
export interface RawVersion {
  name: string; version: number; kid: string; fingerprint: string; state: VersionState; spki: string | null; jwe_alg: JweAlgorithm | null; generated_on: string; created_at: Date;
  published_at: Date | null; activates_at: Date | null; activated_at: Date | null; retiring_at: Date | null; archived_at: Date | null; purged_at: Date | null; compromised_at: Date | null;
  grace_deadline: Date | null; purge_after: Date | null; lineage: Lineage; verdict: TransitionVerdict | null;
  entropy_provenance: EntropyProvenance | null;
}

/** The version a row records, without its verdict (which the key map does not read). */
export const toSourceVersion = (row: Omit<RawVersion, 'verdict'>): Omit<KeyVersion, 'verdict' | 'usageCheckedAt'> => ({
  version: row.version,
  kid: row.kid,
  fingerprint: row.fingerprint,
  state: row.state,
  spki: row.spki,
  jweAlg: row.jwe_alg,
  generatedOn: row.generated_on,
  createdAt: row.created_at.toISOString(),
  publishedAt: isoOrNull(row.published_at),
  activatesAt: isoOrNull(row.activates_at),
  activatedAt: isoOrNull(row.activated_at),
  retiringAt: isoOrNull(row.retiring_at),
  archivedAt: isoOrNull(row.archived_at),
  purgedAt: isoOrNull(row.purged_at),
  compromisedAt: isoOrNull(row.compromised_at),
  graceDeadline: isoOrNull(row.grace_deadline),
  purgeAfter: isoOrNull(row.purge_after),
  lineage: row.lineage,
  entropyProvenance: row.entropy_provenance,
});

const toVersion = (row: RawVersion): KeyVersion => ({ ...toSourceVersion(row), verdict: row.verdict });

/** Reserves a key name before its workflow starts: a name is used once, even after decommissioning. */
export async function reserveKey(tx: Queryable, input: { name: string; keyType: string; policy: unknown; actor: string }): Promise<boolean> {
  const result = await tx.query(
    `INSERT INTO keys (name, key_type, phase, policy, created_at, created_by, updated_at) VALUES ($1, $2, 'creating', $3, now(), $4, now())
     ON CONFLICT (name) DO NOTHING`,
    [input.name, input.keyType, JSON.stringify(input.policy), input.actor],
  );
  return result.rowCount === 1;
}

export async function getKey(db: Queryable, name: string): Promise<{ key: KeyRow; versions: KeyVersion[] } | undefined> {
  const keys = await db.query<RawKey>('SELECT * FROM keys WHERE name = $1', [name]);
  if (!keys.rows[0]) return undefined;
  const versions = await db.query<RawVersion>('SELECT * FROM key_versions WHERE name = $1 ORDER BY version', [name]);
  return { key: toKey(keys.rows[0]), versions: versions.rows.map(toVersion) };
}

export interface KeyListQuery {
  phase?: string;
  /** Only names that start with this. */
  prefix?: string;
  limit: number;
  offset: number;
}

/** A key as the list shows it: its row plus the deadlines of its versions that come next. */
export type KeyListRow = KeyRow & { graceDeadline: string | null; nextPurgeAt: string | null };

export async function listKeys(db: Queryable, query: KeyListQuery): Promise<{ keys: KeyListRow[]; total: number }> {
  const where = 'WHERE ($1::text IS NULL OR k.phase = $1) AND ($2::text IS NULL OR left(k.name, length($2)) = $2)';
  const filters = [query.phase ?? null, query.prefix ?? null];
  const [page, count] = await Promise.all([
    db.query<RawKey & { grace_deadline: Date | null; next_purge_at: Date | null }>(
      `SELECT k.*, d.grace_deadline, d.next_purge_at FROM keys k
         LEFT JOIN LATERAL (
           SELECT max(v.grace_deadline) FILTER (WHERE v.state = 'retiring') AS grace_deadline,
                  min(v.purge_after) FILTER (WHERE v.state = 'archived') AS next_purge_at
             FROM key_versions v WHERE v.name = k.name) d ON true
        ${where} ORDER BY k.name LIMIT $3 OFFSET $4`,
      [...filters, query.limit, query.offset],
    ),
    db.query<{ total: string }>(`SELECT count(*) AS total FROM keys k ${where}`, filters),
  ]);
  const keys = page.rows.map((row) => ({ ...toKey(row), graceDeadline: isoOrNull(row.grace_deadline), nextPurgeAt: isoOrNull(row.next_purge_at) }));
  return { keys, total: Number(count.rows[0]?.total ?? 0) };
}

/**
 * What the JWKS publishes: every active and retiring version, and a pending one a rotation published ahead of its
 * activation (policy publicationLead). Compromised and archived versions are not published.
 */
export async function publishedVersions(db: Queryable, name?: string): Promise<Array<KeyVersion & { name: string; keyType: string }>> {
  const { rows } = await db.query<RawVersion & { key_type: string }>(
    `SELECT v.*, k.key_type FROM key_versions v JOIN keys k USING (name)
      WHERE (v.state IN ('active', 'retiring') OR (v.state = 'pending' AND v.published_at IS NOT NULL)) AND v.spki IS NOT NULL AND ($1::text IS NULL OR v.name = $1)
      ORDER BY v.name, v.version`,
    [name ?? null],
  );
  return rows.map((row) => ({ ...toVersion(row), name: row.name, keyType: row.key_type }));
}

export async function storeArchiveBlob(db: Database, input: { name: string; version: number; fingerprint: string; wrapped: string }): Promise<void> {
  await db.query(
    'INSERT INTO archive_blobs (name, version, fingerprint, wrapped) VALUES ($1, $2, $3, $4) ON CONFLICT (name, version) DO UPDATE SET wrapped = EXCLUDED.wrapped, fingerprint = EXCLUDED.fingerprint',
    [input.name, input.version, input.fingerprint, Buffer.from(input.wrapped, 'base64')],
  );
}

export async function loadArchiveBlob(db: Database, name: string, version: number): Promise<{ fingerprint: string; wrapped: string } | undefined> {
  const { rows } = await db.query<{ fingerprint: string; wrapped: Buffer }>('SELECT fingerprint, wrapped FROM archive_blobs WHERE name = $1 AND version = $2', [name, version]);
  return rows[0] ? { fingerprint: rows[0].fingerprint, wrapped: rows[0].wrapped.toString('base64') } : undefined;
}

export async function deleteArchiveBlob(db: Database, name: string, version: number): Promise<boolean> {
  const result = await db.query('DELETE FROM archive_blobs WHERE name = $1 AND version = $2', [name, version]);
  return (result.rowCount ?? 0) > 0;
}
