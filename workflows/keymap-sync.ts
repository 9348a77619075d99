import { ActivityFailure, ApplicationFailure, CancellationScope, TimeoutFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { HsmKeyActivities } from '../activities/hsm-key-activities';
import type { HsmKeymapActivities, WrappedForReplication } from '../activities/hsm-keymap-activities';
import type { KeymapControlActivities } from '../activities/keymap-control-activities';
import { MAP_SIGNING_KEY_LABEL, hsmTaskQueue } from '../domain/identifiers';
import { STEP_HEARTBEAT_TIMEOUT_MS } from '../domain/step-timeouts';
import type { ExpectedInventory } from '../domain/keymap/build';
import type { KeymapSyncInput, KeymapSyncResult, NodeAnchorResult, NodeRepairSummary } from '../domain/keymap/sync';
import {
  addRepairs,
  anchorResults,
  anchorWritten,
  batchTargets,
  bucketsToList,
  emptyPlan,
  mapSigner,
  needsPlan,
  nodeSyncResults,
  noRepairs,
  repairedNodes,
  replicaImports,
  signingKeyGenerator,
  withAnchorResults,
  withSigningKeyOn,
  type SnapshotAck,
} from '../domain/keymap/sync-outcome';
import type { MapSigningKey, NodeObservation } from '../domain/keymap/types';
import type { ObjectSignature } from '../domain/signed-object';

/** Waits for the lease while another sync holds it (the schedule, a lifecycle step and the API may all ask at once). */
const lease = proxyActivities<KeymapControlActivities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '15m',
  heartbeatTimeout: STEP_HEARTBEAT_TIMEOUT_MS,
  retry: { initialInterval: '1s', backoffCoefficient: 1.5, maximumInterval: '5s' },
  summary: 'take the key map lease and read the map',
});

/** They heartbeat (activities/heartbeat.ts): an attempt whose control worker was killed is retried within seconds. */
const control = proxyActivities<KeymapControlActivities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: STEP_HEARTBEAT_TIMEOUT_MS,
  retry: { initialInterval: '1s', maximumInterval: '15s', maximumAttempts: 5 },
});

/**
 * A node's work for the sync. A schedule-to-start timeout, unlike the lifecycle's steps: a node whose worker is down is
 * marked stale and repaired on a later round, so the sync never waits for it (and never holds up a rotation). They
 * heartbeat: an attempt whose node worker was killed is retried within seconds, not after its 10-minute start-to-close
 * (the retry waits for the worker's return up to the schedule-to-start timeout, then the node is stale for this round).
 */
function node(nodeId: string, summary: string): HsmKeymapActivities & Pick<HsmKeyActivities, 'generateKeyPair' | 'signDigest'> {
  return proxyActivities<HsmKeymapActivities & HsmKeyActivities>({
    taskQueue: hsmTaskQueue(nodeId),
    scheduleToStartTimeout: '15s',
    startToCloseTimeout: '10m',
    heartbeatTimeout: STEP_HEARTBEAT_TIMEOUT_MS,
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

/** What signing with the map-signing key needs: the nodes as observed, the key, and where problems go. */
interface SigningContext {
  observations: readonly NodeObservation[];
  signingKey: MapSigningKey | null;
  problems: string[];
}

/**
 * Signs `data` once inside an HSM that holds the map-signing key, then writes the signed object to every node of
 * `writeTo` (each write reports its own failure). Serves the snapshot and the audit anchor; `what` names the object in
 * the problems it reports.
 */
async function signAndWrite(context: SigningContext, input: {
  what: string;
  signSummary: (signer: string) => string;
  data: string;
  writeTo: readonly string[];
  write: (nodeId: string, signature: ObjectSignature, key: MapSigningKey) => Promise<void>;
}): Promise<void> {
  const chosen = mapSigner(context.observations, context.signingKey, input.what);
  if ('problem' in chosen) {
    context.problems.push(chosen.problem);
    return;
  }
  const { signer, key } = chosen;
  let signature: ObjectSignature;
  try {
    const signed = await node(signer, input.signSummary(signer)).signDigest({ fingerprint: key.fingerprint, data: input.data });
    signature = { alg: 'ES256', keyFingerprint: key.fingerprint, value: signed.signature };
  } catch (error) {
    context.problems.push(`${input.what} could not be signed on ${signer}: ${describeFailure(error)}`);
    return;
  }
  await Promise.all(input.writeTo.map((nodeId) => input.write(nodeId, signature, key)));
}

/**
 * One sync of the key map (`keymapSync` schedule every minute, after each lifecycle step, and POST /keymap/sync):
 * inspect every node on its own queue, repair drift (replicate what is missing by wrap/unwrap, destroy what must be
 * gone, report strangers and leave them), record holdings and the new epoch, and write the signed snapshot onto every
 * node that does not hold it yet; then check every node's audit anchor against the log and anchor the log's head
 * where it moved. Orchestration only: the control activities and domain/keymap/sync-outcome make every decision.
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
      const buckets = bucketsToList(inspection.bucketDigests, expected.buckets);
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
  const generator = signingKey ? null : signingKeyGenerator(observations);
  if (generator) {
    try {
      const generation = await node(generator, `generate the cluster map-signing key on ${generator}`).generateKeyPair({ keyType: 'ec-p256', label: MAP_SIGNING_KEY_LABEL, entropyPolicy: 'hsm-only' });
      // An hsm-only generation is never held back for entropy.
      if ('entropyHeld' in generation) throw new Error(generation.entropyHeld);
      if (generation.spki === null) throw new Error('the map-signing key was generated without a public key');
      const recorded = await control.recordMapSigningKey({ runId, fingerprint: generation.fingerprint, spki: generation.spki, generatedOn: generator, entropyProvenance: generation.entropyProvenance });
      signingKey = recorded.key;
      signingKeyCreated = recorded.created;
      if (recorded.key.fingerprint === generation.fingerprint) observations = withSigningKeyOn(observations, generator, generation.fingerprint);
    } catch (error) {
      problems.push(`the map-signing key could not be made on ${generator}: ${describeFailure(error)}`);
    }
  }

  const planned = needsPlan(observations, signingKey) ? await control.planKeymapSync({ runId, observations, signingKey }) : null;
  const plan = planned?.plan ?? emptyPlan(observations);

  // Repairs: replication batches (wrap on the source, unwrap on each target) and each node's own repairs, all at once.
  const repairs: Record<string, NodeRepairSummary> = Object.fromEntries(begun.nodeIds.map((id) => [id, noRepairs()]));
  const record = (nodeId: string, more: NodeRepairSummary): void => {
    repairs[nodeId] = addRepairs(repairs[nodeId] ?? noRepairs(), more);
  };
  const failed = (nodeId: string, what: string, error: unknown): void => record(nodeId, { ...noRepairs(), failures: [{ what, error: describeFailure(error) }] });
  await Promise.all([
    ...plan.replicate.map(async (batch) => {
      let wrapped: WrappedForReplication[];
      try {
        const result = await node(batch.source, `wrap ${batch.items.length} key(s) on ${batch.source} for replication`).wrapForReplication({ fingerprints: batch.items.map((item) => item.fingerprint) });
        record(batch.source, { ...noRepairs(), failures: result.failures });
        wrapped = result.wrapped;
      } catch (error) {
        for (const target of batchTargets(batch)) failed(target, `replicate ${batch.items.length} key(s) from ${batch.source}`, error);
        return;
      }
      await Promise.all(replicaImports(batch, wrapped).map(async ({ target, items }) => {
        try {
          record(target, await node(target, `replicate ${items.length} key(s) from ${batch.source} to ${target}`).importReplicas({ items }));
        } catch (error) {
          failed(target, `replicate ${items.length} key(s) from ${batch.source}`, error);
        }
      }));
    }),
    ...Object.entries(plan.repairs).map(async ([nodeId, work]) => {
      if (work.destroy.length + work.restorePublic.length + work.disableSigning.length === 0) return;
      try {
        record(nodeId, await node(nodeId, `repair ${nodeId}: destroy ${work.destroy.length}, restore ${work.restorePublic.length} public key(s), switch off ${work.disableSigning.length}`).repairKeyObjects(work));
      } catch (error) {
        failed(nodeId, 'repair key objects', error);
      }
    }),
  ]);

  // What the repaired nodes hold now, so that the holdings record what is, not what was meant.
  const repaired = repairedNodes(repairs);
  if (repaired.size > 0 && planned) {
    observations = await Promise.all(observations.map((observation) => (repaired.has(observation.nodeId) ? inspect(observation.nodeId, planned.expected, null, signingKey) : Promise.resolve(observation))));
  }

  const committed = await control.commitKeymapSync({ runId, observations, plan, repairs });

  // The snapshot: signed once inside an HSM that holds the map-signing key, written to every node that needs it.
  const acks = new Map<string, SnapshotAck>();
  const writeFailures = new Map<string, string>();
  const { head, headToSign } = committed;
  const writeTo = Object.keys(committed.writes);
  if (writeTo.length > 0 && head && headToSign) {
    await signAndWrite({ observations, signingKey, problems }, {
      what: 'the snapshot',
      signSummary: (signer) => `sign the map snapshot of epoch ${committed.epoch} on ${signer}`,
      data: headToSign,
      writeTo,
      write: async (nodeId, signature, key) => {
        const needed = committed.writes[nodeId] as { head: boolean; shards: number[] };
        try {
          const written = await node(nodeId, `write the map snapshot of epoch ${committed.epoch} (${needed.shards.length} shard(s)) on ${nodeId}`).writeKeymapSnapshot({
            head: needed.head ? { head, signature } : null,
            shards: needed.shards.map((shard) => ({ shard, value: committed.shards[String(shard)] as string })),
            signingKey: { fingerprint: key.fingerprint, spki: key.spki },
            expect: { epoch: committed.epoch, digest: committed.digest },
          });
          acks.set(nodeId, { epoch: committed.epoch, digest: committed.digest, bytesWritten: written.bytesWritten, headWritten: written.headWritten, shardsWritten: written.shardsWritten });
        } catch (error) {
          writeFailures.set(nodeId, describeFailure(error));
        }
      },
    });
  }

  const result: KeymapSyncResult = {
    runId,
    trigger: input.trigger,
    actor: input.actor,
    startedAt,
    finishedAt: new Date(Date.now()).toISOString(),
    epoch: committed.epoch,
    digest: committed.digest,
    signingKey: signingKey ? { fingerprint: signingKey.fingerprint, created: signingKeyCreated } : null,
    nodes: nodeSyncResults({ observations, plan, repairs, writes: committed.writes, acks, writeFailures }),
    skippedKeys: plan.skipped,
    unknownObjects: plan.unknown,
    problems,
  };
  const anchors = await anchorAuditLog(runId, result, { observations, signingKey, problems });
  const finished: KeymapSyncResult = { ...result, nodes: withAnchorResults(result.nodes, anchors), finishedAt: new Date(Date.now()).toISOString() };
  await control.finishKeymapSync({ runId, result: finished });
  return finished;
}

/**
 * The audit anchor: every reached node's anchor is checked against the log (an anchor the log contradicts raises an
 * alert and is kept), the sync is recorded in the log, and the log's head, signed inside an HSM that holds the
 * map-signing key, is written onto every node whose anchor is missing, tampered or behind. Returns each checked
 * node's anchor outcome; problems go to the result's.
 */
async function anchorAuditLog(runId: string, result: KeymapSyncResult, signing: SigningContext): Promise<Map<string, NodeAnchorResult>> {
  const readings = signing.observations.flatMap((observation) => (observation.reachable && observation.auditAnchor ? [{ nodeId: observation.nodeId, reading: observation.auditAnchor }] : []));
  const { checks } = await control.checkAuditAnchors({ runId, readings });
  const audited = await control.auditKeymapSync({ runId, result, checks });
  const { anchor, anchorToSign } = audited;
  const writeTo = anchor && anchorToSign ? audited.writeTo : [];
  const entries = anchorResults(checks, writeTo);
  if (writeTo.length > 0 && anchor && anchorToSign) {
    await signAndWrite(signing, {
      what: 'the audit anchor',
      signSummary: (signer) => `sign the audit anchor of entry ${anchor.seq} on ${signer}`,
      data: anchorToSign,
      writeTo,
      write: async (nodeId, signature, key) => {
        try {
          const written = await node(nodeId, `write the audit anchor of entry ${anchor.seq} on ${nodeId}`).writeAuditAnchor({ anchor, signature, signingKey: { fingerprint: key.fingerprint, spki: key.spki } });
          entries.set(nodeId, anchorWritten(entries.get(nodeId) as NodeAnchorResult, anchor, written.bytesWritten));
        } catch (error) {
          signing.problems.push(`the audit anchor could not be written on ${nodeId}: ${describeFailure(error)}`);
        }
      },
    });
  }
  return entries;
}
