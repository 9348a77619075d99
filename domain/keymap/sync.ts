import type { AnchorCheck, AnchorStatus, AuditAnchor } from '../audit/anchor';
import type { ExpectedInventory } from './build';
import type { DriftSummary } from './drift-summary';
import type { SyncPlan, UnknownObject } from './plan';
import type { SnapshotHead } from './snapshot';
import type { MapSigningKey, NodeObservation, SnapshotReading } from './types';

/** The messages between the keymapSync workflow and its control activities, and the result it answers with. */

export type SyncTrigger = 'schedule' | 'manual';

export interface KeymapSyncInput {
  trigger: SyncTrigger;
  actor: string;
  /**
   * The node ids of the cluster this sync is for. A control worker serving another cluster on the same Temporal
   * namespace and task queue refuses it before it touches anything.
   */
  cluster: string[];
}

export interface BeginSyncResult {
  nodeIds: string[];
  /** What every node's inventory must digest to (whole and by bucket), at the epoch it was computed. */
  expected: ExpectedInventory;
  /** The map before this sync. */
  current: { epoch: number; digest: string };
  signingKey: MapSigningKey | null;
}

export interface PlanSyncResult {
  plan: SyncPlan;
  /** The expected inventory of the map the plan was made from, for the check after the repairs. */
  expected: ExpectedInventory;
}

export interface NodeRepairSummary {
  replicated: number;
  publicKeysRestored: number;
  destroyed: number;
  signingDisabled: number;
  bytesWritten: number;
  failures: Array<{ what: string; error: string }>;
}

export interface CommitSyncInput {
  runId: string;
  observations: NodeObservation[];
  plan: SyncPlan;
  repairs: Record<string, NodeRepairSummary>;
}

export interface CommitSyncResult {
  epoch: number;
  digest: string;
  /** The head to sign (base64 of its canonical JSON) and the head itself; null when no node needs a new snapshot. */
  head: SnapshotHead | null;
  headToSign: string | null;
  /** Shard object values some node needs, by shard number. */
  shards: Record<string, string>;
  writes: Record<string, { head: boolean; shards: number[] }>;
}

export interface NodeSyncResult {
  nodeId: string;
  /** in-sync: nothing to do; repaired: drift found and repaired; drift: drift left (see items); stale: not reachable. */
  status: 'in-sync' | 'repaired' | 'drift' | 'stale';
  reason: string | null;
  inventory: 'matched' | 'listed' | 'unreachable';
  objects: number | null;
  drift: DriftSummary;
  repairs: NodeRepairSummary;
  snapshot: {
    found: SnapshotReading['status'] | null;
    problem: string | null;
    action: 'unchanged' | 'written' | 'rewritten' | 'not-written';
    headWritten: boolean;
    shardsWritten: number;
    bytesWritten: number;
    bytesRead: number;
  };
  /** The node's audit anchor: absent for a node not reached, and from syncs recorded before anchors existed. */
  auditAnchor?: NodeAnchorResult;
  /** Object bytes written to the token in this sync: replicas, public keys, snapshot objects, the audit anchor. */
  bytesWritten: number;
  acknowledged: { epoch: number; digest: string } | null;
}

export interface NodeAnchorResult {
  /** What the sync found on the node, against the log (see AnchorStatus). */
  status: AnchorStatus;
  problem: string | null;
  /** The entry the node's anchor named when found; null when it held none that verifies. */
  found: { seq: number; hash: string } | null;
  /** kept: it contradicts the log and stays on the node as evidence; written/rewritten: the log's head now. */
  action: 'unchanged' | 'written' | 'rewritten' | 'kept' | 'not-written';
  /** The entry the node's anchor names after the sync, when it was written. */
  written: { seq: number; hash: string } | null;
  bytesWritten: number;
}

export interface CheckAnchorsResult {
  checks: Record<string, AnchorCheck>;
}

export interface AuditSyncResult {
  /** The log's head after this sync's own entry, to anchor; null for an empty log. */
  anchor: AuditAnchor | null;
  /** base64 of the anchor's canonical JSON, to sign; null when no node needs it. */
  anchorToSign: string | null;
  /** The nodes whose anchor is to be (re)written with it. */
  writeTo: string[];
}

export interface KeymapSyncResult {
  runId: string;
  trigger: SyncTrigger;
  actor: string;
  startedAt: string;
  finishedAt: string;
  epoch: number;
  digest: string;
  signingKey: { fingerprint: string; created: boolean } | null;
  nodes: NodeSyncResult[];
  skippedKeys: Array<{ key: string; why: string }>;
  unknownObjects: UnknownObject[];
  problems: string[];
}
