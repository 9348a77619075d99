import { Context } from '@temporalio/activity';
import { anchorEvidence, recordAnchorCheck, recordAnchorWritten } from '../adapters/postgres/audit-anchor-repository';
import { raiseAlert } from '../adapters/postgres/alert-repository';
import { appendAudit, auditHead } from '../adapters/postgres/audit-repository';
import type { Database } from '../adapters/postgres/database';
import { latestEntropyReports } from '../adapters/postgres/entropy-repository';
import {
  acquireSyncLease,
  applyHoldingChanges,
  finishSyncRun,
  getMapSigningKey,
  loadKeymapSource,
  readKeymapSource,
  recordEpochDigest,
  recordMapSigningKey,
  recordNodeAcknowledgement,
  recordNodeSync,
  releaseSyncLease,
  renewSyncLease,
  startSyncRun,
  updateKeymapNodes,
} from '../adapters/postgres/keymap-repository';
import { lifecycleBusyReasons } from '../adapters/temporal/lifecycle-probe';
import { anchorNeedsWrite, anchorOf, anchorSignedText, compareAnchor, type AnchorCheck, type AnchorReading } from '../domain/audit/anchor';
import type { KeyrotorConfig } from '../domain/config';
import { harvestFreshness } from '../domain/entropy/freshness';
import { MAP_SIGNING_KEY_LABEL } from '../domain/identifiers';
import { buildKeyMap, expectationOf, keymapDigest, parsePkcs11Label, recordedBusyReason } from '../domain/keymap/build';
import { summariseDrift } from '../domain/keymap/drift-summary';
import { entropyHealthOf } from '../domain/keymap/entropy-health';
import { holdingChanges } from '../domain/keymap/holdings';
import { planSync } from '../domain/keymap/plan';
import { buildSnapshot, signedText, snapshotWrites } from '../domain/keymap/snapshot';
import type { AuditSyncResult, BeginSyncResult, CheckAnchorsResult, CommitSyncInput, CommitSyncResult, KeymapSyncResult, PlanSyncResult } from '../domain/keymap/sync';
import type { MapSigningKey, NodeObservation } from '../domain/keymap/types';
import { activityFailure, withTypedFailures } from './failures';
import { withHeartbeats } from './heartbeat';
import type { EntropyProvenance } from '../domain/entropy/node-entropy';

/** Long enough for the slowest step of a sync over thousands of keys; every step renews it. */
const LEASE_TTL_MS = 10 * 60_000;
/** Keys per replication batch: one wrap and one import activity each. */
const REPLICATION_BATCH = 100;

/** The control side of the key map sync: reads and records the map in PostgreSQL, plans, raises alerts. */
export function createKeymapControlActivities(deps: { db: Database; config: KeyrotorConfig }) {
  const { db, config } = deps;
  const nodeIds = (): string[] => config.hsm.nodes.map((node) => node.id);
  const sinks = (): string[] => config.alerts.webhooks.map((hook) => hook.id);
  /** A node that never reported a harvest is stale two intervals after this worker started watching. */
  const watchedSinceMs = Date.now();
  const holdLease = async (runId: string): Promise<void> => {
    if (!(await renewSyncLease(db, runId, LEASE_TTL_MS))) {
      throw activityFailure('keymap_lease_lost', `sync ${runId} lost the key map lease (it expired and another sync took it)`);
    }
  };

  /**
   * A sync that changed something (repairs, a snapshot written, a tampered one found, the signing key made) is an
   * audit entry. An audit anchor written alone is not: the entry would move the head, and the next sync would anchor
   * it again, for ever.
   */
  const appendSyncAudit = async (result: KeymapSyncResult): Promise<void> => {
    const changed = result.nodes.filter((node) => node.status === 'repaired' || node.snapshot.action !== 'unchanged' || node.snapshot.found === 'tampered');
    if (changed.length === 0 && !result.signingKey?.created) return;
    await db.transaction((tx) => appendAudit(tx, {
      actor: result.actor === 'system' ? 'system:keymap' : result.actor,
      action: 'keymap.synced',
      subject: 'keymap',
      details: {
        runId: result.runId, trigger: result.trigger, epoch: result.epoch, digest: result.digest,
        nodes: changed.map((node) => ({ node: node.nodeId, status: node.status, repairs: { ...node.repairs, failures: node.repairs.failures.length }, snapshot: node.snapshot.action, found: node.snapshot.found })),
      },
    }));
  };

  return withHeartbeats(withTypedFailures({
    /** Takes the sync lease (waiting, through the retry policy, while another sync holds it) and reads the map. */
    async beginKeymapSync(input: { runId: string; trigger: string; actor: string; startedAt: string; cluster: string[] }): Promise<BeginSyncResult> {
      const served = nodeIds();
      if (input.cluster.length !== served.length || input.cluster.some((id) => !served.includes(id))) {
        throw activityFailure('keymap_cluster_mismatch', `this sync is for the cluster of nodes ${input.cluster.join(', ')}, but this control worker serves ${served.join(', ')}; run keyrotor provision (or restart keyrotor) to bring the keymapSync schedule to the configured cluster`);
      }
      const lease = await acquireSyncLease(db, input.runId, LEASE_TTL_MS);
      if (!lease.acquired) throw activityFailure('keymap_sync_busy', `another sync (${lease.holder}) holds the key map until ${lease.expiresAt}`);
      await startSyncRun(db, { runId: input.runId, trigger: input.trigger, actor: input.actor, startedAt: input.startedAt });
      const source = await loadKeymapSource(db);
      const signingKey = await getMapSigningKey(db);
      return {
        nodeIds: nodeIds(),
        expected: expectationOf(source),
        current: { epoch: source.epoch, digest: keymapDigest(buildKeyMap(source)) },
        signingKey: signingKey && { fingerprint: signingKey.fingerprint, spki: signingKey.spki, keyType: signingKey.keyType, label: signingKey.label },
      };
    },

    async recordMapSigningKey(input: { runId: string; fingerprint: string; spki: string; generatedOn: string; entropyProvenance: EntropyProvenance | null }): Promise<{ key: MapSigningKey; created: boolean }> {
      await holdLease(input.runId);
      const recorded = await recordMapSigningKey(db, { ...input, keyType: 'ec-p256', label: MAP_SIGNING_KEY_LABEL });
      if (recorded.created) {
        await db.transaction((tx) => appendAudit(tx, {
          actor: 'system:keymap',
          action: 'keymap.signing_key.created',
          subject: 'keymap',
          details: { fingerprint: input.fingerprint, generatedOn: input.generatedOn, entropy: input.entropyProvenance ? { mode: input.entropyProvenance.mode, creditedBits: input.entropyProvenance.creditedBits } : null },
        }));
      }
      return recorded;
    },

    /**
     * Compares the nodes with the map and plans the repairs. A key the lifecycle owns is left alone this round: what it
     * recorded says so, and for every key the plan would touch, its workflow is asked as well.
     */
    async planKeymapSync(input: { runId: string; observations: NodeObservation[]; signingKey: MapSigningKey | null }): Promise<PlanSyncResult> {
      await holdLease(input.runId);
      const source = await loadKeymapSource(db);
      const now = Date.now();
      const busy = new Map<string, string>();
      for (const key of source.keys) {
        const why = recordedBusyReason(key, now);
        if (why) busy.set(key.name, why);
      }
      const base = { source, observations: input.observations, signingKey: input.signingKey, batchSize: REPLICATION_BATCH };
      const first = planSync({ ...base, busy });
      const touched = new Set<string>();
      for (const batch of first.replicate) for (const item of batch.items) if (item.name) touched.add(item.name);
      for (const repairs of Object.values(first.repairs)) for (const list of [repairs.destroy, repairs.restorePublic, repairs.disableSigning]) for (const ref of list) touched.add(ref.name);
      // A stranger labelled as a version of a key may be a generation the lifecycle has not recorded yet.
      for (const drift of first.drift) for (const item of drift.items) if (item.kind === 'unknown' && item.key === null) {
        const parsed = parsePkcs11Label(item.label);
        if (parsed && source.keys.some((key) => key.name === parsed.name)) touched.add(parsed.name);
      }
      const live = touched.size === 0 ? new Map<string, string>() : await lifecycleBusyReasons(Context.current().client, [...touched].filter((name) => !busy.has(name)), now);
      const plan = live.size === 0 ? first : planSync({ ...base, busy: new Map([...busy, ...live]) });
      return { plan, expected: expectationOf(source) };
    },

    /**
     * Records what the sync found: each node's entropy health, which node holds which objects (only real changes, so an
     * unchanged cluster bumps no epoch), drift, staleness; raises the alerts; then reads the map at its new epoch and
     * works out which snapshot objects each reachable node needs.
     */
    async commitKeymapSync(input: CommitSyncInput): Promise<CommitSyncResult> {
      await holdLease(input.runId);
      const reports = new Map((await latestEntropyReports(db)).map((report) => [report.nodeId, report]));
      await db.transaction(async (tx) => {
        // Holds the epoch row, so that the holdings are compared with the map they change: a lifecycle step recorded
        // meanwhile waits until this commits.
        await tx.query('SELECT epoch FROM keymap_state FOR UPDATE');
        await updateKeymapNodes(tx, nodeIds().map((id) => ({ id, entropy: entropyHealthOf(reports.get(id)?.snapshot ?? null) })));
        await applyHoldingChanges(tx, holdingChanges(await readKeymapSource(tx), input.observations));
      });
      const source = await loadKeymapSource(db);
      const map = buildKeyMap(source);
      const digest = keymapDigest(map);
      await recordEpochDigest(db, source.epoch, digest);
      const snapshot = buildSnapshot(map, source.epoch, digest);

      const writes: CommitSyncResult['writes'] = {};
      const shards: Record<string, string> = {};
      for (const observation of input.observations) {
        const drift = input.plan.drift.find((entry) => entry.nodeId === observation.nodeId);
        if (!observation.reachable) {
          await recordNodeSync(db, { nodeId: observation.nodeId, reachable: false, staleReason: observation.reason, snapshotStatus: null, snapshotProblem: null, tampered: false, drift: drift ? summariseDrift(drift) : null });
          await raiseAlert(db, { dedupKey: `keymap:stale:${observation.nodeId}`, severity: 'warning', source: 'keymap', subject: `node/${observation.nodeId}`, message: `the key map sync cannot reach ${observation.nodeId} (${observation.reason}); it is marked stale and repaired when it answers again` }, sinks());
          continue;
        }
        const reading = observation.snapshot;
        const tampered = reading.status === 'tampered';
        await recordNodeSync(db, {
          nodeId: observation.nodeId, reachable: true, staleReason: null, snapshotStatus: reading.status,
          snapshotProblem: 'problem' in reading ? reading.problem : null, tampered, drift: drift ? summariseDrift(drift) : null,
        });
        if (tampered) {
          await raiseAlert(db, { dedupKey: `keymap:tampered:${observation.nodeId}`, severity: 'critical', source: 'keymap', subject: `node/${observation.nodeId}`, message: `the key map snapshot on ${observation.nodeId} fails verification (${reading.problem}): the node is reported as tampered and its snapshot rewritten` }, sinks());
        }
        const needed = snapshotWrites(reading, snapshot);
        if (needed.head || needed.shards.length > 0) {
          writes[observation.nodeId] = needed;
          for (const shard of needed.shards) shards[String(shard)] = snapshot.shards[shard] as string;
        }
      }
      for (const stranger of input.plan.unknown) {
        await raiseAlert(db, {
          dedupKey: `keymap:unknown:${stranger.nodeId}:${stranger.class}:${stranger.id}:${stranger.label}`,
          severity: 'critical',
          source: 'keymap',
          subject: `node/${stranger.nodeId}`,
          message: `${stranger.nodeId} holds a ${stranger.class} the key map does not know (label '${stranger.label}', CKA_ID ${stranger.id || '(none)'}): quarantined — reported, left in place, never deleted automatically`,
        }, sinks());
      }
      // A stalled or skipped harvest leaves nothing behind but the age of the newest report: the sync (every minute)
      // is the watch that notices, since the harvest that would report it is the one not running.
      for (const nodeId of nodeIds()) {
        const freshness = harvestFreshness({ nodeId, lastHarvestAt: reports.get(nodeId)?.at ?? null, harvestIntervalSeconds: config.entropy.harvestIntervalSeconds, watchedSinceMs, nowMs: Date.now() });
        if (freshness.status === 'stale') {
          await raiseAlert(db, { dedupKey: `entropy:${nodeId}:stale`, severity: 'warning', source: 'entropy', subject: `node/${nodeId}`, message: freshness.reason as string }, sinks());
        }
      }
      for (const problem of input.plan.unrepairable) {
        await raiseAlert(db, { dedupKey: `keymap:unrepairable:${problem.nodeId}:${problem.key ?? 'signing-key'}:${problem.version ?? 0}`, severity: 'warning', source: 'keymap', subject: `node/${problem.nodeId}`, message: `key map drift on ${problem.nodeId} that the sync cannot repair: ${problem.problem}` }, sinks());
      }
      const anyWrite = Object.keys(writes).length > 0;
      return {
        epoch: source.epoch,
        digest,
        head: anyWrite ? snapshot.head : null,
        headToSign: anyWrite ? Buffer.from(signedText(snapshot.head), 'utf8').toString('base64') : null,
        shards,
        writes,
      };
    },

    /**
     * Compares each reached node's audit anchor with the log, records the check, and raises a critical alert for an
     * anchor the log contradicts (its newest entries removed, or rewritten) and for one that fails verification.
     */
    async checkAuditAnchors(input: { runId: string; readings: Array<{ nodeId: string; reading: AnchorReading }> }): Promise<CheckAnchorsResult> {
      await holdLease(input.runId);
      const evidence = await anchorEvidence(db, input.readings.flatMap(({ reading }) => (reading.status === 'valid' ? [reading.anchor.seq] : [])));
      const checks: Record<string, AnchorCheck> = {};
      for (const { nodeId, reading } of input.readings) {
        const check = compareAnchor(reading, { head: evidence.head, atSeq: reading.status === 'valid' ? evidence.entries.get(reading.anchor.seq) ?? null : null });
        checks[nodeId] = check;
        await recordAnchorCheck(db, nodeId, check);
        if (check.status === 'ahead-of-database' || check.status === 'mismatch') {
          const anchored = check.anchored as { seq: number; hash: string };
          await raiseAlert(db, {
            dedupKey: `audit:anchor:${check.status}:${nodeId}:${anchored.seq}`,
            severity: 'critical',
            source: 'audit',
            subject: `node/${nodeId}`,
            message: `the audit anchor on ${nodeId} shows the audit log was tampered with: ${check.problem ?? check.status}. The anchor is kept on the node as evidence`,
          }, sinks());
        } else if (check.status === 'tampered') {
          await raiseAlert(db, { dedupKey: `audit:anchor:tampered:${nodeId}`, severity: 'critical', source: 'audit', subject: `node/${nodeId}`, message: `the audit anchor on ${nodeId} fails verification (${check.problem ?? ''}): the node is reported as tampered and its anchor rewritten` }, sinks());
        }
      }
      return { checks };
    },

    /**
     * Records the sync in the audit log (as finishKeymapSync does without anchors), then reads the log's head: the
     * anchor then covers this sync's own entry, so an unchanged cluster and log write nothing at the next sync.
     */
    async auditKeymapSync(input: { runId: string; result: KeymapSyncResult; checks: Record<string, AnchorCheck> }): Promise<AuditSyncResult> {
      await holdLease(input.runId);
      await appendSyncAudit(input.result);
      const head = await auditHead(db);
      const writeTo = Object.entries(input.checks).filter(([, check]) => anchorNeedsWrite(check, head)).map(([nodeId]) => nodeId);
      const anchor = head && anchorOf(head);
      return { anchor, anchorToSign: anchor && writeTo.length > 0 ? Buffer.from(anchorSignedText(anchor), 'utf8').toString('base64') : null, writeTo };
    },

    /**
     * Records each node's acknowledgement, audit anchor written and the sync's result (auditKeymapSync recorded it in
     * the audit log already), then releases the lease.
     */
    async finishKeymapSync(input: { runId: string; result: KeymapSyncResult }): Promise<Record<string, never>> {
      const { result } = input;
      for (const node of result.nodes) {
        if (node.acknowledged) await recordNodeAcknowledgement(db, { nodeId: node.nodeId, ...node.acknowledged });
        if (node.auditAnchor?.written) await recordAnchorWritten(db, node.nodeId, node.auditAnchor.written);
      }
      await finishSyncRun(db, input.runId, result);
      await releaseSyncLease(db, input.runId);
      return {};
    },

    async releaseKeymapSyncLease(input: { runId: string }): Promise<Record<string, never>> {
      await releaseSyncLease(db, input.runId);
      return {};
    },
  }));
}

export type KeymapControlActivities = ReturnType<typeof createKeymapControlActivities>;

