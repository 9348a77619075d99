import { createHash } from 'node:crypto';
import type { EvaluationResult } from '../../domain/keys/lifecycle-records';
import * as machine from '../../domain/keys/lifecycle-machine';
import type { KeyLifecycleState } from '../../domain/keys/lifecycle-state';
import { isErrorCode } from '../../domain/error-codes';

/**
 * A cluster of HSM nodes and a database, in memory, answering the lifecycle's activities as the real ones do: objects
 * per node by fingerprint, archive blobs, recorded events, alerts. The pure tests drive the state machine against it,
 * and the time-skipping tests register its methods as the workflow's activities. Failures are injected per activity.
 */
export class FakeCluster {
  readonly nodeIds: string[];
  /** node → fingerprint → the classes of object it holds there. */
  readonly objects = new Map<string, Map<string, Set<'private' | 'public'>>>();
  readonly blobs = new Map<string, string>();
  readonly events: Array<{ action: string; details: Record<string, unknown>; eventSeq: number }> = [];
  readonly alerts: Array<{ dedupKey: string; severity: string; message: string }> = [];
  readonly calls: string[] = [];
  /** When the last activity ran (wall clock): a key whose cluster has been quiet a while has settled. */
  lastCallAt = 0;

  /**
   * No activity call for 1 s (wall clock): what the tests take for a procedure at rest. With 300 ms, a CPU-bound test
   * file beside one of these (jest runs two at a time) once made a pause between two steps of a rotation look like its
   * end (v2 pending, not yet published).
   */
  isQuiet(): boolean {
    return Date.now() - this.lastCallAt > 1_000;
  }
  /** The newest state each key recorded (recordKeyEvent carries it), by key name. */
  readonly recorded = new Map<string, KeyLifecycleState>();
  /** Signing use reported after any moment, per version (the end-of-grace check and the verdict count it). */
  signs = new Map<number, number>();
  /** What the next risk evaluation decides; a rotation is decided once (minRotationInterval keeps the new version). */
  evaluation: { rotate: boolean; trigger: EvaluationResult['trigger']; score: number; unreported?: EvaluationResult['unreported']; key?: string } = { rotate: false, trigger: null, score: 0.1 };
  /**
   * Subscriber ids listSubscriptionIds answers. None by default: in the time-skipping server a webhook child that ends
   * after its parent continued as new keeps time skipping locked.
   */
  subscriptions: string[] = [];
  /** Nodes that do not answer pings. */
  readonly down = new Set<string>();
  /**
   * Nodes whose HSM worker is away (pure driving): a try of a step on one answers `node_away`, as the workflow's runner
   * reads a schedule-to-start timeout, and its pings fail. The time-skipping tests stop the node's worker instead.
   */
  readonly away = new Set<string>();
  /** The next `times` calls of an activity fail with this code (non-retryable, as the workflow sees them after retries). */
  private readonly failures = new Map<string, { code: string; message: string; times: number }>();
  entropyHeldTimes = 0;
  /** Per node: how many objects the next destroyKeyObjects there reports as residue (found only by a fresh module instance). */
  readonly residueNext = new Map<string, number>();
  private generated = 0;

  /** The cluster's clock: `drive` sets it to the moment it runs the machine at; the time-skipping tests to workflow time. */
  now: () => number = Date.now;

  constructor(nodeIds: string[] = ['hsm-1', 'hsm-2', 'hsm-3']) {
    this.nodeIds = nodeIds;
    for (const id of nodeIds) this.objects.set(id, new Map());
  }

  failNext(activity: string, code = 'injected_failure', times = 1): void {
    this.failures.set(activity, { code, message: `${activity} failed on purpose (${code})`, times });
  }

  private objectsOn(node: string, fingerprint: string): Set<'private' | 'public'> {
    const onNode = this.objects.get(node) as Map<string, Set<'private' | 'public'>>;
    let held = onNode.get(fingerprint);
    if (!held) {
      held = new Set();
      onNode.set(fingerprint, held);
    }
    return held;
  }

  /** Fingerprints with at least one object on `node`. */
  fingerprintsOn(node: string): string[] {
    return [...(this.objects.get(node) ?? new Map<string, Set<string>>()).entries()].filter(([, held]) => held.size > 0).map(([fingerprint]) => fingerprint);
  }

  /** Answers one activity call, or throws `{ code, message }` as a failed activity would. */
  call(activity: string, input: Record<string, unknown>, node: string | null): unknown {
    this.calls.push(node ? `${activity}@${node}` : activity);
    this.lastCallAt = Date.now();
    const failure = this.failures.get(activity);
    if (failure && failure.times > 0) {
      failure.times -= 1;
      throw new InjectedFailure(failure.code, failure.message);
    }
    const fingerprint = input.fingerprint as string;
    switch (activity) {
      case 'getClusterNodes':
        return { nodeIds: [...this.nodeIds] };
      case 'pingHsmNode':
        if (node && this.down.has(node)) throw new InjectedFailure('schedule_to_start_timeout', `${node} did not answer`);
        return { nodeId: node };
      case 'generateKeyPair': {
        if (this.entropyHeldTimes > 0) {
          this.entropyHeldTimes -= 1;
          return { entropyHeld: `node ${node ?? '?'}: the entropy pool holds 0 credited bits (minimum 512); key generation is held by the key's entropy policy until the pool is healthy` };
        }
        this.generated += 1;
        const made = createHash('sha256').update(`${input.label as string}/${this.generated}`).digest('hex');
        const held = this.objectsOn(node as string, made);
        held.add('private');
        held.add('public');
        return { fingerprint: made, spki: Buffer.from(made).toString('base64'), created: true, entropyProvenance: { mode: 'pool', creditedBits: 512, healthy: true } };
      }
      case 'wrapPrivateKey':
        if (!this.objectsOn(node as string, fingerprint).has('private')) throw new InjectedFailure('key_not_found', `no private key ${fingerprint} on ${node ?? '?'}`);
        return { wrapped: `wrapped:${fingerprint}:${input.wrappingKeyLabel as string}`, keyType: 'ec-p256', label: 'label', publicKey: { kty: 'EC' } };
      case 'importReplica': {
        const held = this.objectsOn(node as string, fingerprint);
        held.add('private');
        held.add('public');
        return { created: true };
      }
      case 'setSigning':
        return { changed: true };
      case 'destroyKeyObjects': {
        const held = this.objectsOn(node as string, fingerprint);
        const before = held.size;
        if (input.privateKey) held.delete('private');
        if (input.publicKey) held.delete('public');
        const residue = this.residueNext.get(node as string) ?? 0;
        this.residueNext.delete(node as string);
        return { destroyed: before - held.size + residue, residue };
      }
      case 'describeKey': {
        const held = this.objectsOn(node as string, fingerprint);
        return { privateKey: held.has('private'), publicKey: held.has('public'), canSign: null, label: null };
      }
      case 'verifyArchivedBlob':
        return { matches: typeof input.wrapped === 'string' && input.wrapped.startsWith('wrapped:') };
      case 'storeArchiveBlob':
        this.blobs.set(`${input.name as string}/${input.version as number}`, input.wrapped as string);
        return {};
      case 'loadArchiveBlob': {
        const wrapped = this.blobs.get(`${input.name as string}/${input.version as number}`);
        if (!wrapped) throw new InjectedFailure('not_found', 'no archive blob');
        return { wrapped, fingerprint: 'x' };
      }
      case 'deleteArchiveBlob':
        return { deleted: this.blobs.delete(`${input.name as string}/${input.version as number}`) };
      case 'countSignsAfter': {
        const count = this.signs.get(input.version as number) ?? 0;
        return { evidence: 'events', count, apps: count > 0 ? ['billing-legacy'] : [] };
      }
      case 'listSubscriptionIds':
        return { ids: [...this.subscriptions] };
      case 'raiseKeyAlert':
        this.alerts.push(input as { dedupKey: string; severity: string; message: string });
        return { alertId: String(this.alerts.length) };
      case 'recordKeyEvent': {
        const { state, event } = input as { state: KeyLifecycleState; event: { action: string; details: Record<string, unknown> } };
        this.events.push({ action: event.action, details: event.details, eventSeq: state.eventSeq });
        this.recorded.set(state.name, state);
        return { recorded: true };
      }
      case 'evaluateKeyRisk': {
        const nowIso = new Date(this.now()).toISOString();
        const policy = input.policy as { riskThreshold: number };
        // An evaluation meant for one key: the others, evaluated meanwhile, get the quiet default and leave it to that key.
        const mine = this.evaluation.key === undefined || this.evaluation.key === input.name;
        const evaluation = mine ? this.evaluation : { rotate: false, trigger: null, score: 0.1 };
        const result: EvaluationResult = {
          evaluationId: input.evaluationId as string, evaluatedAt: nowIso, score: evaluation.score, threshold: policy.riskThreshold,
          rotate: evaluation.rotate, trigger: evaluation.trigger, predictedTrigger: evaluation.trigger ?? 'age',
          predictedRotationAt: new Date(this.now() + 86_400_000).toISOString(), nextEvaluationAt: new Date(this.now() + 3_600_000).toISOString(),
          reason: evaluation.rotate ? `risk ${evaluation.score} reached ${policy.riskThreshold}` : 'quiet',
          evidence: { evaluationId: input.evaluationId as string, score: evaluation.score, threshold: policy.riskThreshold, components: [], modelVersion: null, capacityExhaustedAt: null },
          ...('unreported' in evaluation && evaluation.unreported ? { unreported: evaluation.unreported } : {}),
        };
        if (mine && this.evaluation.rotate) this.evaluation = { rotate: false, trigger: null, score: 0.1 };
        return result;
      }
      default:
        throw new InjectedFailure('unknown_activity', `no such activity: ${activity}`);
    }
  }

  /** The outcome of one step of the machine, as the workflow's runner would give it. */
  outcomeOf(step: machine.Step): machine.Outcome {
    const one = (call: machine.Call): machine.Outcome => {
      if (call.queue.kind === 'hsm' && this.away.has(call.queue.node)) return { ok: false, code: 'node_away', message: `no worker of ${call.queue.node} took the step`, away: [call.queue.node] };
      if (call.queue.kind === 'ping' && this.away.has(call.queue.node)) return { ok: false, code: 'step_failed', message: `${call.queue.node} did not answer` };
      try {
        return { ok: true, value: this.call(call.activity, call.input, 'node' in call.queue ? call.queue.node : null) };
      } catch (error) {
        // As workflows/lifecycle-steps.ts reads a failure: a code the table does not list is a failed step.
        if (error instanceof InjectedFailure) return { ok: false, code: isErrorCode(error.code) ? error.code : 'step_failed', message: error.message };
        throw error;
      }
    };
    if (step.kind === 'call') return one(step.call);
    if (step.kind === 'calls') return machine.outcomeOfCalls(step.calls, step.calls.map(one));
    return { ok: true, value: null };
  }

  /** Activities for a Temporal worker: every name the lifecycle calls, answered by this cluster on the node of its queue. */
  activities(node: string | null): Record<string, (input: Record<string, unknown>) => Promise<unknown>> {
    const names = ['getClusterNodes', 'pingHsmNode', 'generateKeyPair', 'wrapPrivateKey', 'importReplica', 'setSigning', 'destroyKeyObjects', 'describeKey', 'verifyArchivedBlob',
      'storeArchiveBlob', 'loadArchiveBlob', 'deleteArchiveBlob', 'countSignsAfter', 'listSubscriptionIds', 'raiseKeyAlert', 'recordKeyEvent', 'evaluateKeyRisk', 'deliverWebhook'];
    return Object.fromEntries(names.map((name) => [name, async (input: Record<string, unknown>) => {
      await Promise.resolve();
      if (name === 'deliverWebhook') return { status: 204 };
      try {
        return this.call(name, input, node);
      } catch (error) {
        throw error instanceof InjectedFailure ? error.toTemporal() : error;
      }
    }]));
  }
}

export class InjectedFailure extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }

  /** A non-retryable ApplicationFailure, built lazily so that pure tests need no Temporal package. */
  toTemporal(): Error {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { ApplicationFailure } = require('@temporalio/common') as typeof import('@temporalio/common');
    return ApplicationFailure.nonRetryable(this.message, this.code);
  }
}

/**
 * Runs the machine against the cluster until it waits for a message or for a moment after `now`, finishes, starts a
 * fresh run (which the driver continues in place, as continueAsNew would), or a try found a node away (a try takes its
 * time; the caller drives again later). Answers are collected as handlers would.
 */
export function drive(start: machine.LifecycleMachine, cluster: FakeCluster, now: number, limit = 500): { machine: machine.LifecycleMachine; answers: machine.Answer[]; finished: boolean; freshRuns: number } {
  let m = start;
  cluster.now = () => now;
  const answers: machine.Answer[] = [];
  let freshRuns = 0;
  let triedAway = false;
  for (let i = 0; i < limit; i += 1) {
    for (const a of m.answers) answers.push(a);
    m = { ...m, answers: [] };
    const { machine: next, step } = machine.decide(m, now, { freshRunBeforeNewWork: () => true });
    m = next;
    for (const a of m.answers) answers.push(a);
    m = { ...m, answers: [] };
    if (step.kind === 'finish') return { machine: m, answers, finished: true, freshRuns };
    if (step.kind === 'continue-as-new') {
      freshRuns += 1;
      m = { ...m, freshRunDue: false };
      const again = machine.decide(m, now, { freshRunBeforeNewWork: () => true });
      if (again.step.kind === 'wait' && (again.step.until === null || again.step.until > now)) return { machine: again.machine, answers, finished: false, freshRuns };
      continue;
    }
    if (step.kind === 'wait') {
      if (step.until === null || step.until > now) return { machine: m, answers, finished: false, freshRuns };
      m = machine.apply(m, step, { ok: true, value: null }, now);
      continue;
    }
    const onNodes = step.kind === 'call' ? [step.call] : step.kind === 'calls' ? step.calls : [];
    if (triedAway && onNodes.some((call) => call.queue.kind === 'hsm')) return { machine: m, answers, finished: false, freshRuns };
    const outcome = cluster.outcomeOf(step);
    m = machine.apply(m, step, outcome, now, { noNodeBackoff: () => true });
    triedAway ||= !outcome.ok && outcome.code === 'node_away';
  }
  throw new Error(`the machine did not settle in ${limit} steps (work: ${m.work?.kind ?? 'none'}, held: ${m.held?.step ?? 'no'})`);
}
