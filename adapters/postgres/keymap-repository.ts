import type { KeyType } from '../../domain/keys/key-model';
import type { HoldingChanges } from '../../domain/keymap/holdings';
import type { KeyMapSource, MapSigningKey, NodeEntropyHealth, SourceKey, SourceVersion } from '../../domain/keymap/types';
import { ExternalError } from '../../domain/errors';
import type { Database, Queryable } from './database';
import type { EntropyProvenance } from '../../domain/entropy/node-entropy';
import { toSourceVersion, type RawVersion } from './key-repository';

/**
 * The key map's tables: holdings, nodes, the epoch, the map-signing key, the sync lease and the record of each sync.
 * The map is always read in one REPEATABLE READ snapshot, so that an epoch and the map read with it belong together.
 */

const iso = (value: Date | null): string | null => value?.toISOString() ?? null;

interface RawKey {
  name: string; key_type: string; phase: string; policy: Record<string, unknown>; active_version: number | null;
  next_rotation_at: Date | null; prediction: SourceKey['prediction']; changed_epoch: string;
}

interface RawHolding { name: string; version: number; node_id: string; private_key: boolean; public_key: boolean; can_sign: boolean | null }

/** Reads the map's sources inside the caller's transaction. */
export async function readKeymapSource(client: Queryable): Promise<KeyMapSource> {
  const epoch = await client.query<{ epoch: string }>('SELECT epoch FROM keymap_state');
  const keys = await client.query<RawKey>(
    `SELECT k.name, k.key_type, k.phase, k.policy, k.active_version, k.next_rotation_at, k.prediction, COALESCE(c.epoch, 0) AS changed_epoch
       FROM keys k LEFT JOIN keymap_key_changes c USING (name) ORDER BY k.name`,
  );
  const versions = await client.query<Omit<RawVersion, 'verdict'>>(
    `SELECT name, version, kid, fingerprint, state, spki, generated_on, created_at, published_at, activates_at, activated_at, retiring_at, archived_at, purged_at,
            compromised_at, grace_deadline, purge_after, lineage, entropy_provenance
       FROM key_versions ORDER BY name, version`,
  );
  const holdings = await client.query<RawHolding>('SELECT name, version, node_id, private_key, public_key, can_sign FROM keymap_holdings');
  const nodes = await client.query<{ node_id: string; entropy_health: NodeEntropyHealth }>('SELECT node_id, entropy_health FROM keymap_nodes WHERE member ORDER BY node_id');

  const byKey = new Map<string, SourceVersion[]>();
  for (const row of versions.rows) {
    const list = byKey.get(row.name) ?? [];
    list.push(toSourceVersion(row));
    byKey.set(row.name, list);
  }
  return {
    epoch: Number(epoch.rows[0]?.epoch ?? 0),
    keys: keys.rows.map((row): SourceKey => ({
      name: row.name,
      keyType: row.key_type as KeyType,
      phase: row.phase,
      activeVersion: row.active_version,
      policy: row.policy,
      nextRotationAt: iso(row.next_rotation_at),
      prediction: row.prediction,
      changedAtEpoch: Number(row.changed_epoch),
      versions: byKey.get(row.name) ?? [],
    })),
    nodes: nodes.rows.map((row) => ({ id: row.node_id, entropy: row.entropy_health })),
    holdings: holdings.rows.map((row) => ({ name: row.name, version: row.version, nodeId: row.node_id, privateKey: row.private_key, publicKey: row.public_key, canSign: row.can_sign })),
  };
}

/** Everything the map is built from, at one epoch. */
export async function loadKeymapSource(db: Database): Promise<KeyMapSource> {
  return db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return readKeymapSource(tx);
  });
}

/**
 * Brings the node rows to the configured cluster and each node's entropy health. A row is written only where something
 * changed, so an unchanged cluster bumps no epoch.
 */
export async function updateKeymapNodes(tx: Queryable, nodes: ReadonlyArray<{ id: string; entropy: NodeEntropyHealth }>): Promise<void> {
  const ids = nodes.map((node) => node.id);
  await tx.query('UPDATE keymap_nodes SET member = false WHERE member AND NOT (node_id = ANY($1::text[]))', [ids]);
  for (const node of nodes) {
    await tx.query(
      `INSERT INTO keymap_nodes (node_id, member, entropy_health) VALUES ($1, true, $2)
       ON CONFLICT (node_id) DO UPDATE SET member = true, entropy_health = EXCLUDED.entropy_health
       WHERE keymap_nodes.member IS DISTINCT FROM true OR keymap_nodes.entropy_health IS DISTINCT FROM EXCLUDED.entropy_health`,
      [node.id, JSON.stringify(node.entropy)],
    );
  }
}

/** Holding rows per upsert statement: a sync after many new keys (or the first one) has a row per key and node. */
const HOLDINGS_PER_STATEMENT = 1000;

/**
 * Upserts go as one statement per thousand rows, not one round trip per row: the caller holds the map's epoch row
 * meanwhile, and every lifecycle step waits for it (bench/README.md, bench/scale.ts). The row triggers still fire
 * once per row, in the rows' order, as they did one statement at a time. (holdingChanges gives each name, version and
 * node at most once, as one INSERT … ON CONFLICT must.)
 */
export async function applyHoldingChanges(tx: Queryable, changes: HoldingChanges): Promise<void> {
  for (let from = 0; from < changes.upsert.length; from += HOLDINGS_PER_STATEMENT) {
    const rows = changes.upsert.slice(from, from + HOLDINGS_PER_STATEMENT);
    await tx.query(
      `INSERT INTO keymap_holdings (name, version, node_id, private_key, public_key, can_sign)
       SELECT name, version, node_id, private_key, public_key, can_sign FROM unnest($1::text[], $2::integer[], $3::text[], $4::boolean[], $5::boolean[], $6::boolean[]) WITH ORDINALITY AS r(name, version, node_id, private_key, public_key, can_sign, n)
       ORDER BY n
       ON CONFLICT (name, version, node_id) DO UPDATE SET private_key = EXCLUDED.private_key, public_key = EXCLUDED.public_key, can_sign = EXCLUDED.can_sign`,
      [rows.map((row) => row.name), rows.map((row) => row.version), rows.map((row) => row.nodeId), rows.map((row) => row.privateKey), rows.map((row) => row.publicKey), rows.map((row) => row.canSign)],
    );
  }
  for (const row of changes.remove) {
    await tx.query('DELETE FROM keymap_holdings WHERE name = $1 AND version = $2 AND node_id = $3', [row.name, row.version, row.nodeId]);
  }
}

/**
 * Records the digest of an epoch. The same epoch always has the same map; a different digest for a recorded epoch means
 * the map is not built deterministically, and is refused rather than signed.
 */
export async function recordEpochDigest(db: Database, epoch: number, digest: string): Promise<void> {
  await db.query('INSERT INTO keymap_epochs (epoch, digest) VALUES ($1, $2) ON CONFLICT (epoch) DO NOTHING', [epoch, digest]);
  const { rows } = await db.query<{ digest: string }>('SELECT digest FROM keymap_epochs WHERE epoch = $1', [epoch]);
  if (rows[0]?.digest !== digest) {
    throw new ExternalError('keymap_digest_conflict', `epoch ${epoch} was recorded with digest ${rows[0]?.digest ?? '(none)'} but the map read now gives ${digest}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// The sync lease.

/** Takes the lease when it is free, expired or already ours; otherwise says who holds it. */
export async function acquireSyncLease(db: Database, holder: string, ttlMs: number): Promise<{ acquired: true } | { acquired: false; holder: string; expiresAt: string }> {
  const taken = await db.query(
    `UPDATE keymap_sync_lease SET holder = $1, acquired_at = CASE WHEN holder = $1 THEN acquired_at ELSE now() END,
       expires_at = now() + $2 * interval '1 millisecond'
     WHERE holder IS NULL OR holder = $1 OR expires_at < now()`,
    [holder, ttlMs],
  );
  if (taken.rowCount === 1) return { acquired: true };
  const { rows } = await db.query<{ holder: string; expires_at: Date }>('SELECT holder, expires_at FROM keymap_sync_lease');
  return { acquired: false, holder: rows[0]?.holder ?? '(unknown)', expiresAt: rows[0]?.expires_at.toISOString() ?? '' };
}

/** Extends the lease of a sync that still holds it; false when another sync took it over after it expired. */
export async function renewSyncLease(db: Database, holder: string, ttlMs: number): Promise<boolean> {
  const renewed = await db.query(`UPDATE keymap_sync_lease SET expires_at = now() + $2 * interval '1 millisecond' WHERE holder = $1`, [holder, ttlMs]);
  return renewed.rowCount === 1;
}

export async function releaseSyncLease(db: Database, holder: string): Promise<void> {
  await db.query('UPDATE keymap_sync_lease SET holder = NULL, acquired_at = NULL, expires_at = NULL WHERE holder = $1', [holder]);
}

// ---------------------------------------------------------------------------------------------------------------------
// The map-signing key.

export async function getMapSigningKey(db: Queryable): Promise<(MapSigningKey & { generatedOn: string; createdAt: string }) | null> {
  const { rows } = await db.query<{ fingerprint: string; spki: string; key_type: string; label: string; generated_on: string; created_at: Date }>(
    'SELECT fingerprint, spki, key_type, label, generated_on, created_at FROM keymap_signing_key',
  );
  const row = rows[0];
  return row ? { fingerprint: row.fingerprint, spki: row.spki, keyType: row.key_type as KeyType, label: row.label, generatedOn: row.generated_on, createdAt: row.created_at.toISOString() } : null;
}

/** Records the key a sync generated; when one is recorded already, that one stays and is returned. */
export async function recordMapSigningKey(
  db: Database,
  input: MapSigningKey & { generatedOn: string; entropyProvenance: EntropyProvenance | null },
): Promise<{ key: MapSigningKey; created: boolean }> {
  const inserted = await db.query(
    `INSERT INTO keymap_signing_key (fingerprint, spki, key_type, label, generated_on, entropy_provenance) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO NOTHING`,
    [input.fingerprint, input.spki, input.keyType, input.label, input.generatedOn, input.entropyProvenance ? JSON.stringify(input.entropyProvenance) : null],
  );
  const key = await getMapSigningKey(db);
  if (!key) throw new ExternalError('keymap_signing_key_missing', 'the map-signing key was recorded but cannot be read back');
  return { key: { fingerprint: key.fingerprint, spki: key.spki, keyType: key.keyType, label: key.label }, created: inserted.rowCount === 1 };
}

// ---------------------------------------------------------------------------------------------------------------------
// Node bookkeeping and sync runs.

export interface NodeSyncRecord {
  nodeId: string;
  reachable: boolean;
  staleReason: string | null;
  snapshotStatus: string | null;
  snapshotProblem: string | null;
  tampered: boolean;
  drift: unknown;
}

/** The sync's bookkeeping of one node; none of it is part of the map, so none of it bumps the epoch. */
export async function recordNodeSync(db: Database, record: NodeSyncRecord): Promise<void> {
  await db.query(
    `UPDATE keymap_nodes SET
       last_sync_at = now(),
       last_seen_at = CASE WHEN $2 THEN now() ELSE last_seen_at END,
       stale_since = CASE WHEN $2 THEN NULL ELSE COALESCE(stale_since, now()) END,
       stale_reason = $3,
       snapshot_status = CASE WHEN $2 THEN $4 ELSE snapshot_status END,
       snapshot_problem = CASE WHEN $2 THEN $5 ELSE snapshot_problem END,
       snapshot_checked_at = CASE WHEN $2 THEN now() ELSE snapshot_checked_at END,
       tampered_at = CASE WHEN $6 THEN now() ELSE tampered_at END,
       drift = $7
     WHERE node_id = $1`,
    [record.nodeId, record.reachable, record.staleReason, record.snapshotStatus, record.snapshotProblem, record.tampered, JSON.stringify(record.drift)],
  );
}

export async function recordNodeAcknowledgement(db: Database, ack: { nodeId: string; epoch: number; digest: string }): Promise<void> {
  await db.query(
    `UPDATE keymap_nodes SET acked_epoch = $2, acked_digest = $3, acked_at = now(), snapshot_status = 'valid', snapshot_problem = NULL
     WHERE node_id = $1`,
    [ack.nodeId, ack.epoch, ack.digest],
  );
}

export async function startSyncRun(db: Database, run: { runId: string; trigger: string; actor: string; startedAt: string }): Promise<void> {
  await db.query('INSERT INTO keymap_sync_runs (run_id, trigger, actor, started_at) VALUES ($1, $2, $3, $4) ON CONFLICT (run_id) DO NOTHING', [
    run.runId, run.trigger, run.actor, run.startedAt,
  ]);
}

export async function finishSyncRun(db: Database, runId: string, result: unknown): Promise<void> {
  await db.query('UPDATE keymap_sync_runs SET finished_at = now(), result = $2 WHERE run_id = $1', [runId, JSON.stringify(result)]);
}

export interface KeymapNodeRow {
  nodeId: string;
  member: boolean;
  entropy: NodeEntropyHealth;
  lastSyncAt: string | null;
  lastSeenAt: string | null;
  staleSince: string | null;
  staleReason: string | null;
  ackedEpoch: number | null;
  ackedDigest: string | null;
  ackedAt: string | null;
  snapshotStatus: string | null;
  snapshotProblem: string | null;
  snapshotCheckedAt: string | null;
  tamperedAt: string | null;
  drift: unknown;
}

interface RawNode {
  node_id: string; member: boolean; entropy_health: NodeEntropyHealth; last_sync_at: Date | null; last_seen_at: Date | null;
  stale_since: Date | null; stale_reason: string | null; acked_epoch: string | null; acked_digest: string | null; acked_at: Date | null;
  snapshot_status: string | null; snapshot_problem: string | null; snapshot_checked_at: Date | null; tampered_at: Date | null; drift: unknown;
}

export async function listKeymapNodes(db: Queryable): Promise<KeymapNodeRow[]> {
  const { rows } = await db.query<RawNode>('SELECT * FROM keymap_nodes ORDER BY node_id');
  return rows.map((row) => ({
    nodeId: row.node_id,
    member: row.member,
    entropy: row.entropy_health,
    lastSyncAt: iso(row.last_sync_at),
    lastSeenAt: iso(row.last_seen_at),
    staleSince: iso(row.stale_since),
    staleReason: row.stale_reason,
    ackedEpoch: row.acked_epoch === null ? null : Number(row.acked_epoch),
    ackedDigest: row.acked_digest,
    ackedAt: iso(row.acked_at),
    snapshotStatus: row.snapshot_status,
    snapshotProblem: row.snapshot_problem,
    snapshotCheckedAt: iso(row.snapshot_checked_at),
    tamperedAt: iso(row.tampered_at),
    drift: row.drift,
  }));
}

export async function latestSyncRun(db: Queryable): Promise<{ runId: string; trigger: string; actor: string; startedAt: string; finishedAt: string | null } | null> {
  const { rows } = await db.query<{ run_id: string; trigger: string; actor: string; started_at: Date; finished_at: Date | null }>(
    'SELECT run_id, trigger, actor, started_at, finished_at FROM keymap_sync_runs ORDER BY started_at DESC LIMIT 1',
  );
  const row = rows[0];
  return row ? { runId: row.run_id, trigger: row.trigger, actor: row.actor, startedAt: row.started_at.toISOString(), finishedAt: iso(row.finished_at) } : null;
}
