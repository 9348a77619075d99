import type { AttributedUse, NamedVersion } from '../../domain/usage/observed-usage';
import type { Database, Queryable } from './database';
import { insertUsage } from './usage-repository';

/** Where each of these logs was read to (null: never read). The position is the tailer's JSON (adapters/usage/log-tailer.ts). */
export async function accessLogPositions(db: Queryable, paths: readonly string[]): Promise<Map<string, unknown>> {
  const { rows } = await db.query<{ path: string; position: unknown }>('SELECT path, position FROM access_log_positions WHERE path = ANY($1)', [paths]);
  return new Map(rows.map((row) => [row.path, row.position]));
}

/** The versions whose CKA_ID is one of `fingerprints` or whose PKCS#11 label is one of `labels`, purged ones included. */
export async function versionsNamed(db: Queryable, names: { fingerprints: readonly string[]; labels: readonly string[] }): Promise<NamedVersion[]> {
  if (names.fingerprints.length === 0 && names.labels.length === 0) return [];
  const { rows } = await db.query<{ name: string; version: number; fingerprint: string }>(
    `SELECT name, version, fingerprint FROM key_versions
     WHERE fingerprint = ANY($1) OR ('keyrotor:' || name || ':v' || version) = ANY($2)`,
    [names.fingerprints, names.labels],
  );
  return rows.map((row) => ({ key: row.name, version: row.version, fingerprint: row.fingerprint.trim() }));
}

export type StoreReadOutcome = { kind: 'stored'; stored: number } | { kind: 'moved'; reason: string };

/**
 * Stores the uses of one read of a log and the position after it, in one transaction, if the stored position is still
 * the one the read started from: two reads of one log never both count the same lines. A read that started elsewhere
 * stores nothing (`moved`); the next run reads from the stored position.
 */
export async function storeAccessLogRead(db: Database, input: { path: string; node: string; app: string; from: unknown; to: unknown; uses: AttributedUse[] }): Promise<StoreReadOutcome> {
  return db.transaction(async (tx) => {
    // jsonb equality: the same position whatever the order of its keys.
    const { rows } = await tx.query<{ same: boolean }>('SELECT position = $2::jsonb AS same FROM access_log_positions WHERE path = $1 FOR UPDATE', [input.path, JSON.stringify(input.from ?? null)]);
    const same = rows.length === 0 ? input.from === null || input.from === undefined : rows[0]?.same === true;
    if (!same) return { kind: 'moved', reason: 'another read of this log stored its position first' };
    const count = await insertUsage(tx, input.uses.map((use) => ({ ...use, eventId: null, app: input.app, node: input.node, sensitivity: null })), 'hsm-log');
    await tx.query(
      `INSERT INTO access_log_positions (path, node, position, read_at) VALUES ($1, $2, $3, now())
       ON CONFLICT (path) DO UPDATE SET node = EXCLUDED.node, position = EXCLUDED.position, read_at = now()`,
      [input.path, input.node, JSON.stringify(input.to)],
    );
    return { kind: 'stored', stored: count };
  });
}
