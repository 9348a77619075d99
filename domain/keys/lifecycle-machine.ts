import type { ErrorCode } from '../error-codes';
import type { EntropyProvenance } from '../entropy/node-entropy';
import { KeyrotorError } from '../errors';
import { ARCHIVE_KEK_LABEL, CLUSTER_KEK_LABEL, webhookDeliveryWorkflowId } from '../identifiers';
import { pkcs11Label, type KeyVersion, type RotationEvidence, type RotationTrigger } from './key-model';
import { checkRequest, refusalOf, type KeyRequest, type Refusal } from './lifecycle-requests';
import { evaluationFailed, evaluationSummary, transitionVerdict, type EvaluationResult, type SignsAfter } from './lifecycle-records';
import * as lifecycle from './lifecycle-state';
import { describeWaiting, nodeTryTimeoutMs, waitForNodes, WAITING_FOR_NODES, type Waiting } from './node-wait';
import { effectiveEntropyPolicy, policyDurations, resolvePolicy } from './policy';
import { encryptionUsageFor } from './encryption-usage';
import { lingeringUses, profileOf, type JweAlgorithm } from './key-types';

/**
 * The lifecycle of one key as a pure state machine. The workflow asks `decide` for the next step, runs it (an activity,
 * a timer, a child workflow), and hands its outcome to `apply`; handlers only check a request (`refusalOf`) and put it in
 * the inbox (`submit`). Every decision lives here, where it is tested without Temporal; time comes in as an argument.
 *
 * Guarantees, for any sequence of requests and outcomes:
 * - a failed step never loses or abandons a version: the key is `held` at that step, says why, and `resume` runs it again;
 * - an emergency rotation and a decommission are accepted in every phase, held included;
 * - every request that waits for an answer gets one.
 */

/**
 * Where an activity runs: the control queue, the prediction activities (also on the control queue), or one HSM node.
 * `tryTimeoutMs` (set by `decide`) is how long a try on a node waits for its worker to take it (domain/keys/node-wait.ts).
 */
export type Queue = { kind: 'control' } | { kind: 'prediction' } | { kind: 'hsm'; node: string; long?: boolean; tryTimeoutMs?: number } | { kind: 'ping'; node: string };

export interface Call {
  queue: Queue;
  activity: string;
  input: Record<string, unknown>;
  summary: string;
  /** A failure of this call is an answer (a node that is down, an evaluation that failed), not a reason to hold the key. */
  tolerate?: boolean;
}

export interface WebhookChild {
  workflowId: string;
  input: { subscriptionId: string; event: string; payload: Record<string, unknown> };
}

export type Step =
  | { kind: 'call'; call: Call }
  | { kind: 'calls'; calls: Call[]; what: string }
  | { kind: 'notify'; children: WebhookChild[] }
  | { kind: 'wait'; until: number | null; what: string }
  | { kind: 'continue-as-new' }
  | { kind: 'finish' };

/**
 * What running a step gave: `calls` answers one outcome per call, in order. A try on a node that no worker took in
 * time fails with `node_away` and names the nodes in `away`.
 */
export type Outcome = { ok: true; value: unknown } | { ok: false; code: ErrorCode; message: string; away?: string[] };

export interface Held {
  /** The step the key stopped at, in words. */
  step: string;
  reason: string;
  since: string;
}

export type { Waiting } from './node-wait';

interface Queued {
  id: number;
  request: KeyRequest;
  /** Whether a caller waits for the answer (an Update); a signal's request answers nobody. */
  answer: boolean;
}

export interface Answer {
  id: number;
  outcome: Outcome;
}

interface PendingEvent {
  action: string;
  actor: string;
  details: Record<string, unknown>;
  /** A purge's record must still show the version; the state forgets it once recorded. */
  forgetPurged?: boolean;
}

interface PendingAlert {
  dedupKey: string;
  severity: 'info' | 'warning' | 'critical';
  message: string;
}

interface RotationWork {
  kind: 'rotation';
  trigger: RotationTrigger;
  reason: string;
  actor: string;
  emergency: boolean;
  evidence: RotationEvidence | null;
  requests: number[];
  nodeIds: string[] | null;
  primary: string | null;
  version: number | null;
  /** The version this one replaces (the active one when the rotation started). */
  previous: number | null;
  compromised: boolean;
  signingDisabledOn: string[];
  wrapped: { wrapped: string; publicKey: unknown } | null;
  replicated: boolean;
  activated: boolean;
  subscriptionIds: string[] | null;
  notified: boolean;
  notBefore: number | null;
  /**
   * Encryption keys: the new version's encrypt and wrap are on on every node before it activates (usageSwitched), and
   * the replaced version's are off on every node right after (retiredSwitched). Absent in work from before them.
   */
  usageSwitched?: boolean;
  retiredSwitched?: boolean;
}

interface ArchiveWork {
  kind: 'archive';
  version: number;
  actor: string;
  why: string;
  requests: number[];
  nodeIds: string[] | null;
  wrapped: string | null;
  stored: boolean;
  destroyed: boolean;
  then: Work | null;
}

interface VerifyWork {
  kind: 'verify';
  version: number;
  requests: number[];
  nodeIds: string[] | null;
  liveObjectsOn: string[] | null;
  blob: string | null;
  archiveVerified: boolean | null;
  then: Work | null;
}

interface PurgeWork {
  kind: 'purge';
  version: number;
  actor: string;
  why: string;
  nodeIds: string[] | null;
  destroyed: boolean;
  blobDeleted: boolean;
  then: Work | null;
}

interface GraceEndWork {
  kind: 'grace-end';
  version: number;
}

interface EvaluateWork {
  kind: 'evaluate';
  requests: number[];
}

interface DecommissionWork {
  kind: 'decommission';
  reason: string;
  actor: string;
  requests: number[];
  started: boolean;
  destroyed: number[];
}

export type Work = RotationWork | ArchiveWork | VerifyWork | PurgeWork | GraceEndWork | EvaluateWork | DecommissionWork;

/** Everything the workflow carries, across continueAsNew too. JSON-safe. */
export interface LifecycleMachine {
  key: lifecycle.KeyLifecycleState;
  /** Why the key was created (for its first version's lineage). */
  createReason: string;
  inbox: Queued[];
  answers: Answer[];
  requestSeq: number;
  work: Work | null;
  held: Held | null;
  waiting: Waiting | null;
  events: PendingEvent[];
  alerts: PendingAlert[];
  evaluateSoon: boolean;
  /** Set when a rotation completes: the next quiet moment starts a fresh run, so history stays bounded. */
  freshRunDue: boolean;
  /**
   * The outcomes of the Updates this key answered (by Update id), newest last, carried into fresh runs: Temporal answers
   * a repeated Update id itself only within one run, and a key continues as new after each rotation. A client whose
   * call outlived a Temporal restart sends its Update again after the rotation is done and the run has changed (seen in
   * the fault suite: the repeat was refused, 409 `grace_period_running`, for the rotation it had asked for); the API
   * sends one again under an Idempotency-Key. Absent in machines from before it existed.
   */
  keptUpdates?: KeptUpdate[];
}

export interface KeptUpdate {
  updateId: string;
  at: string;
  outcome: Outcome;
}

/** How long, and how many, Update outcomes a key keeps: the API keeps an Idempotency-Key a day. */
export const KEPT_UPDATE_MS = 24 * 3_600_000;
export const KEPT_UPDATES = 32;

/** The outcome an Update id was answered with in the last day, if it was. */
export function keptUpdateOutcome(m: LifecycleMachine, updateId: string, nowMs: number): Outcome | undefined {
  return (m.keptUpdates ?? []).find((kept) => kept.updateId === updateId && Date.parse(kept.at) > nowMs - KEPT_UPDATE_MS)?.outcome;
}

/** Keeps the outcome of an Update (the last 32 of the last day). */
export function keepUpdateOutcome(m: LifecycleMachine, updateId: string, outcome: Outcome, nowMs: number): LifecycleMachine {
  const kept = (m.keptUpdates ?? []).filter((each) => each.updateId !== updateId && Date.parse(each.at) > nowMs - KEPT_UPDATE_MS);
  return { ...m, keptUpdates: [...kept, { updateId, at: iso(nowMs), outcome }].slice(-KEPT_UPDATES) };
}

/** How often an archived version whose transition check failed is checked again. */
export const VERIFY_RETRY_MS = lifecycle.VERIFY_RETRY_MS;
/**
 * How long a key waits before asking its nodes again when none answered: as long as it has waited so far, between
 * NODE_RETRY_MIN_MS and NODE_RETRY_MS. A restart of the whole system ends the pings of a rotation under way unanswered
 * (their 5 s schedule-to-start passes while every worker is down); the key asks again 2 s after its worker is back,
 * not 30 s, and a cluster that stays down is asked ever less often, at most every 30 s.
 */
export const NODE_RETRY_MS = 30_000;
export const NODE_RETRY_MIN_MS = 2_000;
export const ENTROPY_RETRY_MS = 10_000;
const NO_NODE_ANSWERED = 'an HSM node to answer (none did)';
/** The longest single timer: a key whose next deadline is further away wakes up and decides again. */
const MAX_WAIT_MS = 30 * 86_400_000;

const iso = (ms: number): string => lifecycle.isoTime(ms);

export function newMachine(key: lifecycle.KeyLifecycleState, createReason: string): LifecycleMachine {
  return { key, createReason, inbox: [], answers: [], requestSeq: 0, work: null, held: null, waiting: null, events: [], alerts: [], evaluateSoon: false, freshRunDue: false };
}

// ---------------------------------------------------------------- requests

/** Puts a checked request in the inbox; answers its id (the handler waits for `answerOf(id)`). */
export function submit(m: LifecycleMachine, request: KeyRequest, answer: boolean): { machine: LifecycleMachine; id: number } {
  const id = m.requestSeq + 1;
  return { machine: { ...m, requestSeq: id, inbox: [...m.inbox, { id, request, answer }] }, id };
}

/** The refusal of a request in the machine's present state, or null when it is accepted. */
export function refuse(m: LifecycleMachine, request: KeyRequest): Refusal | null {
  return checkRequest(request, m.key.policy) ?? refusalOf(request, view(m));
}

/** What the request checks need to know of the machine. */
function view(m: LifecycleMachine) {
  const rotation = m.work?.kind === 'rotation' ? m.work : null;
  const queued = (kind: KeyRequest['kind'], extra?: (q: Queued) => boolean) => m.inbox.some((q) => q.request.kind === kind && (extra?.(q) ?? true));
  return {
    key: m.key,
    held: m.held !== null,
    rotationRunning: rotation !== null && !rotation.activated,
    emergencyRunning: (rotation?.emergency ?? false) && !(rotation?.activated ?? true),
    rotationQueued: queued('rotate'),
    emergencyQueued: queued('rotate', (q) => q.request.kind === 'rotate' && q.request.emergency),
    graceCompleting: queued('complete-grace'),
    evaluationQueued: queued('evaluate'),
    decommissionQueued: queued('decommission') || m.work?.kind === 'decommission',
  };
}

/** Records a signal refused for its content: the audit log names the signal and why, never the text that made it bad. */
export function noteRefusedSignal(m: LifecycleMachine, signal: string, refusal: Refusal): LifecycleMachine {
  return event(m, 'key.signal.refused', 'unknown', { signal, code: refusal.code, why: refusal.message });
}

export function answerOf(m: LifecycleMachine, id: number): Answer | undefined {
  return m.answers.find((a) => a.id === id);
}

export function collectAnswer(m: LifecycleMachine, id: number): LifecycleMachine {
  return { ...m, answers: m.answers.filter((a) => a.id !== id) };
}

function answer(m: LifecycleMachine, ids: number[], outcome: Answer['outcome']): LifecycleMachine {
  const waiting = new Set(m.inbox.filter((q) => ids.includes(q.id) && q.answer).map((q) => q.id));
  return {
    ...m,
    inbox: m.inbox.filter((q) => !ids.includes(q.id)),
    answers: [...m.answers, ...[...waiting].map((id) => ({ id, outcome }))],
  };
}

const refused = (code: ErrorCode, message: string): Answer['outcome'] => ({ ok: false, code, message });

function event(m: LifecycleMachine, action: string, actor: string, details: Record<string, unknown>, forgetPurged = false): LifecycleMachine {
  return { ...m, events: [...m.events, { action, actor, details, ...(forgetPurged ? { forgetPurged } : {}) }] };
}

function alert(m: LifecycleMachine, severity: PendingAlert['severity'], topic: string, message: string): LifecycleMachine {
  return { ...m, alerts: [...m.alerts, { dedupKey: `key:${m.key.name}:${topic}`, severity, message }] };
}

/**
 * Takes in what needs no step: policy changes, grace extensions, resume, and the requests that take over whatever the
 * key is doing (decommission, emergency rotation).
 */
function absorb(m0: LifecycleMachine, nowMs: number): LifecycleMachine {
  let m = m0;
  for (const queued of m0.inbox) {
    const { request } = queued;
    if (m.work && requestsOf(m.work).includes(queued.id)) continue;
    if (request.kind === 'policy') {
      try {
        const policy = resolvePolicy(request.change, m.key.policy);
        m = { ...m, key: { ...m.key, policy } };
        m = event(m, 'key.policy.updated', request.actor, { change: request.change, policy });
        m = answer(m, [queued.id], { ok: true, value: policy });
      } catch (error) {
        m = answer(m, [queued.id], refused('invalid_policy', messageOf(error)));
      }
    } else if (request.kind === 'extend-grace') {
      m = extendGrace(m, queued.id, request, nowMs);
    } else if (request.kind === 'resume') {
      const held = m.held;
      if (held) {
        m = event({ ...m, held: null }, 'key.resumed', request.actor, { step: held.step, heldSince: held.since, reason: request.reason });
        m = answer(m, [queued.id], { ok: true, value: { resumed: held.step } });
      } else {
        m = answer(m, [queued.id], refused('not_held', `key ${m.key.name} is not held`));
      }
    } else if (request.kind === 'decommission' && m.work?.kind !== 'decommission' && m.key.phase !== 'decommissioning' && m.key.phase !== 'decommissioned') {
      m = takeOverForDecommission(m, queued.id, request);
    } else if (request.kind === 'rotate' && request.emergency && m.key.phase !== 'decommissioning' && m.key.phase !== 'decommissioned') {
      m = takeOverForEmergency(m, queued.id, request);
    }
  }
  return m;
}

function extendGrace(m: LifecycleMachine, id: number, request: Extract<KeyRequest, { kind: 'extend-grace' }>, nowMs: number): LifecycleMachine {
  try {
    const extended = lifecycle.extendGrace(m.key, request.byMs);
    const next = event({ ...m, key: extended.state }, 'key.grace.extended', request.actor, { byMs: request.byMs, reason: request.reason, deadline: extended.deadline });
    return answer(next, [id], { ok: true, value: { deadline: extended.deadline, cap: lifecycle.graceCap(extended.state) } });
  } catch (error) {
    const code = error instanceof KeyrotorError ? error.code : 'invalid_extension';
    // A signal cannot answer: the refusal is recorded instead.
    const next = event(m, 'key.grace.extension_refused', request.actor, { byMs: request.byMs, reason: request.reason, why: messageOf(error), at: iso(nowMs) });
    return answer(next, [id], refused(code, messageOf(error)));
  }
}

function takeOverForDecommission(m: LifecycleMachine, id: number, request: Extract<KeyRequest, { kind: 'decommission' }>): LifecycleMachine {
  // Whatever was running stops at this step boundary; its callers hear why. Every version, a pending one included, is purged.
  const dropped = m.work ? requestsOf(m.work).filter((r) => r !== id) : [];
  const next = answer({ ...m, held: null, waiting: null }, dropped, refused('key_decommissioned', `key ${m.key.name} is being decommissioned`));
  return { ...next, work: { kind: 'decommission', reason: request.reason, actor: request.actor, requests: [id], started: false, destroyed: [] } };
}

function takeOverForEmergency(m: LifecycleMachine, id: number, request: Extract<KeyRequest, { kind: 'rotate' }>): LifecycleMachine {
  const work = m.work;
  if (work?.kind === 'rotation' && !work.activated) {
    if (work.requests.includes(id)) return m;
    // The rotation under way becomes the emergency one: the active version is switched off first, then it goes on.
    const taken: RotationWork = { ...work, emergency: true, trigger: work.trigger === 'create' ? 'create' : 'emergency', reason: request.reason, actor: request.actor, requests: [...work.requests, id], notBefore: null };
    return { ...m, held: null, work: taken };
  }
  if (work === null || (m.held !== null && work.kind !== 'decommission' && work.kind !== 'rotation')) {
    // Work that the state derives again (an archive, a verification, a purge) is dropped when held; its callers stay queued.
    const next = { ...m, held: null, work: null as Work | null };
    return startRotation(next, { trigger: 'emergency', reason: request.reason, actor: request.actor, emergency: true, requests: [id] });
  }
  return m;
}

function requestsOf(work: Work): number[] {
  if (work.kind === 'grace-end') return [];
  const own = 'requests' in work ? work.requests : [];
  const then = 'then' in work && work.then ? requestsOf(work.then) : [];
  return [...own, ...then];
}

// ---------------------------------------------------------------- deciding

export interface Decision {
  machine: LifecycleMachine;
  step: Step;
}

/** What the workflow knows of its run, beside the machine. */
export interface RunFacts {
  /** Temporal's word that the history grows long. */
  continueAsNewSuggested?: boolean;
  /**
   * Whether a due fresh run comes before new work, not only at a quiet moment: a key whose requests come back to back
   * (rotated again as soon as it is free) never had a quiet moment, and its one run, which a restarted worker replays in
   * full, grew by every rotation (700 events in 7 minutes of the whole-system fault run). Asked only where the rule
   * changes the step, as the workflow's patch must be; false for a history made before the rule, to replay as it was.
   */
  freshRunBeforeNewWork?: () => boolean;
  /**
   * Whether a run whose step waits for an away node continues as new once Temporal says its history grows long. Each
   * try writes a few events for as long as the node is away, and a work under way never had a quiet moment: an absence
   * of weeks would reach Temporal's history limit, which ends the workflow. Asked only where the rule changes the step.
   */
  freshRunWhileWaiting?: () => boolean;
  /**
   * Whether a key that no node answered asks again after a growing pause (NODE_RETRY_MIN_MS up to NODE_RETRY_MS) rather
   * than after a fixed NODE_RETRY_MS. Asked only where the rule changes the pause; false for a history made before it.
   */
  noNodeBackoff?: () => boolean;
}

/** The next step of the key. Pure: the same machine, time and run facts give the same step. */
export function decide(m0: LifecycleMachine, nowMs: number, run: RunFacts = {}): Decision {
  const decision = decideStep(m0, nowMs, run);
  return { machine: decision.machine, step: withNodeTries(decision.step, nodeTryTimeoutMs(decision.machine.waiting, nowMs)) };
}

/** Gives every call on an HSM node the time its try waits for the node's worker. */
function withNodeTries(step: Step, tryTimeoutMs: number): Step {
  const timed = (call: Call): Call => (call.queue.kind === 'hsm' ? { ...call, queue: { ...call.queue, tryTimeoutMs } } : call);
  if (step.kind === 'call') return { ...step, call: timed(step.call) };
  if (step.kind === 'calls') return { ...step, calls: step.calls.map(timed) };
  return step;
}

/**
 * The outcome of a `calls` step from each call's: the first failure that is not tolerated holds the key; else tries
 * that found their node away make the step wait for those nodes; else every outcome, in order.
 */
export function outcomeOfCalls(calls: readonly Call[], outcomes: readonly Outcome[]): Outcome {
  const counted = outcomes.map((outcome, index) => ({ outcome, call: calls[index] as Call })).filter(({ outcome, call }) => !outcome.ok && !call.tolerate);
  const failed = counted.find(({ outcome }) => !outcome.ok && outcome.code !== 'node_away');
  if (failed) return failed.outcome;
  const away = counted.flatMap(({ outcome, call }) => (outcome.ok ? [] : (outcome.away ?? ('node' in call.queue ? [call.queue.node] : []))));
  if (away.length > 0) return { ok: false, code: 'node_away', message: `no worker of ${away.join(', ')} took the step`, away };
  return { ok: true, value: outcomes };
}

function decideStep(m0: LifecycleMachine, nowMs: number, run: RunFacts): Decision {
  let m = absorb(m0, nowMs);
  for (let guard = 0; guard < 64; guard += 1) {
    if (m.events.length > 0) return { machine: m, step: recordStep(m) };
    if (m.alerts.length > 0) return { machine: m, step: alertStep(m) };
    if (m.held) return { machine: m, step: { kind: 'wait', until: null, what: `held at ${m.held.step}: ${m.held.reason}; resume once the cause is fixed` } };
    if (m.key.phase === 'decommissioned' && m.work === null) return { machine: answer(m, m.inbox.map((q) => q.id), refused('key_decommissioned', `key ${m.key.name} is decommissioned`)), step: { kind: 'finish' } };
    if (m.work === null) {
      const started = startWork(m, nowMs);
      if (started === null) return { machine: m, step: idleStep(m, nowMs, run) };
      if (freshRunNow(m, run, true) && run.freshRunBeforeNewWork?.() === true) return { machine: m, step: { kind: 'continue-as-new' } };
      m = started;
      continue;
    }
    if (m.waiting !== null && run.continueAsNewSuggested === true && !m.inbox.some((q) => q.answer) && m.answers.length === 0 && run.freshRunWhileWaiting?.() === true) {
      // The work and the wait go on in the fresh run; a request that waits for its answer keeps this run.
      return { machine: m, step: { kind: 'continue-as-new' } };
    }
    const progressed = stepOf(m, m.work, nowMs);
    if ('step' in progressed) return progressed;
    m = progressed.machine;
  }
  throw new Error(`the lifecycle of ${m.key.name} made no step in 64 decisions (work ${m.work?.kind ?? 'none'})`);
}

function recordStep(m: LifecycleMachine): Step {
  const pending = m.events[0] as PendingEvent;
  return {
    kind: 'call',
    call: {
      queue: { kind: 'control' },
      activity: 'recordKeyEvent',
      input: { state: { ...m.key, eventSeq: m.key.eventSeq + 1 }, event: { action: pending.action, actor: pending.actor, details: pending.details } },
      summary: `record ${pending.action}`,
    },
  };
}

function alertStep(m: LifecycleMachine): Step {
  const pending = m.alerts[0] as PendingAlert;
  return {
    kind: 'call',
    call: { queue: { kind: 'control' }, activity: 'raiseKeyAlert', input: { dedupKey: pending.dedupKey, severity: pending.severity, subject: `key/${m.key.name}`, message: pending.message }, summary: `${pending.severity} alert`, tolerate: true },
  };
}

/**
 * Whether the run may end here for a fresh one: one is due, and no accepted Update waits in the inbox (this run must
 * answer it). Answers already given are no obstacle to the newer rule (`answersGiven`): the workflow lets their
 * handlers collect them before the run ends.
 */
function freshRunNow(m: LifecycleMachine, run: RunFacts, answersGiven: boolean): boolean {
  if (!m.freshRunDue && run.continueAsNewSuggested !== true) return false;
  if (m.inbox.some((q) => q.answer)) return false;
  return answersGiven || m.answers.length === 0;
}

/** Nothing to do now: a fresh run when one is due and nobody waits for an answer, else sleep until the next deadline. */
function idleStep(m: LifecycleMachine, nowMs: number, run: RunFacts): Step {
  if (freshRunNow(m, run, false) || (freshRunNow(m, run, true) && run.freshRunBeforeNewWork?.() === true)) return { kind: 'continue-as-new' };
  const deadline = lifecycle.nextDeadline(m.key, VERIFY_RETRY_MS, nowMs);
  if (deadline === null) return { kind: 'wait', until: null, what: 'nothing due; waiting for a request' };
  // A deadline already past that no work took up must not spin the loop: it is looked at again a second later.
  return { kind: 'wait', until: Math.max(nowMs + 1000, Math.min(deadline.at, nowMs + MAX_WAIT_MS)), what: deadline.what };
}

/** The work the key takes up next, in order of urgency, or null when nothing is due. */
function startWork(m: LifecycleMachine, nowMs: number): LifecycleMachine | null {
  const key = m.key;
  if (key.phase === 'creating') {
    return startRotation(m, { trigger: 'create', reason: m.createReason, actor: key.createdBy, emergency: false, requests: [] });
  }
  const retiring = lifecycle.retiringVersion(key);
  const completion = m.inbox.find((q) => q.request.kind === 'complete-grace');
  if (completion) {
    if (!retiring) return answer(m, [completion.id], refused('no_grace_period', `key ${key.name} has no grace period running`));
    const request = completion.request as Extract<KeyRequest, { kind: 'complete-grace' }>;
    return { ...m, work: archiveWork(retiring.version, request.actor, `grace completed early: ${request.reason}`, [completion.id], null) };
  }
  const raise = m.inbox.find((q) => q.request.kind === 'raise-min-decryption');
  if (raise) return raiseMinDecryption(m, raise.id, raise.request as Extract<KeyRequest, { kind: 'raise-min-decryption' }>);
  if (retiring?.graceDeadline && Date.parse(retiring.graceDeadline) <= nowMs) return { ...m, work: { kind: 'grace-end', version: retiring.version } };
  // An encryption key whose policy keeps decryption archives a compromised version once its decrypt use has stopped,
  // like a retiring one. Each such version is looked at by its own deadline: an older one kept by its use must not
  // hold back a newer one whose period is over.
  const compromised = key.versions.filter((v) => v.state === 'compromised');
  const keptForDecryption = (v: KeyVersion): boolean => lifecycle.decryptsAfterCompromise(key) && v.graceDeadline !== null;
  const decryptOnlyOver = compromised.find((v) => keptForDecryption(v) && Date.parse(v.graceDeadline as string) <= nowMs);
  if (decryptOnlyOver) return { ...m, work: { kind: 'grace-end', version: decryptOnlyOver.version } };
  const toArchive = compromised.find((v) => !keptForDecryption(v));
  if (toArchive) return { ...m, work: archiveWork(toArchive.version, 'system', 'compromised: archived at once, without a grace period', [], null) };
  const retry = lifecycle.unverified(key).find((v) => v.verdict !== null && Date.parse(v.verdict.checkedAt) + VERIFY_RETRY_MS <= nowMs);
  if (retry) return { ...m, work: verifyWork(retry.version, [], null) };
  const due = lifecycle.duePurges(key, nowMs)[0];
  if (due) return { ...m, work: purgeWork(due.version, 'system', 'retention ended', null) };

  const rotation = m.inbox.find((q) => q.request.kind === 'rotate');
  if (rotation) {
    const request = rotation.request as Extract<KeyRequest, { kind: 'rotate' }>;
    if (retiring && !request.emergency) {
      return answer(m, [rotation.id], refused('grace_period_running', `v${retiring.version} of ${key.name} is in its grace period until ${retiring.graceDeadline ?? '?'}; complete it first or rotate with emergency: true`));
    }
    return startRotation(m, { trigger: request.emergency ? 'emergency' : 'manual', reason: request.reason, actor: request.actor, emergency: request.emergency, requests: [rotation.id] });
  }
  const evaluations = m.inbox.filter((q) => q.request.kind === 'evaluate').map((q) => q.id);
  const evaluationDue = evaluations.length > 0 || m.evaluateSoon || !key.prediction || Date.parse(key.prediction.nextEvaluationAt) <= nowMs;
  if (evaluationDue && (key.phase === 'active' || key.phase === 'grace')) return { ...m, evaluateSoon: false, work: { kind: 'evaluate', requests: evaluations } };
  if (evaluations.length > 0) return answer(m, evaluations, refused('key_busy', `key ${key.name} is ${key.phase}; it is evaluated when active or in a grace period`));

  if (key.nextRotationAt && Date.parse(key.nextRotationAt) <= nowMs && (key.phase === 'active' || key.phase === 'grace')) {
    const reason = `maxAge ${key.policy.maxAge} reached`;
    const rotated = startRotation(m, { trigger: 'age', reason, actor: 'system', emergency: false, requests: [] });
    if (!retiring) return rotated;
    return { ...m, work: archiveWork(retiring.version, 'system', `grace period ended early: ${reason}`, [], rotated.work) };
  }
  return null;
}

/**
 * An operator raises an encryption key's minDecryptionVersion: every decrypt-only version below it is archived now,
 * oldest first, whatever its use (Vault makes its users do this by hand; here it is also done by itself, as versions
 * fall out of use). The request is answered once the last of them is archived and verified.
 */
function raiseMinDecryption(m: LifecycleMachine, id: number, request: Extract<KeyRequest, { kind: 'raise-min-decryption' }>): LifecycleMachine {
  const below = lifecycle.decryptOnlyVersions(m.key).filter((v) => v.version < request.version).sort((a, b) => a.version - b.version);
  if (below.length === 0) return answer(m, [id], { ok: true, value: { minDecryptionVersion: lifecycle.minDecryptionVersion(m.key), archived: [] } });
  const why = `minDecryptionVersion raised to ${request.version}${request.reason ? `: ${request.reason}` : ''}`;
  let work: Work | null = null;
  for (const version of [...below].reverse()) work = archiveWork(version.version, request.actor, why, work === null ? [id] : [], work);
  return event({ ...m, work }, 'key.min-decryption-version.raised', request.actor, { version: request.version, reason: request.reason, archiving: below.map((v) => v.version) });
}

function startRotation(m: LifecycleMachine, input: { trigger: RotationTrigger; reason: string; actor: string; emergency: boolean; requests: number[]; evidence?: RotationEvidence }): LifecycleMachine {
  const work: RotationWork = {
    kind: 'rotation', trigger: input.trigger, reason: input.reason, actor: input.actor, emergency: input.emergency, evidence: input.evidence ?? null,
    requests: input.requests, nodeIds: null, primary: null, version: null, previous: lifecycle.activeVersion(m.key)?.version ?? null,
    compromised: false, signingDisabledOn: [], wrapped: null, replicated: false, activated: false, subscriptionIds: null, notified: false, notBefore: null,
  };
  const next: LifecycleMachine = { ...m, work };
  return input.evidence ? event(next, 'key.rotation.triggered', input.actor, { trigger: input.trigger, reason: input.reason, evidence: input.evidence }) : next;
}

const archiveWork = (version: number, actor: string, why: string, requests: number[], then: Work | null): ArchiveWork =>
  ({ kind: 'archive', version, actor, why, requests, nodeIds: null, wrapped: null, stored: false, destroyed: false, then });
const verifyWork = (version: number, requests: number[], then: Work | null): VerifyWork =>
  ({ kind: 'verify', version, requests, nodeIds: null, liveObjectsOn: null, blob: null, archiveVerified: null, then });
const purgeWork = (version: number, actor: string, why: string, then: Work | null): PurgeWork =>
  ({ kind: 'purge', version, actor, why, nodeIds: null, destroyed: false, blobDeleted: false, then });

const control = (activity: string, input: Record<string, unknown>, summary: string): Step => ({ kind: 'call', call: { queue: { kind: 'control' }, activity, input, summary } });
const onNode = (node: string, activity: string, input: Record<string, unknown>, summary: string, long = false): Call => ({ queue: { kind: 'hsm', node, ...(long ? { long } : {}) }, activity, input, summary });
const nodesStep = (): Step => control('getClusterNodes', {}, 'which nodes the cluster has');

function versionOf(m: LifecycleMachine, version: number): KeyVersion | undefined {
  return m.key.versions.find((v) => v.version === version);
}

const isEncryptionKey = (m: LifecycleMachine): boolean => profileOf(m.key.keyType).family === 'encryption';
/** The key type, for the HSM steps whose signing forms find it on the token (inputs of signing keys stay as they were). */
const keyTypeInput = (m: LifecycleMachine): Record<string, unknown> => (isEncryptionKey(m) ? { keyType: m.key.keyType } : {});

/** The usage attributes a version of an encryption key must carry on every node in `state`. */
function usageIn(m: LifecycleMachine, state: KeyVersion['state']) {
  return encryptionUsageFor({ state, decryptAfterCompromise: lifecycle.decryptsAfterCompromise(m.key) });
}

/**
 * What a destruction takes of a version: the private key (an archive) or every object (a purge). An aes-256 version's
 * one object is a secret key. Signing keys' inputs stay as they were.
 */
function objectsToDestroy(m: LifecycleMachine, all: boolean): Record<string, boolean> {
  if (!isEncryptionKey(m)) return { privateKey: true, publicKey: all };
  return { privateKey: true, publicKey: all, secretKey: true };
}

/** Whether the rotation must first switch the active version off (an emergency): signing, or encrypt and wrap. */
function toCompromise(m: LifecycleMachine, work: RotationWork): boolean {
  return work.emergency && !work.compromised && work.previous !== null && versionOf(m, work.previous)?.state === 'active';
}

/** The uses that hold back the archive of a version that is no longer active: for encryption keys, decryptions. */
function lingeringUseInput(m: LifecycleMachine): Record<string, unknown> {
  return isEncryptionKey(m) ? { operations: lingeringUses(m.key.keyType) } : {};
}

type Progress = Decision | { machine: LifecycleMachine };

/** The next step of the work under way, or the machine after a pure stage (activation, a verdict) moved it on. */
function stepOf(m: LifecycleMachine, work: Work, nowMs: number): Progress {
  switch (work.kind) {
    case 'rotation':
      return rotationStep(m, work, nowMs);
    case 'archive':
      return archiveStep(m, work, nowMs);
    case 'verify':
      return verifyStep(m, work, nowMs);
    case 'purge':
      return purgeStep(m, work, nowMs);
    case 'grace-end': {
      const target = versionOf(m, work.version);
      if (target?.state !== 'retiring' && !(target?.state === 'compromised' && lifecycle.decryptsAfterCompromise(m.key))) return { machine: { ...m, work: null } };
      const since = target.usageCheckedAt ?? target.retiringAt ?? target.compromisedAt ?? target.createdAt;
      return { machine: m, step: control('countSignsAfter', { name: m.key.name, version: work.version, since, ...lingeringUseInput(m) }, `is v${work.version} still in use?`) };
    }
    case 'evaluate': {
      const active = lifecycle.activeVersion(m.key);
      if (!active) return { machine: answer({ ...m, work: null }, work.requests, refused('key_busy', `key ${m.key.name} has no active version to evaluate`)) };
      const seq = (m.key.prediction?.seq ?? 0) + 1;
      return {
        machine: m,
        step: {
          kind: 'call',
          call: {
            queue: { kind: 'prediction' },
            activity: 'evaluateKeyRisk',
            input: { name: m.key.name, evaluationId: `${m.key.name}/e${seq}`, version: active.version, versionSince: active.activatedAt ?? active.createdAt, keyCreatedAt: m.key.createdAt, policy: m.key.policy, keyType: m.key.keyType },
            summary: 'forecast usage, look for anomalies, score the risk',
            tolerate: true,
          },
        },
      };
    }
    case 'decommission':
      return decommissionStep(m, work, nowMs);
  }
}

function rotationStep(m: LifecycleMachine, work: RotationWork, nowMs: number): Progress {
  const key = m.key;
  if (!work.activated && (key.phase === 'active' || key.phase === 'grace')) return { machine: { ...m, key: { ...key, phase: 'rotating' } } };
  if (work.notBefore !== null && work.notBefore > nowMs) return { machine: m, step: { kind: 'wait', until: work.notBefore, what: m.waiting?.for ?? 'trying again' } };
  if (work.nodeIds === null) return { machine: m, step: nodesStep() };
  if (toCompromise(m, work)) {
    const old = versionOf(m, work.previous as number) as KeyVersion;
    if (isEncryptionKey(m)) {
      const usage = usageIn(m, 'compromised');
      const what = usage.decrypt ? 'encrypt and wrap' : 'every use';
      return { machine: m, step: { kind: 'calls', what: `switch off ${what} of v${old.version}`, calls: work.nodeIds.map((node) => onNode(node, 'setEncryptionUsage', { keyType: key.keyType, fingerprint: old.fingerprint, usage }, `switch off ${what} of v${old.version} on ${node}`)) } };
    }
    return { machine: m, step: { kind: 'calls', what: `switch off signing with v${old.version}`, calls: work.nodeIds.map((node) => onNode(node, 'setSigning', { fingerprint: old.fingerprint, enabled: false }, `switch off CKA_SIGN of v${old.version} on ${node}`)) } };
  }
  if (work.version === null) {
    const version = lifecycle.nextVersionNumber(key);
    if (work.primary === null) {
      return { machine: m, step: { kind: 'calls', what: 'find a node that is up', calls: work.nodeIds.map((node) => ({ queue: { kind: 'ping', node }, activity: 'pingHsmNode', input: { nodeId: node, randomBytes: 8 }, summary: `is ${node} up to generate?`, tolerate: true })) } };
    }
    return {
      machine: m,
      step: { kind: 'call', call: onNode(work.primary, 'generateKeyPair', { keyType: key.keyType, label: pkcs11Label(key.name, version), entropyPolicy: effectiveEntropyPolicy(key.policy) }, `seed from the entropy pool and generate ${key.keyType} v${version} on ${work.primary}`, true) },
    };
  }
  const created = versionOf(m, work.version) as KeyVersion;
  const early = recordedAnswerDue(m, work, created);
  if (early.length > 0) return { machine: answer(m, early, { ok: true, value: rotationAccepted(m, work, created) }) };
  const targets = work.nodeIds.filter((node) => node !== work.primary);
  if (!work.replicated) {
    if (targets.length > 0 && work.wrapped === null) {
      return { machine: m, step: { kind: 'call', call: onNode(work.primary as string, 'wrapPrivateKey', { fingerprint: created.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL, ...keyTypeInput(m) }, `wrap v${work.version} under the cluster KEK`) } };
    }
    if (targets.length > 0) {
      const wrapped = work.wrapped as NonNullable<RotationWork['wrapped']>;
      return {
        machine: m,
        step: {
          kind: 'calls',
          what: `replicate v${work.version} to ${targets.join(', ')}`,
          calls: targets.map((target) => onNode(target, 'importReplica', {
            fingerprint: created.fingerprint, label: pkcs11Label(key.name, work.version as number), keyType: key.keyType, wrapped: wrapped.wrapped, unwrappingKeyLabel: CLUSTER_KEK_LABEL, publicKey: wrapped.publicKey,
            ...(isEncryptionKey(m) ? { usage: usageIn(m, created.state) } : {}),
          }, `replicate v${work.version} from ${work.primary ?? '?'} to ${target}`)),
        },
      };
    }
    return { machine: event({ ...m, work: { ...work, replicated: true } }, 'key.version.replicated', work.actor, { version: work.version, nodes: work.nodeIds }) };
  }
  if (!work.activated && !work.emergency && work.trigger !== 'create' && profileOf(key.keyType).publication !== null && policyDurations(key.policy).publicationLeadMs > 0) {
    // Verifiers learn the new public key before any application signs with it. An emergency does not wait (the active
    // version is presumed compromised), nor does a key's first version (no application signs with the key yet), nor a
    // key that publishes nothing (aes-256).
    if (!created.publishedAt) {
      const published = { ...m, key: lifecycle.publish(key, work.version, nowMs) };
      const activatesAt = (versionOf(published, work.version) as KeyVersion).activatesAt as string;
      return { machine: event(published, 'key.version.published', work.actor, { version: work.version, kid: created.kid, published: 'jwks', activatesAt }) };
    }
    const activatesAt = Date.parse(created.activatesAt ?? created.publishedAt);
    if (activatesAt > nowMs) {
      return { machine: m, step: { kind: 'wait', until: activatesAt, what: `v${work.version} is in the JWKS; it becomes the active version at ${created.activatesAt ?? '?'} (publicationLead ${key.policy.publicationLead})` } };
    }
  }
  if (!work.activated && isEncryptionKey(m) && work.usageSwitched !== true) {
    // The new version may encrypt and wrap before it activates: so the active version always can, on every node, even
    // if this step or the next fails part way (the key is held there, and still encrypts).
    return {
      machine: m,
      step: {
        kind: 'calls', what: `switch v${work.version} on to encrypt`,
        calls: work.nodeIds.map((node) => onNode(node, 'setEncryptionUsage', { keyType: key.keyType, fingerprint: created.fingerprint, usage: usageIn(m, 'active') }, `v${work.version} may encrypt, wrap, decrypt and unwrap on ${node}`)),
      },
    };
  }
  if (!work.activated) {
    const previous = lifecycle.activeVersion(key) ?? [...key.versions].reverse().find((v) => v.state === 'compromised');
    let next: LifecycleMachine = { ...m, key: lifecycle.activate(key, work.version, nowMs), work: { ...work, activated: true, previous: previous?.version ?? null } };
    // The new version is evaluated as soon as the key is free.
    if (next.key.prediction) next = { ...next, key: { ...next.key, prediction: { ...next.key.prediction, nextEvaluationAt: iso(nowMs) } } };
    return { machine: event(next, 'key.version.activated', work.actor, { version: work.version, previousVersion: previous?.version ?? null, published: 'jwks' }) };
  }
  const replaced = work.previous !== null ? versionOf(m, work.previous) : undefined;
  if (isEncryptionKey(m) && work.retiredSwitched !== true && replaced?.state === 'retiring') {
    // From the activation on, only the new version encrypts and wraps: the one it replaced only decrypts and unwraps.
    return {
      machine: m,
      step: {
        kind: 'calls', what: `switch v${replaced.version} to decrypt-only`,
        calls: work.nodeIds.map((node) => onNode(node, 'setEncryptionUsage', { keyType: key.keyType, fingerprint: replaced.fingerprint, usage: usageIn(m, 'retiring') }, `v${replaced.version} may only decrypt and unwrap on ${node}`)),
      },
    };
  }
  if (work.subscriptionIds === null) return { machine: m, step: control('listSubscriptionIds', {}, 'who subscribed to rotations') };
  if (!work.notified && work.subscriptionIds.length > 0) {
    const payload = { key: key.name, version: work.version, kid: created.kid, fingerprint: created.fingerprint, jwksPath: '/.well-known/jwks.json' };
    return { machine: m, step: { kind: 'notify', children: work.subscriptionIds.map((subscriptionId) => ({ workflowId: webhookDeliveryWorkflowId(key.name, work.version as number, subscriptionId), input: { subscriptionId, event: 'key.rotated', payload } })) } };
  }
  const result = { version: work.version, kid: created.kid, fingerprint: created.fingerprint, previous: replaced ? { version: replaced.version, state: replaced.state } : null, signingDisabledOn: work.signingDisabledOn };
  return { machine: answer({ ...m, work: null, freshRunDue: true }, work.requests, { ok: true, value: result }) };
}

/** What a rotation answers before it is over (`answer: 'recorded'`): the new version as recorded, and what it waits for. */
export interface RotationAccepted {
  version: number;
  kid: string;
  fingerprint: string;
  /** `pending` until it activates (at once for an emergency rotation or a key's first version). */
  state: string;
  publishedAt: string | null;
  /** When it becomes the active version: null while it is not yet published (its replicas wait for a node). */
  activatesAt: string | null;
  waiting: Waiting | null;
  previous: { version: number; state: string } | null;
  signingDisabledOn: string[];
}

/**
 * The requests of this rotation that asked to be answered once the version is recorded, when that answer is due: the
 * version's generation is recorded (`decide` records events before it looks at the work), and it is published, active,
 * or its next step waits for nodes. So the answer never waits for a publication lead or for an away node.
 */
function recordedAnswerDue(m: LifecycleMachine, work: RotationWork, created: KeyVersion): number[] {
  if (!created.publishedAt && !work.activated && m.waiting === null) return [];
  return m.inbox.filter((q) => work.requests.includes(q.id) && q.request.kind === 'rotate' && q.request.answer === 'recorded').map((q) => q.id);
}

function rotationAccepted(m: LifecycleMachine, work: RotationWork, created: KeyVersion): RotationAccepted {
  const replaced = work.previous !== null ? versionOf(m, work.previous) : undefined;
  return {
    version: created.version, kid: created.kid, fingerprint: created.fingerprint, state: created.state,
    publishedAt: created.publishedAt ?? null, activatesAt: created.activatesAt ?? created.activatedAt ?? null, waiting: m.waiting,
    previous: replaced ? { version: replaced.version, state: replaced.state } : null, signingDisabledOn: work.signingDisabledOn,
  };
}

function archiveStep(m: LifecycleMachine, work: ArchiveWork, nowMs: number): Progress {
  const target = versionOf(m, work.version);
  if (!target || (target.state !== 'retiring' && target.state !== 'compromised')) {
    return { machine: answer({ ...m, work: work.then }, work.requests, refused('no_grace_period', `v${work.version} of ${m.key.name} is ${target?.state ?? 'gone'}; nothing to archive`)) };
  }
  if (work.nodeIds === null) return { machine: m, step: nodesStep() };
  const holder = work.nodeIds.includes(target.generatedOn) ? target.generatedOn : (work.nodeIds[0] as string);
  if (work.wrapped === null) return { machine: m, step: { kind: 'call', call: onNode(holder, 'wrapPrivateKey', { fingerprint: target.fingerprint, wrappingKeyLabel: ARCHIVE_KEK_LABEL, ...keyTypeInput(m) }, `archive v${work.version} under the archive key`) } };
  if (!work.stored) return { machine: m, step: control('storeArchiveBlob', { name: m.key.name, version: work.version, fingerprint: target.fingerprint, wrapped: work.wrapped }, `store the archive of v${work.version}`) };
  if (!work.destroyed) {
    return { machine: m, step: { kind: 'calls', what: `destroy the private key of v${work.version}`, calls: work.nodeIds.map((node) => onNode(node, 'destroyKeyObjects', { fingerprint: target.fingerprint, ...objectsToDestroy(m, false) }, `destroy the private key of v${work.version} on ${node}`)) } };
  }
  const archived = { ...m, key: lifecycle.archive(m.key, work.version, nowMs), work: verifyWork(work.version, work.requests, work.then) };
  return { machine: event(archived, 'key.version.archived', work.actor, { version: work.version, why: work.why, archivedFrom: holder }) };
}

function verifyStep(m: LifecycleMachine, work: VerifyWork, nowMs: number): Progress {
  const target = versionOf(m, work.version);
  if (target?.state !== 'archived') return { machine: answer({ ...m, work: work.then }, work.requests, refused('no_grace_period', `v${work.version} of ${m.key.name} is no longer archived`)) };
  if (work.nodeIds === null) return { machine: m, step: nodesStep() };
  if (work.liveObjectsOn === null) {
    return { machine: m, step: { kind: 'calls', what: `look for live objects of v${work.version}`, calls: work.nodeIds.map((node) => onNode(node, 'describeKey', { fingerprint: target.fingerprint }, `look for live objects of v${work.version} on ${node}`)) } };
  }
  if (work.blob === null) return { machine: m, step: control('loadArchiveBlob', { name: m.key.name, version: work.version }, `load the archive of v${work.version}`) };
  if (work.archiveVerified === null) {
    const checkNode = work.nodeIds[0] as string;
    const input = { wrapped: work.blob, keyType: m.key.keyType, unwrappingKeyLabel: ARCHIVE_KEK_LABEL, spki: target.spki, ...(isEncryptionKey(m) ? { fingerprint: target.fingerprint } : {}) };
    return { machine: m, step: { kind: 'call', call: onNode(checkNode, 'verifyArchivedBlob', input, `unwrap the archive of v${work.version} into a session object and test it`) } };
  }
  return { machine: m, step: control('countSignsAfter', { name: m.key.name, version: work.version, since: switchedAt(target, nowMs), ...lingeringUseInput(m) }, `${isEncryptionKey(m) ? 'decrypt and unwrap' : 'signing'} use of v${work.version} since it was switched off`) };
}

/** After a grace period whose end found the version still in use, the check counts from the last look that found it unused. */
function switchedAt(target: KeyVersion, nowMs: number): string {
  return target.usageCheckedAt ?? target.retiringAt ?? target.compromisedAt ?? target.archivedAt ?? iso(nowMs);
}

function purgeStep(m: LifecycleMachine, work: PurgeWork, nowMs: number): Progress {
  const target = versionOf(m, work.version);
  if (!target || target.state === 'purged') return { machine: { ...m, work: work.then } };
  if (work.nodeIds === null) return { machine: m, step: nodesStep() };
  if (!work.destroyed) {
    return { machine: m, step: { kind: 'calls', what: `purge v${work.version}`, calls: work.nodeIds.map((node) => onNode(node, 'destroyKeyObjects', { fingerprint: target.fingerprint, ...objectsToDestroy(m, true) }, `purge v${work.version} on ${node}`)) } };
  }
  if (!work.blobDeleted) return { machine: m, step: control('deleteArchiveBlob', { name: m.key.name, version: work.version }, `delete the archive of v${work.version}`) };
  const purged = { ...m, key: lifecycle.purge(m.key, work.version, nowMs), work: work.then };
  return { machine: event(purged, 'key.version.purged', work.actor, { version: work.version, why: work.why }, true) };
}

function decommissionStep(m: LifecycleMachine, work: DecommissionWork, nowMs: number): Progress {
  if (!work.started) {
    const started = { ...m, key: { ...m.key, phase: 'decommissioning' as const }, work: { ...work, started: true } };
    return { machine: event(started, 'key.decommissioning', work.actor, { reason: work.reason }) };
  }
  const remaining = m.key.versions.find((v) => v.state !== 'purged' && !work.destroyed.includes(v.version));
  if (remaining) {
    const next: DecommissionWork = { ...work, destroyed: [...work.destroyed, remaining.version] };
    return { machine: { ...m, work: purgeWork(remaining.version, work.actor, `decommissioned: ${work.reason}`, next) } };
  }
  const done = { ...m, key: { ...m.key, phase: 'decommissioned' as const, nextRotationAt: null }, work: null, waiting: null };
  const recorded = event(done, 'key.decommissioned', work.actor, { reason: work.reason, destroyedVersions: work.destroyed, at: iso(nowMs) });
  return { machine: answer(recorded, work.requests, { ok: true, value: { destroyedVersions: work.destroyed } }) };
}

// ---------------------------------------------------------------- outcomes

/** Applies the outcome of the step `decide` named. A failed step holds the key there; nothing is undone or lost. */
export function apply(given: LifecycleMachine, step: Step, outcome: Outcome, nowMs: number, run: RunFacts = {}): LifecycleMachine {
  let m = given;
  if (step.kind === 'wait') return m.work?.kind === 'rotation' && m.work.notBefore !== null && m.work.notBefore <= nowMs ? { ...m, work: { ...m.work, notBefore: null } } : m;
  if (step.kind === 'continue-as-new' || step.kind === 'finish') return m;
  if (step.kind === 'call' && step.call.activity === 'recordKeyEvent' && m.events.length > 0) {
    if (!outcome.ok) return hold(m, `record ${(m.events[0] as PendingEvent).action}`, outcome, nowMs);
    const [recorded, ...rest] = m.events as [PendingEvent, ...PendingEvent[]];
    const key = { ...m.key, eventSeq: m.key.eventSeq + 1 };
    return { ...m, events: rest, key: recorded.forgetPurged ? lifecycle.forgetPurged(key) : key };
  }
  if (step.kind === 'call' && step.call.activity === 'raiseKeyAlert' && m.alerts.length > 0) {
    // An alert that cannot be raised must not hold the key it is about; the workflow logs it.
    return { ...m, alerts: m.alerts.slice(1) };
  }
  const tolerated = step.kind === 'call' && step.call.tolerate === true;
  if (!outcome.ok && !tolerated && outcome.code === 'node_away') return nodesAway(m, step, outcome, nowMs);
  // Any other answer means the step's nodes took it: a wait for nodes is over.
  if (m.waiting?.for === WAITING_FOR_NODES) m = { ...m, waiting: null };
  if (!outcome.ok && !tolerated) return hold(m, describe(step), outcome, nowMs);
  const work = m.work;
  if (work === null) return m;
  const value = outcome.ok ? outcome.value : null;
  if (work.kind === 'archive' || work.kind === 'purge') m = residueDestroyed(m, work.version, step, value);
  switch (work.kind) {
    case 'rotation':
      return applyRotation(m, work, step, value, nowMs, run);
    case 'archive':
      return { ...m, work: work.nodeIds === null ? { ...work, nodeIds: nodesOf(value) } : work.wrapped === null ? { ...work, wrapped: (value as { wrapped: string }).wrapped } : !work.stored ? { ...work, stored: true } : { ...work, destroyed: true } };
    case 'verify':
      return applyVerify(m, work, value, nowMs);
    case 'purge':
      return { ...m, work: work.nodeIds === null ? { ...work, nodeIds: nodesOf(value) } : !work.destroyed ? { ...work, destroyed: true } : { ...work, blobDeleted: true } };
    case 'grace-end':
      return applyGraceEnd(m, work, value as SignsAfter, nowMs);
    case 'evaluate':
      return applyEvaluation(m, work, outcome, nowMs);
    case 'decommission':
      return m;
  }
}

const nodesOf = (value: unknown): string[] => (value as { nodeIds: string[] }).nodeIds;

/**
 * Objects of a destroyed version that the node's own process no longer saw but a fresh module instance still found on
 * the token, and destroyed (`residue` of destroyKeyObjects; histories from before it carry none). The destruction
 * happened, so the procedure goes on; the audit log and an alert say where the token kept what it was told to drop.
 */
function residueDestroyed(m: LifecycleMachine, version: number, step: Step, value: unknown): LifecycleMachine {
  if (step.kind !== 'calls' || !Array.isArray(value)) return m;
  const found = step.calls.flatMap((call, index) => {
    const outcome = value[index] as Outcome | undefined;
    const residue = outcome?.ok ? Number((outcome.value as { residue?: unknown } | null)?.residue ?? 0) : 0;
    return call.activity === 'destroyKeyObjects' && call.queue.kind === 'hsm' && residue > 0 ? [{ node: call.queue.node, objects: residue }] : [];
  });
  if (found.length === 0) return m;
  const where = found.map(({ node, objects }) => `${node} (${objects})`).join(', ');
  const recorded = event(m, 'key.version.residue-destroyed', 'system', { version, nodes: found });
  return alert(recorded, 'warning', `v${version}:residue`, `objects of v${version} of ${m.key.name} stayed on ${where} after their worker destroyed them (the worker's PKCS#11 module no longer listed them); a fresh module instance found and destroyed them. Check that HSM's module and its storage`);
}

function applyRotation(m: LifecycleMachine, work: RotationWork, step: Step, value: unknown, nowMs: number, run: RunFacts): LifecycleMachine {
  if (work.nodeIds === null) return { ...m, work: { ...work, nodeIds: nodesOf(value) } };
  if (step.kind === 'calls' && step.calls[0]?.activity === 'setEncryptionUsage' && !toCompromise(m, work)) {
    return { ...m, work: work.activated ? { ...work, retiredSwitched: true } : { ...work, usageSwitched: true } };
  }
  if (step.kind === 'calls' && (step.calls[0]?.activity === 'setSigning' || step.calls[0]?.activity === 'setEncryptionUsage')) {
    const old = versionOf(m, work.previous as number) as KeyVersion;
    const next = { ...m, key: lifecycle.markCompromised(m.key, old.version, nowMs), work: { ...work, compromised: true, signingDisabledOn: work.nodeIds } };
    return event(next, 'key.version.compromised', work.actor, { version: old.version, reason: work.reason, signingDisabledOn: work.nodeIds });
  }
  if (step.kind === 'calls' && step.calls[0]?.activity === 'pingHsmNode') {
    const up = work.nodeIds.filter((_node, index) => ((value as Outcome[])[index] as Outcome).ok);
    if (up.length === 0) {
      const waitedMs = m.waiting?.for === NO_NODE_ANSWERED ? nowMs - Date.parse(m.waiting.since) : 0;
      const pauseMs = run.noNodeBackoff?.() === true ? Math.min(NODE_RETRY_MS, Math.max(NODE_RETRY_MIN_MS, waitedMs)) : NODE_RETRY_MS;
      return { ...m, waiting: m.waiting ?? { for: NO_NODE_ANSWERED, since: iso(nowMs) }, work: { ...work, notBefore: nowMs + pauseMs } };
    }
    const version = lifecycle.nextVersionNumber(m.key);
    return { ...m, waiting: m.waiting?.for === NO_NODE_ANSWERED ? null : m.waiting, work: { ...work, primary: up[(version - 1) % up.length] as string } };
  }
  if (work.version === null) {
    const generated = value as { fingerprint: string; spki: string | null; jweAlg?: JweAlgorithm | null; entropyProvenance: EntropyProvenance } | { entropyHeld: string };
    if ('entropyHeld' in generated) {
      const waiting = { for: generated.entropyHeld, since: m.waiting?.since ?? iso(nowMs) };
      // Another node's pool may be healthy: ask the nodes again after the pause.
      return { ...m, waiting, work: { ...work, primary: null, notBefore: nowMs + ENTROPY_RETRY_MS } };
    }
    const version = lifecycle.nextVersionNumber(m.key);
    const previous = work.previous ?? [...m.key.versions].reverse().find((v) => v.state === 'compromised')?.version ?? null;
    const key = lifecycle.addPendingVersion(m.key, {
      version, fingerprint: generated.fingerprint, spki: generated.spki, jweAlg: generated.jweAlg ?? null, generatedOn: work.primary as string, now: iso(nowMs), entropyProvenance: generated.entropyProvenance,
      lineage: { previousVersion: previous, trigger: work.trigger, reason: work.reason, actor: work.actor, ...(work.evidence ? { evidence: work.evidence } : {}) },
    });
    const next = { ...m, key, waiting: null, work: { ...work, version } };
    return event(next, 'key.version.generated', work.actor, {
      version, fingerprint: generated.fingerprint, node: work.primary, trigger: work.trigger, reason: work.reason,
      entropy: { mode: generated.entropyProvenance.mode, creditedBits: generated.entropyProvenance.creditedBits },
    });
  }
  if (!work.replicated && work.wrapped === null && step.kind === 'call') return { ...m, work: { ...work, wrapped: value as RotationWork['wrapped'] } };
  if (!work.replicated) return event({ ...m, work: { ...work, replicated: true } }, 'key.version.replicated', work.actor, { version: work.version, nodes: work.nodeIds });
  if (work.subscriptionIds === null) return { ...m, work: { ...work, subscriptionIds: (value as { ids: string[] }).ids } };
  return { ...m, work: { ...work, notified: true } };
}

function applyVerify(m: LifecycleMachine, work: VerifyWork, value: unknown, nowMs: number): LifecycleMachine {
  if (work.nodeIds === null) return { ...m, work: { ...work, nodeIds: nodesOf(value) } };
  if (work.liveObjectsOn === null) {
    const described = (value as Outcome[]).map((o) => (o.ok ? (o.value as { privateKey: boolean; secretKey?: boolean }) : { privateKey: true }));
    return { ...m, work: { ...work, liveObjectsOn: work.nodeIds.filter((_node, index) => described[index]?.privateKey === true || described[index]?.secretKey === true) } };
  }
  if (work.blob === null) return { ...m, work: { ...work, blob: (value as { wrapped: string }).wrapped } };
  if (work.archiveVerified === null) return { ...m, work: { ...work, archiveVerified: (value as { matches: boolean }).matches } };
  const target = versionOf(m, work.version) as KeyVersion;
  const verdict = transitionVerdict({ liveObjectsOn: work.liveObjectsOn, archiveVerified: work.archiveVerified, used: value as SignsAfter, since: switchedAt(target, nowMs), nowMs });
  let next: LifecycleMachine = { ...m, key: lifecycle.recordVerdict(m.key, work.version, verdict, nowMs), work: work.then };
  next = event(next, verdict.ok ? 'key.version.verified' : 'key.version.verification_failed', 'system', { version: work.version, verdict });
  if (!verdict.ok) {
    next = alert(next, 'critical', `v${work.version}:transition`, `the transition away from ${target.kid} is not clean (live private objects on: ${work.liveObjectsOn.join(', ') || 'none'}; archive ${work.archiveVerified ? 'verified' : 'does NOT match'}; ${verdict.usage.note}); its purge is held`);
  }
  const after = versionOf(next, work.version);
  return answer(next, work.requests, { ok: true, value: { version: work.version, state: after?.state ?? 'archived', verdictOk: after?.verdict?.ok ?? null } });
}

/**
 * At the end of a grace period: whether applications still sign with the retiring version. If they do, the grace
 * period is extended (one more period, within maxGracePeriod) and an alert names them; at the cap the version is
 * archived anyway and the transition check names them.
 */
function applyGraceEnd(m: LifecycleMachine, work: GraceEndWork, used: SignsAfter, nowMs: number): LifecycleMachine {
  const target = versionOf(m, work.version) as KeyVersion;
  const since = target.usageCheckedAt ?? target.retiringAt ?? target.compromisedAt ?? target.createdAt;
  const archive = (next: LifecycleMachine): LifecycleMachine => ({ ...next, work: archiveWork(work.version, 'system', isEncryptionKey(m) ? `no decrypt or unwrap use since ${since}` : 'grace period ended', [], null) });
  if (used.count === 0) return archive({ ...m, key: lifecycle.markUsageChecked(m.key, work.version, iso(nowMs)) });
  if (isEncryptionKey(m)) return keepDecrypting(m, target, used, since, nowMs);
  const byMs = lifecycle.automaticGraceExtension(m.key);
  const apps = used.apps.join(', ');
  if (byMs <= 0) {
    return archive(alert(m, 'critical', `v${work.version}:in-use`, `v${work.version} of ${m.key.name} reached its maximum grace period (${m.key.policy.maxGracePeriod}) while ${apps} still sign with it (${used.count} signature(s) since ${since}); it is archived now`));
  }
  const extended = lifecycle.extendGrace(lifecycle.markUsageChecked(m.key, work.version, iso(nowMs)), byMs);
  let next: LifecycleMachine = { ...m, key: extended.state, work: null };
  next = event(next, 'key.grace.extended', 'system', { version: work.version, byMs, deadline: extended.deadline, reason: 'still in use at the end of the grace period', apps: used.apps, signs: used.count });
  return alert(next, 'warning', `v${work.version}:in-use`, `${apps} still sign with v${work.version} of ${m.key.name} (${used.count} signature(s) since ${since}); its grace period is extended to ${extended.deadline}. Move them to the active version (JWKS kid ${lifecycle.activeVersion(m.key)?.kid ?? '?'})`);
}

/**
 * An encryption version still decrypted or unwrapped at the end of its grace period stays decrypt-only: archiving it
 * would leave its ciphertexts unopenable. It is looked at again one grace period later; past maxGracePeriod the alert
 * is critical. Rewrapping (POST /keys/:name/rewrap) moves the data keys on; raising minDecryptionVersion archives it anyway.
 */
function keepDecrypting(m: LifecycleMachine, target: KeyVersion, used: SignsAfter, since: string, nowMs: number): LifecycleMachine {
  const kept = lifecycle.keepDecrypting(m.key, target.version, nowMs);
  const from = target.retiringAt ?? target.compromisedAt ?? target.createdAt;
  const overdue = nowMs - Date.parse(from) > policyDurations(m.key.policy).maxGracePeriodMs;
  const apps = used.apps.join(', ');
  let next: LifecycleMachine = { ...m, key: kept.state, work: null };
  next = event(next, 'key.grace.extended', 'system', { version: target.version, deadline: kept.deadline, reason: 'still decrypting at the end of its grace period', apps: used.apps, uses: used.count });
  return alert(next, overdue ? 'critical' : 'warning', `v${target.version}:in-use`, `${apps} still decrypt or unwrap with v${target.version} of ${m.key.name} (${used.count} use(s) since ${since}); it stays decrypt-only until ${kept.deadline}${overdue ? `, past its maxGracePeriod (${m.key.policy.maxGracePeriod})` : ''}. Rewrap their data keys to the active version (POST /keys/${m.key.name}/rewrap)`);
}

/** One risk evaluation: keep its summary; when a trigger fired, the rotation follows with the evaluation as evidence. */
function applyEvaluation(m: LifecycleMachine, work: EvaluateWork, outcome: Outcome, nowMs: number): LifecycleMachine {
  const active = lifecycle.activeVersion(m.key) as KeyVersion;
  const seq = (m.key.prediction?.seq ?? 0) + 1;
  if (!outcome.ok) {
    const prediction = evaluationFailed({ name: m.key.name, seq, version: active.version, previous: m.key.prediction ?? null, policy: m.key.policy, message: outcome.message, nowMs });
    const next = alert({ ...m, key: { ...m.key, prediction }, work: null }, 'warning', 'evaluation', `the risk evaluation of ${m.key.name} failed: ${outcome.message}`);
    return answer(next, work.requests, { ok: true, value: prediction });
  }
  const result = outcome.value as EvaluationResult;
  const prediction = evaluationSummary({ name: m.key.name, seq, version: active.version, result });
  let next: LifecycleMachine = answer({ ...m, key: { ...m.key, prediction }, work: null }, work.requests, { ok: true, value: prediction });
  const unreported = result.unreported ?? [];
  if (unreported.length > 0) {
    const what = unreported.map((use) => `${use.seen - use.reported} of v${use.version} by ${use.app} on ${use.node ?? '?'}${use.log ? ` (access log ${use.log})` : ''}`).join('; ');
    next = alert(next, 'warning', 'unreported-use', `the HSM saw private-key operations with ${m.key.name} that no application reported: ${what}. An application that does not report, or someone else holding a PIN; the risk score counts them (component unreported)`);
  }
  if (!result.rotate || result.trigger === null) return next;
  next = startRotation(next, { trigger: result.trigger, reason: result.reason, actor: 'system', emergency: false, requests: [], evidence: result.evidence });
  const retiring = lifecycle.retiringVersion(m.key);
  // One version retires at a time: a trigger ends the running grace period now.
  if (retiring) next = { ...next, work: archiveWork(retiring.version, 'system', `grace period ended early: ${result.reason}`, [], next.work) };
  return next;
}

/**
 * A try of `step` that no worker of some node took in time: the key shows that it waits for those nodes (since the
 * first untaken try), and once the wait outlasts its bound an alert says so. Nothing is undone; `decide` names the same
 * step again, and its next try waits longer for the nodes.
 */
function nodesAway(m: LifecycleMachine, step: Step, outcome: Extract<Outcome, { ok: false }>, nowMs: number): LifecycleMachine {
  const calls = step.kind === 'call' ? [step.call] : step.kind === 'calls' ? step.calls : [];
  const nodes = outcome.away ?? calls.flatMap((call) => ('node' in call.queue ? [call.queue.node] : []));
  const triedMs = Math.max(0, ...calls.map((call) => (call.queue.kind === 'hsm' ? call.queue.tryTimeoutMs ?? 0 : 0)));
  const { waiting, alertDue } = waitForNodes(m.waiting, { nodes, step: describe(step), triedMs, nowMs });
  const next = { ...m, waiting };
  if (!alertDue) return next;
  return alert(next, 'warning', 'waiting', `key ${m.key.name} has waited since ${waiting.since} for ${describeWaiting(waiting)}: no worker of ${nodes.join(', ')} takes the step. Start that node's HSM worker (or fix its connection to Temporal); the step runs as soon as it is back, and nothing goes on without it`);
}

/** Holds the key at a failed step: visible, alerted, and resumable; the callers waiting on it hear why at once. */
function hold(m: LifecycleMachine, step: string, outcome: Extract<Outcome, { ok: false }>, nowMs: number): LifecycleMachine {
  const held: Held = { step, reason: `${outcome.code}: ${outcome.message}`, since: iso(nowMs) };
  const waiting = m.work ? requestsOf(m.work) : [];
  const told = answer({ ...m, held, work: m.work ? withoutRequests(m.work) : null }, waiting, refused('key_held', `key ${m.key.name} is held at "${step}": ${held.reason}. Fix the cause, then resume it (POST /keys/${m.key.name}/resume)`));
  return alert(told, 'critical', 'held', `key ${m.key.name} is held at "${step}" since ${held.since}: ${held.reason}. Fix the cause, then POST /keys/${m.key.name}/resume`);
}

/** Holds the key after a defect in the lifecycle code itself, which must never fail the workflow. */
export function holdOnDefect(m: LifecycleMachine, error: unknown, nowMs: number): LifecycleMachine {
  return hold(m, m.work ? `${m.work.kind} (deciding the next step)` : 'deciding the next step', { ok: false, code: 'internal_error', message: messageOf(error) }, nowMs);
}

function withoutRequests(work: Work): Work {
  if (work.kind === 'grace-end') return work;
  const then = 'then' in work && work.then ? { then: withoutRequests(work.then) } : {};
  return { ...work, ...('requests' in work ? { requests: [] } : {}), ...then };
}

function describe(step: Step): string {
  if (step.kind === 'call') return step.call.summary;
  if (step.kind === 'calls') return step.what;
  if (step.kind === 'notify') return 'tell subscribers';
  return step.kind;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------- views

export interface MachineView extends lifecycle.KeyStateView {
  held: Held | null;
  waiting: Waiting | null;
  /** The procedure under way, if any. */
  working: string | null;
}

export function viewOfMachine(m: LifecycleMachine, nowMs: number): MachineView {
  // A procedure that just ended is still recording its last events: the key is not idle until they are in the log (a
  // follower such as `keyrotor ... --wait` must not take that moment for the end of the work).
  const recording = m.events[0] ? `record ${m.events[0].action}` : null;
  return { ...lifecycle.viewOf(m.key, nowMs), held: m.held, waiting: m.waiting, working: m.work ? workName(m.work) : recording };
}

function workName(work: Work): string {
  switch (work.kind) {
    case 'rotation':
      return `${work.emergency ? 'emergency ' : ''}rotation (${work.trigger})${work.version ? ` to v${work.version}` : ''}`;
    case 'archive':
    case 'verify':
    case 'purge':
      return `${work.kind} v${work.version}`;
    case 'grace-end':
      return `end of the grace period of v${work.version}`;
    case 'evaluate':
      return 'risk evaluation';
    case 'decommission':
      return 'decommission';
  }
}

/** The KeyPhase the Web UI filters by: the lifecycle phase, or `held`. */
export function phaseForWebUi(m: LifecycleMachine): string {
  return m.held ? 'held' : m.key.phase;
}

/** The workflow's summary in the Web UI. */
export function describeForWebUi(m: LifecycleMachine): string {
  const state = m.key;
  const lines = state.versions.map((v) => `- v${v.version} \`${v.kid}\` **${v.state}**${v.graceDeadline ? ` (grace until ${v.graceDeadline})` : ''}${v.purgeAfter ? ` (purge after ${v.purgeAfter})` : ''}`);
  const p = state.prediction;
  const prediction = p
    ? `risk ${p.score === null ? 'not evaluated (failed)' : p.score.toFixed(3)} of ${p.threshold} at ${p.evaluatedAt}; predicted rotation: ${p.predictedTrigger ?? '—'} at ${p.predictedRotationAt ?? '—'}; next evaluation ${p.nextEvaluationAt}\n\n${p.reason}`
    : 'not evaluated yet';
  const held = m.held ? `\n\n**HELD** at ${m.held.step} since ${m.held.since}: ${m.held.reason}. Resume with the \`resumeKey\` Update (POST /keys/${state.name}/resume) once the cause is fixed.` : '';
  const waiting = m.waiting ? `\n\nwaiting since ${m.waiting.since} for ${describeWaiting(m.waiting)}` : '';
  const working = m.work ? `\n\nnow: ${workName(m.work)}` : '';
  return `**${state.name}** (${state.keyType}) — ${state.phase}${held}${waiting}${working}\n\n${lines.join('\n')}\n\nnext maxAge rotation: ${state.nextRotationAt ?? '—'}\n\n${prediction}`;
}
