import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { HsmActivities } from '../activities/hsm-activities';
import type { HsmKeyActivities } from '../activities/hsm-key-activities';
import type { KeyControlActivities } from '../activities/key-control-activities';
import type { EvaluateKeyRiskResult, PredictionActivities } from '../activities/prediction-activities';
import { ARCHIVE_KEK_LABEL, CLUSTER_KEK_LABEL, hsmTaskQueue, webhookDeliveryWorkflowId } from '../domain/identifiers';
import { pkcs11Label, type RotationEvidence, type RotationTrigger, type TransitionVerdict } from '../domain/keys/key-model';
import * as lifecycle from '../domain/keys/lifecycle-state';
import { effectiveEntropyPolicy, policyDurations, resolvePolicy } from '../domain/keys/policy';
import {
  activeVersionSearchAttribute,
  completeGraceUpdate,
  decommissionKeyUpdate,
  evaluateKeyUpdate,
  extendGracePeriodSignal,
  keyNameSearchAttribute,
  keyPhaseSearchAttribute,
  keyStateQuery,
  reevaluateKeySignal,
  rotateKeyUpdate,
  updatePolicyUpdate,
  type CompleteGraceResult,
  type DecommissionRequest,
  type RotateKeyRequest,
  type RotateKeyResult,
  type UpdatePolicyRequest,
} from './key-messages';
import { webhookDeliveryWorkflow } from './webhook-delivery';

export interface KeyLifecycleInput {
  state: lifecycle.KeyLifecycleState;
  /** Why the key was created (the first run only). */
  reason?: string;
}

// Control activities name no task queue: they run on the queue this workflow runs on, the configured control queue.
const control = proxyActivities<KeyControlActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/**
 * Key operations on one node. No schedule-to-start timeout: a step that must happen on a node waits for that node's
 * worker (the Web UI shows the pending activity and its summary) rather than leaving the cluster inconsistent. The
 * start-to-close timeout is how long a worker that died holding a task delays its retry; key generation gets longer,
 * as RSA generation on some HSMs takes minutes.
 */
function hsm(nodeId: string, summary: string, startToCloseTimeout: '30s' | '5m' = '30s'): HsmKeyActivities {
  return proxyActivities<HsmKeyActivities>({
    taskQueue: hsmTaskQueue(nodeId),
    startToCloseTimeout,
    retry: { initialInterval: '1s', maximumInterval: '15s' },
    summary,
  });
}

function ping(nodeId: string): HsmActivities {
  return proxyActivities<HsmActivities>({
    taskQueue: hsmTaskQueue(nodeId),
    scheduleToStartTimeout: '5s',
    startToCloseTimeout: '10s',
    retry: { maximumAttempts: 1 },
    summary: `is ${nodeId} up to generate?`,
  });
}

/**
 * The risk evaluation reads PostgreSQL and computes; a few attempts, then the workflow records the failure and tries
 * again at the next evaluation rather than holding its grace deadlines and purges behind it.
 */
const predict = proxyActivities<PredictionActivities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 4 },
  summary: 'forecast usage, look for anomalies, score the risk',
});

const failure = (code: string, message: string): ApplicationFailure => ApplicationFailure.nonRetryable(message, code);

/**
 * The life of one key, from its first version to the purge of its last: generate on a healthy node, replicate to every
 * node, publish, hold the grace period, archive inside the HSMs, verify a clean transition, purge after retention.
 * Orchestration only: each step is an activity on the task queue of the node that must do it, and each state change is
 * recorded with its audit entry in one transaction.
 */
export async function keyLifecycleWorkflow(input: KeyLifecycleInput): Promise<{ name: string; phase: string }> {
  let state = input.state;
  let woken = false;
  let rotation: { id: number; request: RotateKeyRequest; trigger: RotationTrigger; evidence?: RotationEvidence } | undefined;
  let evaluationRequest: { actor: string; done: boolean } | undefined;
  let evaluationSoon = false;
  let rotationOutcome: { id: number; result?: RotateKeyResult; error?: ApplicationFailure } | undefined;
  let rotationIds = 0;
  let graceCompletion: { request: { reason: string; actor: string }; result?: CompleteGraceResult } | undefined;
  let decommission: { request: DecommissionRequest; destroyed?: number[] } | undefined;
  const pendingEvents: Array<{ action: string; actor: string; details: Record<string, unknown> }> = [];
  const wake = (): void => {
    woken = true;
  };

  setHandler(keyStateQuery, () => lifecycle.viewOf(state, Date.now()));

  setHandler(extendGracePeriodSignal, (request) => {
    try {
      const extended = lifecycle.extendGrace(state, request.byMs);
      state = extended.state;
      pendingEvents.push({ action: 'key.grace.extended', actor: request.actor, details: { byMs: request.byMs, reason: request.reason, deadline: extended.deadline } });
    } catch (error) {
      // A signal cannot answer: a refused extension is recorded instead (the API checks the cap before it signals).
      pendingEvents.push({ action: 'key.grace.extension_refused', actor: request.actor, details: { byMs: request.byMs, reason: request.reason, why: (error as Error).message } });
    }
    wake();
  });

  setHandler(
    rotateKeyUpdate,
    async (request) => {
      rotationIds += 1;
      const id = rotationIds;
      rotation = { id, request, trigger: request.emergency ? 'emergency' : 'manual' };
      wake();
      await condition(() => rotationOutcome?.id === id);
      const outcome = rotationOutcome as { result?: RotateKeyResult; error?: ApplicationFailure };
      if (outcome.error) throw outcome.error;
      return outcome.result as RotateKeyResult;
    },
    {
      validator: (request: RotateKeyRequest) => {
        if (!request.reason?.trim()) throw failure('reason_required', 'a rotation needs a reason');
        if (state.phase === 'decommissioning' || state.phase === 'decommissioned') throw failure('key_decommissioned', `key ${state.name} is decommissioned`);
        if (state.phase === 'creating') throw failure('key_not_ready', `key ${state.name} is still being created`);
        if (rotation || state.phase === 'rotating') throw failure('rotation_in_progress', `key ${state.name} is already rotating; wait for that rotation to finish`);
        const retiring = lifecycle.retiringVersion(state);
        if (!request.emergency && retiring) {
          throw failure('grace_period_running', `v${retiring.version} of ${state.name} is in its grace period until ${retiring.graceDeadline}; complete it first (POST /keys/${state.name}/grace/complete) or rotate with emergency: true`);
        }
      },
    },
  );

  setHandler(reevaluateKeySignal, () => {
    evaluationSoon = true;
    wake();
  });

  setHandler(
    evaluateKeyUpdate,
    async (request) => {
      const mine = { actor: request.actor, done: false };
      evaluationRequest = mine;
      wake();
      await condition(() => mine.done);
      return state.prediction as lifecycle.PredictionSummary;
    },
    {
      validator: (_request) => {
        if (state.phase !== 'active' && state.phase !== 'grace') throw failure('key_busy', `key ${state.name} is ${state.phase}; it is evaluated when active or in a grace period`);
        if (rotation) throw failure('rotation_in_progress', `key ${state.name} is about to rotate`);
        if (evaluationRequest && !evaluationRequest.done) throw failure('evaluation_running', `an evaluation of ${state.name} is running`);
      },
    },
  );

  setHandler(
    completeGraceUpdate,
    async (request) => {
      graceCompletion = { request };
      wake();
      await condition(() => graceCompletion?.result !== undefined);
      const result = graceCompletion.result as CompleteGraceResult;
      graceCompletion = undefined;
      return result;
    },
    {
      validator: (_request) => {
        if (!lifecycle.retiringVersion(state)) throw failure('no_grace_period', `key ${state.name} has no grace period running`);
        if (graceCompletion) throw failure('grace_completing', 'the grace period is already being completed');
      },
    },
  );

  setHandler(
    updatePolicyUpdate,
    (request) => {
      state = { ...state, policy: resolvePolicy(request.change, state.policy) };
      pendingEvents.push({ action: 'key.policy.updated', actor: request.actor, details: { change: request.change, policy: state.policy } });
      wake();
      return state.policy;
    },
    {
      validator: (request: UpdatePolicyRequest) => {
        if (state.phase === 'decommissioning' || state.phase === 'decommissioned') throw failure('key_decommissioned', `key ${state.name} is decommissioned`);
        try {
          resolvePolicy(request.change, state.policy);
        } catch (error) {
          throw failure('invalid_policy', (error as Error).message);
        }
      },
    },
  );

  setHandler(
    decommissionKeyUpdate,
    async (request) => {
      decommission = { request };
      wake();
      await condition(() => decommission?.destroyed !== undefined);
      return { destroyedVersions: decommission.destroyed as number[] };
    },
    {
      validator: (_request) => {
        if (decommission || state.phase === 'decommissioned') throw failure('key_decommissioned', `key ${state.name} is already decommissioned`);
        if (rotation || state.phase === 'rotating' || state.phase === 'creating') throw failure('key_busy', `key ${state.name} is ${state.phase}; try again when it is done`);
      },
    },
  );

  async function record(action: string, actor: string, details: Record<string, unknown>): Promise<void> {
    state = { ...state, eventSeq: state.eventSeq + 1 };
    await control.recordKeyEvent({ state, event: { action, actor, details } });
    publishToWebUi();
  }

  function publishToWebUi(): void {
    const active = lifecycle.activeVersion(state);
    upsertSearchAttributes([
      { key: keyNameSearchAttribute, value: state.name },
      { key: keyPhaseSearchAttribute, value: state.phase },
      { key: activeVersionSearchAttribute, value: active ? `v${active.version}` : 'none' },
    ]);
    describeForWebUi();
  }

  /** The workflow's own summary in the Web UI (metadata only: no command, so it may change at any point). */
  function describeForWebUi(): void {
    const lines = state.versions.map((v) => `- v${v.version} \`${v.kid}\` **${v.state}**${v.graceDeadline ? ` (grace until ${v.graceDeadline})` : ''}${v.purgeAfter ? ` (purge after ${v.purgeAfter})` : ''}`);
    const p = state.prediction;
    const prediction = p
      ? `risk ${p.score === null ? 'not evaluated (failed)' : p.score.toFixed(3)} of ${p.threshold} at ${p.evaluatedAt}; predicted rotation: ${p.predictedTrigger ?? '—'} at ${p.predictedRotationAt ?? '—'}; next evaluation ${p.nextEvaluationAt}\n\n${p.reason}`
      : 'not evaluated yet';
    setCurrentDetails(`**${state.name}** (${state.keyType}) — ${state.phase}\n\n${lines.join('\n')}\n\nnext maxAge rotation: ${state.nextRotationAt ?? '—'}\n\n${prediction}`);
  }

  async function flushPendingEvents(): Promise<void> {
    while (pendingEvents.length > 0) {
      const event = pendingEvents.shift() as (typeof pendingEvents)[number];
      await record(event.action, event.actor, event.details);
    }
  }

  /** Pings every node through its own queue and picks a healthy one, spreading generation across the cluster. */
  async function choosePrimary(nodeIds: string[], version: number): Promise<string> {
    for (;;) {
      const answers = await Promise.all(nodeIds.map((id) => ping(id).pingHsmNode({ nodeId: id, randomBytes: 8 }).then(() => id, () => undefined)));
      const up = answers.filter((id): id is string => id !== undefined);
      if (up.length > 0) return up[(version - 1) % up.length] as string;
      await sleep('30s', { summary: 'no HSM node answered; trying again' });
    }
  }

  async function createVersion(trigger: RotationTrigger, reason: string, actor: string, evidence?: RotationEvidence): Promise<RotateKeyResult> {
    const { nodeIds } = await control.getClusterNodes({});
    const version = lifecycle.nextVersionNumber(state);
    const previous = lifecycle.activeVersion(state) ?? [...state.versions].reverse().find((v) => v.state === 'compromised');
    const primary = await choosePrimary(nodeIds, version);
    const label = pkcs11Label(state.name, version);
    const generated = await hsm(primary, `seed from the entropy pool and generate ${state.keyType} v${version} on ${primary}`, '5m').generateKeyPair({
      keyType: state.keyType,
      label,
      entropyPolicy: effectiveEntropyPolicy(state.policy),
    });
    state = lifecycle.addPendingVersion(state, {
      version,
      fingerprint: generated.fingerprint,
      spki: generated.spki,
      generatedOn: primary,
      lineage: { previousVersion: previous?.version ?? null, trigger, reason, actor, ...(evidence ? { evidence } : {}) },
      now: new Date(Date.now()).toISOString(),
      entropyProvenance: generated.entropyProvenance as unknown as Record<string, unknown>,
    });
    await record('key.version.generated', actor, {
      version, fingerprint: generated.fingerprint, node: primary, trigger, reason,
      entropy: { mode: generated.entropyProvenance.mode, creditedBits: generated.entropyProvenance.creditedBits },
    });

    const targets = nodeIds.filter((id) => id !== primary);
    if (targets.length > 0) {
      // The wrapped blob is ciphertext under the cluster KEK, which never leaves the HSMs.
      const wrapped = await hsm(primary, `wrap v${version} under the cluster KEK`).wrapPrivateKey({ fingerprint: generated.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL });
      await Promise.all(
        targets.map((target) =>
          hsm(target, `replicate v${version} from ${primary} to ${target}`).importReplica({
            fingerprint: generated.fingerprint,
            label,
            keyType: state.keyType,
            wrapped: wrapped.wrapped,
            unwrappingKeyLabel: CLUSTER_KEK_LABEL,
            publicKey: wrapped.publicKey,
          }),
        ),
      );
    }
    await record('key.version.replicated', actor, { version, nodes: nodeIds });

    state = lifecycle.activate(state, version, Date.now());
    const replaced = previous ? state.versions.find((v) => v.version === previous.version) : undefined;
    await record('key.version.activated', actor, { version, previousVersion: previous?.version ?? null, published: 'jwks' });
    const created = state.versions.find((v) => v.version === version) as (typeof state.versions)[number];
    await notifySubscribers(version, created.kid, created.fingerprint);
    return {
      version,
      kid: created.kid,
      fingerprint: created.fingerprint,
      previous: replaced ? { version: replaced.version, state: replaced.state } : null,
      signingDisabledOn: [],
    };
  }

  /** Tells every subscriber, each through its own child workflow: a failing subscriber never holds the rotation. */
  async function notifySubscribers(version: number, kid: string, fingerprint: string): Promise<void> {
    const { ids } = await control.listSubscriptionIds({});
    for (const subscriptionId of ids) {
      await startChild(webhookDeliveryWorkflow, {
        workflowId: webhookDeliveryWorkflowId(state.name, version, subscriptionId),
        parentClosePolicy: ParentClosePolicy.ABANDON,
        args: [{ subscriptionId, event: 'key.rotated', payload: { key: state.name, version, kid, fingerprint, jwksPath: '/.well-known/jwks.json' } }],
      });
    }
  }

  async function rotate(request: RotateKeyRequest, trigger: RotationTrigger, evidence?: RotationEvidence): Promise<RotateKeyResult> {
    state = { ...state, phase: 'rotating' };
    if (evidence) await record('key.rotation.triggered', request.actor, { trigger, reason: request.reason, evidence });
    const old = lifecycle.activeVersion(state);
    let signingDisabledOn: string[] = [];
    if (request.emergency && old) {
      // Stop the bleeding first: the compromised version must not sign anywhere, even before its successor exists.
      const { nodeIds } = await control.getClusterNodes({});
      await Promise.all(nodeIds.map((id) => hsm(id, `switch off CKA_SIGN of v${old.version} on ${id}`).setSigning({ fingerprint: old.fingerprint, enabled: false })));
      signingDisabledOn = nodeIds;
      state = lifecycle.markCompromised(state, old.version, Date.now());
      await record('key.version.compromised', request.actor, { version: old.version, reason: request.reason, signingDisabledOn });
    }
    const result = await createVersion(trigger, request.reason, request.actor, evidence);
    return { ...result, signingDisabledOn };
  }

  async function archiveVersion(version: number, actor: string, why: string): Promise<void> {
    const target = state.versions.find((v) => v.version === version) as (typeof state.versions)[number];
    const { nodeIds } = await control.getClusterNodes({});
    const holder = nodeIds.includes(target.generatedOn) ? target.generatedOn : (nodeIds[0] as string);
    const wrapped = await hsm(holder, `archive v${version} under the archive key`).wrapPrivateKey({ fingerprint: target.fingerprint, wrappingKeyLabel: ARCHIVE_KEK_LABEL });
    await control.storeArchiveBlob({ name: state.name, version, fingerprint: target.fingerprint, wrapped: wrapped.wrapped });
    await Promise.all(nodeIds.map((id) => hsm(id, `destroy the private key of v${version} on ${id}`).destroyKeyObjects({ fingerprint: target.fingerprint, privateKey: true, publicKey: false })));
    state = lifecycle.archive(state, version, Date.now());
    await record('key.version.archived', actor, { version, why, archivedFrom: holder });
    await verifyTransition(version);
  }

  async function verifyTransition(version: number): Promise<void> {
    const target = state.versions.find((v) => v.version === version) as (typeof state.versions)[number];
    const { nodeIds } = await control.getClusterNodes({});
    const described = await Promise.all(nodeIds.map((id) => hsm(id, `look for live objects of v${version} on ${id}`).describeKey({ fingerprint: target.fingerprint }).then((d) => ({ id, live: d.privateKey }))));
    const blob = await control.loadArchiveBlob({ name: state.name, version });
    const checkNode = nodeIds[0] as string;
    const archived = await hsm(checkNode, `unwrap the archive of v${version} into a session object and test it`).verifyArchivedBlob({
      wrapped: blob.wrapped,
      keyType: state.keyType,
      unwrappingKeyLabel: ARCHIVE_KEK_LABEL,
      spki: target.spki,
    });
    const liveObjectsOn = described.filter((d) => d.live).map((d) => d.id);
    // After a grace period whose end found the version still in use, the check counts from the last look that found it
    // unused: use during a granted extension is expected, use after it is not.
    const switchedAt = target.usageCheckedAt ?? target.retiringAt ?? target.compromisedAt ?? target.archivedAt ?? new Date(Date.now()).toISOString();
    // Histories recorded before usage events existed have no countSignsAfter step: they replay the old branch.
    const used = patched('usage-evidence-in-verdict')
      ? await control.countSignsAfter({ name: state.name, version, since: switchedAt })
      : { evidence: 'none' as const, count: 0, apps: [] };
    const verdict: TransitionVerdict = {
      ok: liveObjectsOn.length === 0 && archived.matches && used.count === 0,
      checkedAt: new Date(Date.now()).toISOString(),
      liveObjectsOn,
      archiveVerified: archived.matches,
      usage: used.evidence === 'none'
        ? { evidence: 'none', signsAfterSwitch: null, note: 'no usage events were ever reported for this key, so signing use after the switch could not be checked' }
        : { evidence: 'events', signsAfterSwitch: used.count, note: used.count === 0 ? `no signing use reported since ${switchedAt}` : `signed ${used.count} time(s) since ${switchedAt} by ${used.apps.join(', ')}` },
    };
    state = lifecycle.recordVerdict(state, version, verdict, Date.now());
    await record(verdict.ok ? 'key.version.verified' : 'key.version.verification_failed', 'system', { version, verdict });
    if (!verdict.ok) {
      await control.raiseKeyAlert({
        dedupKey: `key:${state.name}:v${version}:transition`,
        severity: 'critical',
        subject: `key/${state.name}`,
        message: `the transition away from ${target.kid} is not clean (live private objects on: ${liveObjectsOn.join(', ') || 'none'}; archive ${archived.matches ? 'verified' : 'does NOT match'}; ${verdict.usage.note}); its purge is held`,
      });
    }
  }

  async function purgeVersion(version: number, actor: string, why: string): Promise<void> {
    const target = state.versions.find((v) => v.version === version) as (typeof state.versions)[number];
    const { nodeIds } = await control.getClusterNodes({});
    await Promise.all(nodeIds.map((id) => hsm(id, `purge v${version} on ${id}`).destroyKeyObjects({ fingerprint: target.fingerprint, privateKey: true, publicKey: true })));
    await control.deleteArchiveBlob({ name: state.name, version });
    state = lifecycle.purge(state, version, Date.now());
    await record('key.version.purged', actor, { version, why });
    state = lifecycle.forgetPurged(state);
  }

  async function runDecommission(request: DecommissionRequest): Promise<number[]> {
    state = { ...state, phase: 'decommissioning' };
    await record('key.decommissioning', request.actor, { reason: request.reason });
    const destroyed: number[] = [];
    for (const version of [...state.versions]) {
      await purgeVersion(version.version, request.actor, `decommissioned: ${request.reason}`);
      destroyed.push(version.version);
    }
    state = { ...state, phase: 'decommissioned', nextRotationAt: null };
    await record('key.decommissioned', request.actor, { reason: request.reason, destroyedVersions: destroyed });
    return destroyed;
  }

  /** After a failed rotation: removes the half-made version from every node, so no orphan objects stay behind. */
  async function abandonPendingVersions(actor: string, why: string): Promise<void> {
    for (const pending of state.versions.filter((v) => v.state === 'pending')) await purgeVersion(pending.version, actor, why);
    const phase = lifecycle.retiringVersion(state) ? 'grace' : lifecycle.activeVersion(state) ? 'active' : 'creating';
    state = { ...state, phase };
    await record('key.rotation.failed', actor, { why });
    await control.raiseKeyAlert({ dedupKey: `key:${state.name}:rotation`, severity: 'critical', subject: `key/${state.name}`, message: why });
  }

  /**
   * One risk evaluation of the active version: the activity forecasts, scores and decides; the workflow keeps the
   * summary and, when a trigger fired, queues the rotation with the evaluation as its evidence.
   */
  async function evaluate(): Promise<void> {
    const active = lifecycle.activeVersion(state);
    if (!active) return;
    const seq = (state.prediction?.seq ?? 0) + 1;
    const evaluationId = `${state.name}/e${seq}`;
    let result: EvaluateKeyRiskResult;
    try {
      result = await predict.evaluateKeyRisk({
        name: state.name,
        evaluationId,
        version: active.version,
        versionSince: active.activatedAt ?? active.createdAt,
        keyCreatedAt: state.createdAt,
        policy: state.policy,
      });
    } catch (error) {
      const nowMs = Date.now();
      const message = (error as Error).message;
      state = {
        ...state,
        prediction: {
          evaluationId, seq, evaluatedAt: new Date(nowMs).toISOString(), version: active.version, score: null, threshold: state.policy.riskThreshold,
          predictedTrigger: state.prediction?.predictedTrigger ?? null, predictedRotationAt: state.prediction?.predictedRotationAt ?? null,
          nextEvaluationAt: new Date(nowMs + policyDurations(state.policy).evaluationIntervalMs).toISOString(),
          reason: `the evaluation failed: ${message}`, failed: true,
        },
      };
      await control.raiseKeyAlert({ dedupKey: `key:${state.name}:evaluation`, severity: 'warning', subject: `key/${state.name}`, message: `the risk evaluation of ${state.name} failed: ${message}` });
      return;
    }
    state = {
      ...state,
      prediction: {
        evaluationId, seq, evaluatedAt: result.evaluatedAt, version: active.version, score: result.score, threshold: result.threshold,
        predictedTrigger: result.predictedTrigger, predictedRotationAt: result.predictedRotationAt, nextEvaluationAt: result.nextEvaluationAt,
        reason: result.reason, failed: false,
      },
    };
    if (!result.rotate || result.trigger === null || rotation) return;
    const retiring = lifecycle.retiringVersion(state);
    // One version retires at a time: a trigger ends the running grace period now.
    if (retiring) await archiveVersion(retiring.version, 'system', `grace period ended early: ${result.reason}`);
    rotation = { id: 0, request: { reason: result.reason, emergency: false, actor: 'system' }, trigger: result.trigger, evidence: result.evidence };
  }

  /**
   * At the end of a grace period: whether applications still sign with the retiring version. If they do, the grace
   * period is extended (one more period, within maxGracePeriod) and an alert names them; at the cap the version is
   * archived anyway and the transition check names them.
   */
  async function stillInUseAtGraceEnd(version: number): Promise<boolean> {
    const target = state.versions.find((v) => v.version === version) as (typeof state.versions)[number];
    const since = target.usageCheckedAt ?? target.retiringAt ?? target.createdAt;
    const checkedAt = new Date(Date.now()).toISOString();
    const used = await control.countSignsAfter({ name: state.name, version, since });
    if (used.count === 0) {
      state = lifecycle.markUsageChecked(state, version, checkedAt);
      return false;
    }
    const byMs = lifecycle.automaticGraceExtension(state);
    const apps = used.apps.join(', ');
    if (byMs <= 0) {
      await control.raiseKeyAlert({
        dedupKey: `key:${state.name}:v${version}:in-use`,
        severity: 'critical',
        subject: `key/${state.name}`,
        message: `v${version} of ${state.name} reached its maximum grace period (${state.policy.maxGracePeriod}) while ${apps} still sign with it (${used.count} signature(s) since ${since}); it is archived now`,
      });
      return false;
    }
    state = lifecycle.markUsageChecked(state, version, checkedAt);
    const extended = lifecycle.extendGrace(state, byMs);
    state = extended.state;
    await record('key.grace.extended', 'system', { version, byMs, deadline: extended.deadline, reason: 'still in use at the end of the grace period', apps: used.apps, signs: used.count });
    await control.raiseKeyAlert({
      dedupKey: `key:${state.name}:v${version}:in-use`,
      severity: 'warning',
      subject: `key/${state.name}`,
      message: `${apps} still sign with v${version} of ${state.name} (${used.count} signature(s) since ${since}); its grace period is extended to ${extended.deadline}. Move them to the active version (JWKS kid ${lifecycle.activeVersion(state)?.kid ?? '?'})`,
    });
    return true;
  }

  /** Sleeps until `deadline` (with a summary for the Web UI) or until a message wakes the workflow. */
  async function waitUntil(deadline: { at: number; what: string } | null): Promise<void> {
    if (deadline === null) {
      await condition(() => woken);
      return;
    }
    const ms = deadline.at - Date.now();
    if (ms <= 0) return;
    const scope = new CancellationScope();
    const timer = scope.run(() => sleep(ms, { summary: deadline.what }));
    await Promise.race([timer.catch(() => undefined), condition(() => woken)]);
    scope.cancel();
  }

  publishToWebUi();
  while (state.phase === 'creating') {
    try {
      await createVersion('create', input.reason ?? 'key created', state.createdBy);
    } catch (error) {
      await abandonPendingVersions(state.createdBy, `creation of ${state.name} failed: ${(error as Error).message}`);
      await sleep('1m', { summary: 'creation failed; trying again' });
    }
  }

  for (;;) {
    woken = false;
    await flushPendingEvents();
    if (decommission && decommission.destroyed === undefined) {
      decommission.destroyed = await runDecommission(decommission.request);
      await condition(allHandlersFinished);
      return { name: state.name, phase: state.phase };
    }

    const now = Date.now();
    const retiring = lifecycle.retiringVersion(state);
    if (retiring && (graceCompletion || (retiring.graceDeadline && Date.parse(retiring.graceDeadline) <= now))) {
      const early = graceCompletion?.request;
      // Histories recorded before this check existed archive at once.
      if (!early && patched('grace-usage-check') && (await stillInUseAtGraceEnd(retiring.version))) continue;
      await archiveVersion(retiring.version, early?.actor ?? 'system', early ? `grace completed early: ${early.reason}` : 'grace period ended');
      if (graceCompletion) {
        const archived = state.versions.find((v) => v.version === retiring.version);
        graceCompletion.result = { version: retiring.version, state: archived?.state ?? 'archived', verdictOk: archived?.verdict?.ok ?? null };
      }
      continue;
    }
    const compromised = state.versions.find((v) => v.state === 'compromised');
    if (compromised) {
      await archiveVersion(compromised.version, 'system', 'compromised: archived at once, without a grace period');
      continue;
    }
    const retry = lifecycle.unverified(state).find((v) => v.verdict !== null && Date.parse(v.verdict.checkedAt) + lifecycle.VERIFY_RETRY_MS <= now);
    if (retry) {
      await verifyTransition(retry.version);
      continue;
    }
    const due = lifecycle.duePurges(state, now)[0];
    if (due) {
      await purgeVersion(due.version, 'system', 'retention ended');
      continue;
    }

    const evaluationDue =
      (state.phase === 'active' || state.phase === 'grace') &&
      !rotation &&
      ((evaluationRequest !== undefined && !evaluationRequest.done) || evaluationSoon || !state.prediction || Date.parse(state.prediction.nextEvaluationAt) <= now);
    // Histories recorded before prediction existed never evaluate.
    if (evaluationDue && patched('risk-evaluation')) {
      evaluationSoon = false;
      await evaluate();
      describeForWebUi();
      if (evaluationRequest) evaluationRequest.done = true;
      continue;
    }

    if (!rotation && state.nextRotationAt && Date.parse(state.nextRotationAt) <= now && (state.phase === 'active' || state.phase === 'grace')) {
      const ageRetiring = lifecycle.retiringVersion(state);
      if (ageRetiring) {
        await archiveVersion(ageRetiring.version, 'system', `grace period ended early: maxAge ${state.policy.maxAge} reached`);
        continue;
      }
      rotation = { id: 0, request: { reason: `maxAge ${state.policy.maxAge} reached`, emergency: false, actor: 'system' }, trigger: 'age' };
    }

    if (rotation) {
      const current = rotation;
      try {
        const result = await rotate(current.request, current.trigger, current.evidence);
        rotationOutcome = { id: current.id, result };
      } catch (error) {
        const message = `rotation of ${state.name} failed: ${(error as Error).message}`;
        rotationOutcome = { id: current.id, error: ApplicationFailure.nonRetryable(message, 'rotation_failed') };
        await abandonPendingVersions(current.request.actor, message);
      } finally {
        rotation = undefined;
      }
      // The new version is evaluated as soon as the next run starts.
      if (state.prediction) state = { ...state, prediction: { ...state.prediction, nextEvaluationAt: new Date(Date.now()).toISOString() } };
      // Each rotation starts a fresh run, so history stays bounded however long the key lives.
      await condition(allHandlersFinished);
      await flushPendingEvents();
      return continueAsNew<typeof keyLifecycleWorkflow>({ state });
    }

    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await flushPendingEvents();
      return continueAsNew<typeof keyLifecycleWorkflow>({ state });
    }
    await waitUntil(lifecycle.nextDeadline(state, lifecycle.VERIFY_RETRY_MS, now));
  }
}
