import type { AnchorCheck, AuditAnchor } from '../audit/anchor';
import { summariseDrift } from './drift-summary';
import type { ReplicationBatch, SyncPlan } from './plan';
import type { CommitSyncResult, NodeAnchorResult, NodeRepairSummary, NodeSyncResult } from './sync';
import type { MapSigningKey, NodeInspection, NodeObservation } from './types';

/**
 * The decisions of a key-map sync that fall between its activities: which buckets to list, whether a plan is needed,
 * where replicas go, which node signs, and what each node's outcome is. The keymapSync workflow only runs the steps;
 * these functions say what the steps' answers mean.
 */

/**
 * The buckets of a node's inventory to list, from its bucket digests against the map's; null: list everything. Equal
 * buckets under a different whole digest would take a 64-bit collision: then everything is listed.
 */
export function bucketsToList(bucketDigests: readonly string[], expected: readonly string[]): number[] | null {
  const differing = bucketDigests.map((digest, bucket) => (digest === expected[bucket] ? -1 : bucket)).filter((bucket) => bucket >= 0);
  return differing.length > 0 ? differing : null;
}

export function holdsSigningKey(observation: NodeObservation, fingerprint: string): boolean {
  return observation.reachable && observation.signingKeys.some((key) => key.id === fingerprint && key.privateKey && key.publicKey);
}

/** The node that makes the cluster map-signing key when there is none: the first reachable one. */
export function signingKeyGenerator(observations: readonly NodeObservation[]): string | null {
  return observations.find((observation) => observation.reachable)?.nodeId ?? null;
}

/** The observations once `nodeId` holds the newly made map-signing key `fingerprint`. */
export function withSigningKeyOn(observations: readonly NodeObservation[], nodeId: string, fingerprint: string): NodeObservation[] {
  return observations.map((observation) => (observation.nodeId === nodeId && observation.reachable
    ? { ...observation, signingKeys: [...observation.signingKeys.filter((key) => key.id !== fingerprint), { id: fingerprint, privateKey: true, publicKey: true }] }
    : observation));
}

/** Whether the sync needs a plan: some reachable node's inventory differs, or it lacks the map-signing key. */
export function needsPlan(observations: readonly NodeObservation[], signingKey: MapSigningKey | null): boolean {
  const reachable = observations.filter((observation): observation is NodeInspection => observation.reachable);
  return !reachable.every((observation) => observation.inventory === null && (!signingKey || holdsSigningKey(observation, signingKey.fingerprint)));
}

/** The plan of a sync that found every reachable node matching: nothing to repair, each node's drift empty. */
export function emptyPlan(observations: readonly NodeObservation[]): SyncPlan {
  return {
    replicate: [],
    repairs: {},
    drift: observations.map((observation) => ({ nodeId: observation.nodeId, inventory: !observation.reachable ? 'unreachable' : observation.inventory === null ? 'matched' : 'listed', items: [] })),
    skipped: [],
    unknown: [],
    unrepairable: [],
  };
}

export const noRepairs = (): NodeRepairSummary => ({ replicated: 0, publicKeysRestored: 0, destroyed: 0, signingDisabled: 0, bytesWritten: 0, failures: [] });

export function addRepairs(a: NodeRepairSummary, b: NodeRepairSummary): NodeRepairSummary {
  return {
    replicated: a.replicated + b.replicated,
    publicKeysRestored: a.publicKeysRestored + b.publicKeysRestored,
    destroyed: a.destroyed + b.destroyed,
    signingDisabled: a.signingDisabled + b.signingDisabled,
    bytesWritten: a.bytesWritten + b.bytesWritten,
    failures: [...a.failures, ...b.failures],
  };
}

const repairCount = (summary: NodeRepairSummary): number => summary.replicated + summary.publicKeysRestored + summary.destroyed + summary.signingDisabled;

/** The nodes some repair changed: their holdings are read again before they are recorded. */
export function repairedNodes(repairs: Readonly<Record<string, NodeRepairSummary>>): Set<string> {
  return new Set(Object.entries(repairs).filter(([, summary]) => repairCount(summary) > 0).map(([id]) => id));
}

/** Every node a replication batch writes to, in the order the batch names them. */
export function batchTargets(batch: ReplicationBatch): string[] {
  return [...new Set(batch.items.flatMap((item) => item.targets))];
}

/** What each target of a batch imports: the items wrapped on the source that are meant for it (none: no import). */
export function replicaImports<W extends { fingerprint: string }>(batch: ReplicationBatch, wrapped: readonly W[]): Array<{ target: string; items: Array<W & { label: string }> }> {
  const byFingerprint = new Map(wrapped.map((entry) => [entry.fingerprint, entry]));
  return batchTargets(batch)
    .map((target) => ({
      target,
      items: batch.items
        .filter((item) => item.targets.includes(target) && byFingerprint.has(item.fingerprint))
        .map((item) => ({ ...(byFingerprint.get(item.fingerprint) as W), label: item.label })),
    }))
    .filter((entry) => entry.items.length > 0);
}

/**
 * The node that signs an object with the map-signing key: a reached one that holds it. When there is none, why the
 * object (named by `what`, as "the snapshot") cannot be written.
 */
export function mapSigner(observations: readonly NodeObservation[], signingKey: MapSigningKey | null, what: string): { signer: string; key: MapSigningKey } | { problem: string } {
  if (!signingKey) return { problem: `there is no map-signing key yet: ${what} was not written` };
  const signer = observations.find((observation) => holdsSigningKey(observation, signingKey.fingerprint));
  return signer ? { signer: signer.nodeId, key: signingKey } : { problem: `no reachable node holds the map-signing key: ${what} was not written` };
}

/** A node's acknowledgement of the snapshot it was written. */
export interface SnapshotAck {
  epoch: number;
  digest: string;
  bytesWritten: number;
  headWritten: boolean;
  shardsWritten: number;
}

const UNRESOLVED_DRIFT = new Set(['unknown', 'duplicate', 'forged-public-key', 'label-mismatch', 'signing-off']);

/** Each node's outcome of the sync: what was found, repaired and written, and whether drift is left. */
export function nodeSyncResults(input: {
  observations: readonly NodeObservation[];
  plan: SyncPlan;
  repairs: Readonly<Record<string, NodeRepairSummary>>;
  writes: CommitSyncResult['writes'];
  acks: ReadonlyMap<string, SnapshotAck>;
  writeFailures: ReadonlyMap<string, string>;
}): NodeSyncResult[] {
  const { plan, repairs, writes, acks, writeFailures } = input;
  return input.observations.map((observation) => {
    const nodeRepairs = repairs[observation.nodeId] ?? noRepairs();
    const drift = plan.drift.find((entry) => entry.nodeId === observation.nodeId);
    const ack = acks.get(observation.nodeId);
    if (!observation.reachable) {
      return {
        nodeId: observation.nodeId, status: 'stale', reason: observation.reason, inventory: 'unreachable', objects: null,
        drift: summariseDrift({ nodeId: observation.nodeId, inventory: 'unreachable', items: [] }), repairs: nodeRepairs,
        snapshot: { found: null, problem: null, action: 'not-written', headWritten: false, shardsWritten: 0, bytesWritten: 0, bytesRead: 0 },
        bytesWritten: 0, acknowledged: null,
      };
    }
    const found = observation.snapshot;
    const needed = writes[observation.nodeId];
    const action = !needed ? 'unchanged' : ack ? (found.status === 'tampered' ? 'rewritten' : 'written') : 'not-written';
    const items = drift?.items ?? [];
    const unresolved = items.some((item) => UNRESOLVED_DRIFT.has(item.kind))
      || nodeRepairs.failures.length > 0 || writeFailures.has(observation.nodeId) || found.status === 'tampered' && !ack;
    const snapshotBytes = ack?.bytesWritten ?? 0;
    return {
      nodeId: observation.nodeId,
      status: unresolved ? 'drift' : repairCount(nodeRepairs) > 0 || found.status === 'tampered' ? 'repaired' : 'in-sync',
      reason: writeFailures.get(observation.nodeId) ?? null,
      // What the sync found before repairing: the plan's view, not the check after the repairs.
      inventory: drift?.inventory ?? (observation.inventory === null ? 'matched' : 'listed'),
      objects: observation.objectCount,
      drift: summariseDrift(drift ?? { nodeId: observation.nodeId, inventory: 'matched', items: [] }),
      repairs: nodeRepairs,
      snapshot: {
        found: found.status,
        problem: 'problem' in found ? found.problem : null,
        action,
        headWritten: ack?.headWritten ?? false,
        shardsWritten: ack?.shardsWritten ?? 0,
        bytesWritten: snapshotBytes,
        bytesRead: found.bytesRead,
      },
      bytesWritten: nodeRepairs.bytesWritten + snapshotBytes,
      acknowledged: ack ? { epoch: ack.epoch, digest: ack.digest } : found.status === 'valid' && !needed ? { epoch: found.epoch, digest: found.digest } : null,
    };
  });
}

/**
 * Each checked node's anchor outcome before any write: an anchor the log contradicts is kept as evidence; a node the
 * anchor goes to is `not-written` until its write is acknowledged.
 */
export function anchorResults(checks: Readonly<Record<string, AnchorCheck>>, writeTo: readonly string[]): Map<string, NodeAnchorResult> {
  const entries = new Map<string, NodeAnchorResult>();
  for (const [nodeId, check] of Object.entries(checks)) {
    const kept = check.status === 'ahead-of-database' || check.status === 'mismatch';
    entries.set(nodeId, { status: check.status, problem: check.problem, found: check.anchored, action: writeTo.includes(nodeId) ? 'not-written' : kept ? 'kept' : 'unchanged', written: null, bytesWritten: 0 });
  }
  return entries;
}

/** A node's anchor outcome once the log's head `anchor` was written onto it. */
export function anchorWritten(entry: NodeAnchorResult, anchor: AuditAnchor, bytesWritten: number): NodeAnchorResult {
  return { ...entry, action: entry.status === 'tampered' ? 'rewritten' : 'written', written: { seq: anchor.seq, hash: anchor.hash }, bytesWritten };
}

/** The sync's node results with each node's anchor outcome and its bytes added. */
export function withAnchorResults(nodes: readonly NodeSyncResult[], anchors: ReadonlyMap<string, NodeAnchorResult>): NodeSyncResult[] {
  return nodes.map((node) => {
    const entry = anchors.get(node.nodeId);
    return entry ? { ...node, auditAnchor: entry, bytesWritten: node.bytesWritten + entry.bytesWritten } : node;
  });
}
