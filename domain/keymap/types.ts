import type { EntropyProvenance } from '../entropy/node-entropy';
import type { AnchorReading } from '../audit/anchor';
import type { KeyType, VersionState } from '../keys/key-model';

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

export interface Prediction {
  predictedRotationAt: string | null;
  predictedTrigger: string | null;
  nextEvaluationAt: string | null;
  lastRiskScore: number | null;
}

/** One version as the map shows it. The SPKI is left out: the fingerprint names it. */
export interface KeyMapVersion {
  version: number;
  kid: string;
  fingerprint: string;
  /** CKA_LABEL of its objects on every node. */
  label: string;
  state: VersionState;
  generatedOn: string;
  createdAt: string;
  /** When it entered the JWKS; a rotation publishes its version `publicationLead` before `activatesAt`. */
  publishedAt: string | null;
  /** When a published pending version becomes the active one; null once active (or for an unpublished version). */
  activatesAt: string | null;
  activatedAt: string | null;
  retiringAt: string | null;
  archivedAt: string | null;
  purgedAt: string | null;
  compromisedAt: string | null;
  graceDeadline: string | null;
  purgeAfter: string | null;
  lineage: { parentVersion: number | null; trigger: string; reason: string; actor: string };
  /** The generating node's pool snapshot (credited bits, DRBG, every source's state and estimate, battery), or null. */
  entropyProvenance: EntropyProvenance | null;
  /** Only the nodes that hold an object of it, as the last sync found them. */
  nodes: Record<string, Holding>;
}

export interface KeyMapKey {
  name: string;
  keyType: KeyType;
  phase: string;
  activeVersion: number | null;
  policy: Record<string, unknown>;
  /** The maxAge deadline of the active version. */
  nextRotationAt: string | null;
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

/** A key version as the map is built from it (a key_versions row), SPKI included for repairs. */
export interface SourceVersion extends Omit<KeyMapVersion, 'label' | 'nodes' | 'lineage'> {
  spki: string;
  lineage: Record<string, unknown>;
}

export interface SourceKey {
  name: string;
  keyType: KeyType;
  phase: string;
  activeVersion: number | null;
  policy: Record<string, unknown>;
  nextRotationAt: string | null;
  /** What the latest risk evaluation predicted (rounded, see mapPrediction); null before the first one. */
  prediction: { predictedRotationAt: string; predictedTrigger: string; nextEvaluationAt: string; lastRiskScore: number } | null;
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
