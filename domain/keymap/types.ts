import type { AnchorReading } from '../audit/anchor';
import type { KeyType, KeyVersion, Lineage } from '../keys/key-model';
import type { KeyPrediction } from '../keys/prediction';

/**
 * The cluster key map: what PostgreSQL says every key version is and which node holds which of its objects, plus each
 * node's entropy health. Everything here is JSON-safe (it travels through workflow history) and times are ISO strings.
 */

/** A node's entropy health as the map records it: coarse on purpose, so that the map changes only when health does. */
export interface NodeEntropyHealth {
  /** healthy; degraded: a source is quarantined or failing but the pool is above its minimum; low: below it; unknown: no report. */
  status: 'healthy' | 'degraded' | 'low' | 'unknown';
  /** Sources that are quarantined or failing their health tests, by name. */
  unhealthySources: string[];
}

/** What one node holds of one version. */
export interface Holding {
  privateKey: boolean;
  publicKey: boolean;
  /** CKA_SIGN of the private key; null without one. */
  canSign: boolean | null;
}

/** A key's prediction as the map keeps it (see mapPredictionOf). */
export type Prediction = Pick<KeyPrediction, 'predictedRotationAt' | 'predictedTrigger' | 'nextEvaluationAt'> & { lastRiskScore: number | null };

/** A key version as the map is built from it (a key_versions row), SPKI included for repairs. */
export type SourceVersion = Omit<KeyVersion, 'verdict' | 'usageCheckedAt'>;

/** A version's lineage as the map shows it: the rotation evidence is left out (the audit log and the API have it). */
export type MapLineage = Pick<Lineage, 'trigger' | 'reason' | 'actor'> & { parentVersion: number | null };

/** One version as the map shows it. The SPKI is left out: the fingerprint names it. */
export interface KeyMapVersion extends Omit<SourceVersion, 'spki' | 'lineage'> {
  /** CKA_LABEL of its objects on every node. */
  label: string;
  lineage: MapLineage;
  /** Only the nodes that hold an object of it, as the last sync found them. */
  nodes: Record<string, Holding>;
}

/** A key's own fields, as its row holds them: the same in the map and in what the map is built from. */
interface KeyFields {
  name: string;
  keyType: KeyType;
  phase: string;
  activeVersion: number | null;
  policy: Record<string, unknown>;
  /** The maxAge deadline of the active version. */
  nextRotationAt: string | null;
}

export interface KeyMapKey extends KeyFields {
  prediction: Prediction;
  versions: KeyMapVersion[];
}

export interface KeyMapNode {
  id: string;
  entropy: NodeEntropyHealth;
}

/** The part of the map the digest covers. Sync bookkeeping (last sync, acknowledgements, drift) is kept apart. */
export interface KeyMap {
  keys: KeyMapKey[];
  nodes: KeyMapNode[];
}

/** The copy of a key's latest evaluation the map is built from: score and times rounded (see mapPrediction). */
export type StoredPrediction = { [K in keyof Prediction]: NonNullable<Prediction[K]> };

export interface SourceKey extends KeyFields {
  /** What the latest risk evaluation predicted (rounded, see mapPrediction); null before the first one. */
  prediction: StoredPrediction | null;
  /** The epoch at which anything of this key (row, versions, holdings) last changed. */
  changedAtEpoch: number;
  versions: SourceVersion[];
}

/** Everything the map is built from, read in one consistent snapshot of the database. */
export interface KeyMapSource {
  epoch: number;
  keys: SourceKey[];
  nodes: KeyMapNode[];
  holdings: Array<{ name: string; version: number; nodeId: string } & Holding>;
}

// ---------------------------------------------------------------------------------------------------------------------
// What a node reports.

export type InventoryClass = 'privateKey' | 'publicKey' | 'secretKey' | 'data' | 'certificate' | 'other';

/** One token object in a node's inventory. Infrastructure (wrapping keys, map-signing key, snapshot) is left out. */
export interface InventoryEntry {
  class: InventoryClass;
  /** CKA_ID in lowercase hex ('' when the object has none). */
  id: string;
  label: string;
  /** CKA_SIGN of private and secret keys; null for other classes. */
  canSign: boolean | null;
  /** Public keys: SHA-256 of the SPKI built from the object's own components (null when keyrotor cannot read them). */
  fingerprint: string | null;
}

/** What a node's snapshot objects say, checked on the node against the map-signing public key. */
export type SnapshotReading =
  | { status: 'valid'; epoch: number; digest: string; bytesRead: number; shardDigests: string[] | null }
  | { status: 'missing'; bytesRead: 0 }
  | { status: 'tampered'; problem: string; bytesRead: number }
  | { status: 'unverifiable'; problem: string; bytesRead: number };

export interface NodeInspection {
  nodeId: string;
  reachable: true;
  inventoryDigest: string;
  objectCount: number;
  /** The map epoch of the expected inventory the node's was compared with. */
  comparedEpoch: number;
  /** Short digests of the inventory's buckets, when the whole inventory differed from the expected one. */
  bucketDigests: string[] | null;
  /**
   * The listed objects of the buckets that differed; null when nothing was listed. Objects of buckets not listed are
   * exactly what the map expected at comparedEpoch.
   */
  inventory: InventoryEntry[] | null;
  /** The buckets `inventory` covers; null: all of them. */
  listedBuckets: number[] | null;
  /** Key pairs labelled as the map-signing key, by CKA_ID. */
  signingKeys: Array<{ id: string; privateKey: boolean; publicKey: boolean }>;
  snapshot: SnapshotReading;
  /** The node's audit anchor, checked on the node; absent from inspections recorded before anchors existed. */
  auditAnchor?: AnchorReading;
}

export type NodeObservation = NodeInspection | { nodeId: string; reachable: false; reason: string };

/** The cluster map-signing key as PostgreSQL records it. */
export interface MapSigningKey {
  fingerprint: string;
  spki: string;
  keyType: KeyType;
  label: string;
}
