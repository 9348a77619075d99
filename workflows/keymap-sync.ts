import { ActivityFailure, ApplicationFailure, CancellationScope, TimeoutFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { HsmKeyActivities } from '../activities/hsm-key-activities';
import type { HsmKeymapActivities, WrappedForReplication } from '../activities/hsm-keymap-activities';
import type { KeymapControlActivities } from '../activities/keymap-control-activities';
import { MAP_SIGNING_KEY_LABEL, hsmTaskQueue } from '../domain/identifiers';
import type { ExpectedInventory } from '../domain/keymap/build';
import { summariseDrift } from '../domain/keymap/drift-summary';
import type { SyncPlan } from '../domain/keymap/plan';
import type { ObjectSignature } from '../domain/signed-object';
import type { KeymapSyncInput, KeymapSyncResult, NodeAnchorResult, NodeRepairSummary, NodeSyncResult } from '../domain/keymap/sync';
import type { MapSigningKey, NodeInspection, NodeObservation } from '../domain/keymap/types';

/** Waits for the lease while another sync holds it (the schedule, a lifecycle step and the API may all ask at once). */
const lease = proxyActivities<KeymapControlActivities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '15m',
  retry: { initialInterval: '1s', backoffCoefficient: 1.5, maximumInterval: '5s' },
  summary: 'take the key map lease and read the map',
});

const control = proxyActivities<KeymapControlActivities>({
  startToCloseTimeout: '5m',
  retry: { initialInterval: '1s', maximumInterval: '15s', maximumAttempts: 5 },
});

/**
 * A node's work for the sync. A schedule-to-start timeout, unlike the lifecycle's steps: a node whose worker is down is
 * marked stale and repaired on a later round, so the sync never waits for it (and never holds up a rotation).
 */
function node(nodeId: string, summary: string): HsmKeymapActivities & Pick<HsmKeyActivities, 'generateKeyPair' | 'signDigest'> {
  return proxyActivities<HsmKeymapActivities & HsmKeyActivities>({
    taskQueue: hsmTaskQueue(nodeId),
    scheduleToStartTimeout: '15s',
    startToCloseTimeout: '10m',
    retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
    summary,
  });
}

function describeFailure(error: unknown): string {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof TimeoutFailure) return cause.timeoutType === 'SCHEDULE_TO_START' ? 'its worker did not pick up the task within 15 s (is it running?)' : `timed out (${cause.timeoutType})`;
  if (cause instanceof ApplicationFailure) return `${cause.type ?? 'error'}: ${cause.message}`;
  return cause instanceof Error ? cause.message : String(cause);
}

const noRepairs = (): NodeRepairSummary => ({ replicated: 0, publicKeysRestored: 0, destroyed: 0, signingDisabled: 0, bytesWritten: 0, failures: [] });

function addRepairs(into: NodeRepairSummary, more: NodeRepairSummary): void {
  into.replicated += more.replicated;
  into.publicKeysRestored += more.publicKeysRestored;
  into.destroyed += more.destroyed;
  into.signingDisabled += more.signingDisabled;
  into.bytesWritten += more.bytesWritten;
  into.failures.push(...more.failures);
}

function emptyPlan(observations: readonly NodeObservation[]): SyncPlan {
  return {
    replicate: [],
    repairs: {},
    drift: observations.map((observation) => ({ nodeId: observation.nodeId, inventory: !observation.reachable ? 'unreachable' : observation.inventory === null ? 'matched' : 'listed', items: [] })),
    skipped: [],
    unknown: [],
    unrepairable: [],
  };
}

const hasSigningKey = (observation: NodeObservation, fingerprint: string): boolean =>
  observation.reachable && observation.signingKeys.some((key) => key.id === fingerprint && key.privateKey && key.publicKey);

/**
 * One sync of the key map (`keymapSync` schedule every minute, after each lifecycle step, and POST /keymap/sync):
 * inspect every node on its own queue, repair drift (replicate what is missing by wrap/unwrap, destroy what must be
 * gone, report strangers and leave them), record holdings and the new epoch, and write the signed snapshot onto every
 * node that does not hold it yet; then check every node's audit anchor against the log and anchor the log's head
 * where it moved. Orchestration only; every decision is made in the control activities.
 */
export async function keymapSyncWorkflow(input: KeymapSyncInput): Promise<KeymapSyncResult> {
  const info = workflowInfo();
  const runId = `${info.workflowId}/${info.runId}`;
  const startedAt = new Date(Date.now()).toISOString();
  try {
    const begun = await lease.beginKeymapSync({ runId, trigger: input.trigger, actor: input.actor, startedAt, cluster: input.cluster });
    return await sync(runId, startedAt, input, begun);
  } catch (error) {
    await CancellationScope.nonCancellable(() => control.releaseKeymapSyncLease({ runId }));
    throw error;
  }
}

async function sync(runId: string, startedAt: string, input: KeymapSyncInput, begun: Awaited<ReturnType<KeymapControlActivities['beginKeymapSync']>>): Promise<KeymapSyncResult> {
  const problems: string[] = [];
  /**
   * A node's inventory against the map's: the digest first; when it differs, the node's bucket digests say which
   * buckets to list, and only their objects travel.
   */
  const inspect = async (nodeId: string, expected: ExpectedInventory, current: { epoch: number; digest: string } | null, signingKey: MapSigningKey | null): Promise<NodeObservation> => {
    const activities = node(nodeId, `inspect ${nodeId}: inventory digest, snapshot check`);
    try {
      const inspection = await activities.inspectKeymapNode({ expected: { digest: expected.digest, epoch: expected.epoch }, current, signingKey: signingKey && { fingerprint: signingKey.fingerprint, spki: signingKey.spki } });
      if (inspection.bucketDigests === null) return inspection;
      const differing = inspection.bucketDigests.map((digest, bucket) => (digest === expected.buckets[bucket] ? -1 : bucket)).filter((bucket) => bucket >= 0);
      // Equal buckets under a different whole digest would take a 64-bit collision: then everything is listed.
      const buckets = differing.length > 0 ? differing : null;
      const listed = await node(nodeId, `list ${buckets === null ? 'every' : buckets.length} inventory bucket(s) of ${nodeId}`).listKeymapInventory({ buckets, signingKey: signingKey && { fingerprint: signingKey.fingerprint } });
      return { ...inspection, inventory: listed.entries, listedBuckets: buckets };
    } catch (error) {
      return { nodeId, reachable: false, reason: describeFailure(error) };
    }
  };

  let signingKey = begun.signingKey;
  let observations = await Promise.all(begun.nodeIds.map((id) => inspect(id, begun.expected, begun.current, signingKey)));

  // The cluster map-signing key is made lazily, on the first reachable node, then replicated like a managed key.
  let signingKeyCreated = false;
  if (!signingKey) {
    const generator = observations.find((observation) => observation.reachable);
    if (generator) {
      try {
        const generation = await node(generator.nodeId, `generate the cluster map-signing key on ${generator.nodeId}`).generateKeyPair({ keyType: 'ec-p256', label: MAP_SIGNING_KEY_LABEL, entropyPolicy: 'hsm-only' });
        // An hsm-only generation is never held back for entropy.
        if ('entropyHeld' in generation) throw new Error(generation.entropyHeld);
        const generated = generation;
        const recorded = await control.recordMapSigningKey({
          runId, fingerprint: generated.fingerprint, spki: generated.spki, generatedOn: generator.nodeId,
          entropyProvenance: generated.entropyProvenance,
        });
        signingKey = recorded.key;
        signingKeyCreated = recorded.created;
        observations = observations.map((observation) => (observation.nodeId === generator.nodeId && observation.reachable && recorded.key.fingerprint === generated.fingerprint
          ? { ...observation, signingKeys: [...observation.signingKeys.filter((key) => key.id !== generated.fingerprint), { id: generated.fingerprint, privateKey: true, publicKey: true }] }
          : observation));
      } catch (error) {
        problems.push(`the map-signing key could not be made on ${generator.nodeId}: ${describeFailure(error)}`);
      }
    }
  }

  const reachable = observations.filter((observation): observation is NodeInspection => observation.reachable);
  const allMatched = reachable.every((observation) => observation.inventory === null && (!signingKey || hasSigningKey(observation, signingKey.fingerprint)));
  const planned = allMatched ? null : await control.planKeymapSync({ runId, observations, signingKey });
  const plan = planned?.plan ?? emptyPlan(observations);

  // Repairs: replication batches (wrap on the source, unwrap on each target) and each node's own repairs, all at once.
  const repairs: Record<string, NodeRepairSummary> = Object.fromEntries(begun.nodeIds.map((id) => [id, noRepairs()]));
  const failed = (nodeId: string, what: string, error: unknown): void => {
    (repairs[nodeId] as NodeRepairSummary).failures.push({ what, error: describeFailure(error) });
  };
  await Promise.all([
    ...plan.replicate.map(async (batch) => {
      let wrapped: WrappedForReplication[];
      try {
        const result = await node(batch.source, `wrap ${batch.items.length} key(s) on ${batch.source} for replication`).wrapForReplication({ fingerprints: batch.items.map((item) => item.fingerprint) });
        (repairs[batch.source] as NodeRepairSummary).failures.push(...result.failures);
        wrapped = result.wrapped;
      } catch (error) {
        for (const target of new Set(batch.items.flatMap((item) => item.targets))) failed(target, `replicate ${batch.items.length} key(s) from ${batch.source}`, error);
        return;
      }
      const byFingerprint = new Map(wrapped.map((entry) => [entry.fingerprint, entry]));
      const targets = [...new Set(batch.items.flatMap((item) => item.targets))];
      await Promise.all(targets.map(async (target) => {
        const items = batch.items
          .filter((item) => item.targets.includes(target) && byFingerprint.has(item.fingerprint))
          .map((item) => ({ ...(byFingerprint.get(item.fingerprint) as WrappedForReplication), label: item.label }));
        if (items.length === 0) return;
        try {
          addRepairs(repairs[target] as NodeRepairSummary, await node(target, `replicate ${items.length} key(s) from ${batch.source} to ${target}`).importReplicas({ items }));
        } catch (error) {
          failed(target, `replicate ${items.length} key(s) from ${batch.source}`, error);
        }
      }));
    }),
    ...Object.entries(plan.repairs).map(async ([nodeId, work]) => {
      if (work.destroy.length + work.restorePublic.length + work.disableSigning.length === 0) return;
      try {
        addRepairs(repairs[nodeId] as NodeRepairSummary, await node(nodeId, `repair ${nodeId}: destroy ${work.destroy.length}, restore ${work.restorePublic.length} public key(s), switch off ${work.disableSigning.length}`).repairKeyObjects(work));
      } catch (error) {
        failed(nodeId, 'repair key objects', error);
      }
    }),
  ]);

  // What the repaired nodes hold now, so that the holdings record what is, not what was meant.
  const repaired = new Set(Object.entries(repairs).filter(([, summary]) => summary.replicated + summary.publicKeysRestored + summary.destroyed + summary.signingDisabled > 0).map(([id]) => id));
  if (repaired.size > 0 && planned) {
    observations = await Promise.all(observations.map((observation) => (repaired.has(observation.nodeId) ? inspect(observation.nodeId, planned.expected, null, signingKey) : Promise.resolve(observation))));
  }

  const committed = await control.commitKeymapSync({ runId, observations, plan, repairs });

  // The snapshot: signed once inside an HSM that holds the map-signing key, written to every node that needs it.
  const acks = new Map<string, { epoch: number; digest: string; bytesWritten: number; headWritten: boolean; shardsWritten: number }>();
  const writeFailures = new Map<string, string>();
  const writeTo = Object.keys(committed.writes);
  if (writeTo.length > 0 && committed.head && committed.headToSign) {
    const key = signingKey;
    const signer = key ? observations.find((observation) => hasSigningKey(observation, key.fingerprint)) : undefined;
    if (!key || !signer) {
      problems.push(key ? 'no reachable node holds the map-signing key: the snapshot was not written' : 'there is no map-signing key yet: the snapshot was not written');
    } else {
      let signature: ObjectSignature | undefined;
      try {
        const signed = await node(signer.nodeId, `sign the map snapshot of epoch ${committed.epoch} on ${signer.nodeId}`).signDigest({ fingerprint: key.fingerprint, data: committed.headToSign });
        signature = { alg: 'ES256', keyFingerprint: key.fingerprint, value: signed.signature };
      } catch (error) {
        problems.push(`the snapshot could not be signed on ${signer.nodeId}: ${describeFailure(error)}`);
      }
      if (signature) {
        const head = committed.head;
        const headSignature = signature;
        await Promise.all(writeTo.map(async (nodeId) => {
          const needed = committed.writes[nodeId] as { head: boolean; shards: number[] };
          try {
            const written = await node(nodeId, `write the map snapshot of epoch ${committed.epoch} (${needed.shards.length} shard(s)) on ${nodeId}`).writeKeymapSnapshot({
              head: needed.head ? { head, signature: headSignature } : null,
              shards: needed.shards.map((shard) => ({ shard, value: committed.shards[String(shard)] as string })),
              signingKey: { fingerprint: key.fingerprint, spki: key.spki },
              expect: { epoch: committed.epoch, digest: committed.digest },
            });
            acks.set(nodeId, { epoch: committed.epoch, digest: committed.digest, bytesWritten: written.bytesWritten, headWritten: written.headWritten, shardsWritten: written.shardsWritten });
          } catch (error) {
            writeFailures.set(nodeId, describeFailure(error));
          }
        }));
      }
    }
  }

  const nodes: NodeSyncResult[] = observations.map((observation) => {
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
    const needed = committed.writes[observation.nodeId];
    const action = !needed ? 'unchanged' : ack ? (found.status === 'tampered' ? 'rewritten' : 'written') : 'not-written';
    const items = drift?.items ?? [];
    const unresolved = items.some((item) => item.kind === 'unknown' || item.kind === 'duplicate' || item.kind === 'forged-public-key' || item.kind === 'label-mismatch' || item.kind === 'signing-off')
      || nodeRepairs.failures.length > 0 || writeFailures.has(observation.nodeId) || found.status === 'tampered' && !ack;
    const didRepair = nodeRepairs.replicated + nodeRepairs.publicKeysRestored + nodeRepairs.destroyed + nodeRepairs.signingDisabled > 0;
    const snapshotBytes = ack?.bytesWritten ?? 0;
    return {
      nodeId: observation.nodeId,
      status: unresolved ? 'drift' : didRepair || found.status === 'tampered' ? 'repaired' : 'in-sync',
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

  const result: KeymapSyncResult = {
    runId,
    trigger: input.trigger,
    actor: input.actor,
    startedAt,
    finishedAt: new Date(Date.now()).toISOString(),
    epoch: committed.epoch,
    digest: committed.digest,
    signingKey: signingKey ? { fingerprint: signingKey.fingerprint, created: signingKeyCreated } : null,
    nodes,
    skippedKeys: plan.skipped,
    unknownObjects: plan.unknown,
    problems,
  };
  await anchorAuditLog(runId, result, observations, signingKey);
  result.finishedAt = new Date(Date.now()).toISOString();
  await control.finishKeymapSync({ runId, result });
  return result;
}

/**
 * The audit anchor: every reached node's anchor is checked against the log (an anchor the log contradicts raises an
 * alert and is kept), the sync is recorded in the log, and the log's head, signed inside an HSM that holds the
 * map-signing key, is written onto every node whose anchor is missing, tampered or behind. Fills each node's
 * `auditAnchor` in the result.
 */
async function anchorAuditLog(runId: string, result: KeymapSyncResult, observations: NodeObservation[], signingKey: MapSigningKey | null): Promise<void> {
  const readings = observations.flatMap((observation) => (observation.reachable && observation.auditAnchor ? [{ nodeId: observation.nodeId, reading: observation.auditAnchor }] : []));
  const { checks } = await control.checkAuditAnchors({ runId, readings });
  const entries = new Map<string, NodeAnchorResult>();
  for (const [nodeId, check] of Object.entries(checks)) {
    const kept = check.status === 'ahead-of-database' || check.status === 'mismatch';
    entries.set(nodeId, { status: check.status, problem: check.problem, found: check.anchored, action: kept ? 'kept' : 'unchanged', written: null, bytesWritten: 0 });
  }
  const audited = await control.auditKeymapSync({ runId, result, checks });
  const { anchor, anchorToSign } = audited;
  if (audited.writeTo.length > 0 && anchor && anchorToSign) {
    for (const nodeId of audited.writeTo) (entries.get(nodeId) as NodeAnchorResult).action = 'not-written';
    const key = signingKey;
    const signer = key ? observations.find((observation) => hasSigningKey(observation, key.fingerprint)) : undefined;
    if (!key || !signer) {
      result.problems.push(key ? 'no reachable node holds the map-signing key: the audit anchor was not written' : 'there is no map-signing key yet: the audit anchor was not written');
    } else {
      let signature: ObjectSignature | undefined;
      try {
        const signed = await node(signer.nodeId, `sign the audit anchor of entry ${anchor.seq} on ${signer.nodeId}`).signDigest({ fingerprint: key.fingerprint, data: anchorToSign });
        signature = { alg: 'ES256', keyFingerprint: key.fingerprint, value: signed.signature };
      } catch (error) {
        result.problems.push(`the audit anchor could not be signed on ${signer.nodeId}: ${describeFailure(error)}`);
      }
      const anchorSignature = signature;
      if (anchorSignature) {
        await Promise.all(audited.writeTo.map(async (nodeId) => {
          const entry = entries.get(nodeId) as NodeAnchorResult;
          try {
            const written = await node(nodeId, `write the audit anchor of entry ${anchor.seq} on ${nodeId}`).writeAuditAnchor({ anchor, signature: anchorSignature, signingKey: { fingerprint: key.fingerprint, spki: key.spki } });
            entry.action = entry.status === 'tampered' ? 'rewritten' : 'written';
            entry.written = { seq: anchor.seq, hash: anchor.hash };
            entry.bytesWritten = written.bytesWritten;
          } catch (error) {
            result.problems.push(`the audit anchor could not be written on ${nodeId}: ${describeFailure(error)}`);
          }
        }));
      }
    }
  }
  for (const nodeResult of result.nodes) {
    const entry = entries.get(nodeResult.nodeId);
    if (!entry) continue;
    nodeResult.auditAnchor = entry;
    nodeResult.bytesWritten += entry.bytesWritten;
  }
}
