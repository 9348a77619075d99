import {
  ApplicationFailure, CancellationScope, allHandlersFinished, condition, currentUpdateInfo, log, makeContinueAsNewFunc, patched, setCurrentDetails, setHandler, sleep, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import type { UpdateDefinition } from '@temporalio/common';
import { isErrorCode } from '../domain/error-codes';
import * as machine from '../domain/keys/lifecycle-machine';
import { checkRequest, type KeyRequest } from '../domain/keys/lifecycle-requests';
import { activeVersion, type KeyLifecycleState } from '../domain/keys/lifecycle-state';
import { describeWaiting } from '../domain/keys/node-wait';
import { KEY_WORKFLOW_TASK_TIMEOUT_MS } from '../domain/step-timeouts';
import * as messages from './key-messages';
import { STEP_PATCHES, runStep } from './lifecycle-steps';

/** The patch of the rule that a due fresh run comes before new work (machine.RunFacts): older runs replay without it. */
const FRESH_RUN_BEFORE_NEW_WORK = 'fresh-run-before-new-work';
const FRESH_RUN_WHILE_WAITING = 'fresh-run-while-waiting-for-nodes';
const NO_NODE_BACKOFF = 'no-node-answered-backoff';

export interface KeyLifecycleInput {
  state: KeyLifecycleState;
  /** Why the key was created (the first run only). */
  reason?: string;
  /** Carried across continueAsNew: the inbox, a held step, the work under way. */
  machine?: machine.LifecycleMachine;
}

/**
 * The life of one key, from its first version to the purge of its last: generate on a healthy node, replicate to every
 * node, publish, hold the grace period, archive inside the HSMs, verify a clean transition, purge after retention.
 * The domain's state machine decides each step; this loop runs it. Handlers only check a request and queue it.
 */
export async function keyLifecycleWorkflow(input: KeyLifecycleInput): Promise<{ name: string; phase: string }> {
  // A run started now records every patch it follows in its first task, before anything can wait: where a patch is
  // asked later (a decision, a step) then never decides where its marker goes. A run recorded before replays as it was,
  // each marker where it was asked (a marker not in this task's history answers false here and is asked again there).
  for (const patch of [FRESH_RUN_BEFORE_NEW_WORK, FRESH_RUN_WHILE_WAITING, NO_NODE_BACKOFF, ...STEP_PATCHES]) patched(patch);
  let m = input.machine ?? machine.newMachine(input.state, input.reason ?? 'key created');
  let woken = false;
  let published = '';

  const fieldsOf = (request: unknown): Record<string, unknown> => (typeof request === 'object' && request !== null ? (request as Record<string, unknown>) : {});
  function submit(request: KeyRequest, answer: boolean): number {
    const submitted = machine.submit(m, request, answer);
    m = submitted.machine;
    woken = true;
    return submitted.id;
  }
  /** An outcome as an Update answers it: its value, or its refusal as a non-retryable failure. */
  const given = (outcome: machine.Outcome): unknown => {
    if (!outcome.ok) throw ApplicationFailure.nonRetryable(outcome.message, outcome.code);
    return outcome.value;
  };
  async function answered(id: number): Promise<unknown> {
    await condition(() => machine.answerOf(m, id) !== undefined);
    const { outcome } = machine.answerOf(m, id) as machine.Answer;
    m = machine.collectAnswer(m, id);
    return given(outcome);
  }
  /**
   * Every Update's outcome is kept by its id (machine.keepUpdateOutcome) and given again to the same id, in this run or
   * a later one: a client's repeat of an Update it is not sure arrived, after a Temporal restart or under an
   * Idempotency-Key, gets the first answer instead of a second rotation or a refusal of its own.
   */
  function update<Req, Res>(definition: UpdateDefinition<Res, [Req]>, toRequest: (fields: Record<string, unknown>) => KeyRequest): void {
    setHandler(definition, async (request: Req) => {
      const updateId = currentUpdateInfo()?.id;
      const kept = updateId === undefined ? undefined : machine.keptUpdateOutcome(m, updateId, Date.now());
      if (kept) return given(kept) as Res;
      try {
        const value = await answered(submit(toRequest(fieldsOf(request)), true));
        if (updateId !== undefined) m = machine.keepUpdateOutcome(m, updateId, { ok: true, value }, Date.now());
        return value as Res;
      } catch (error) {
        if (updateId !== undefined && error instanceof ApplicationFailure && isErrorCode(error.type)) {
          m = machine.keepUpdateOutcome(m, updateId, { ok: false, code: error.type, message: error.message }, Date.now());
        }
        throw error;
      }
    }, {
      validator: (request: Req) => {
        const updateId = currentUpdateInfo()?.id;
        // An Update answered before gets that answer again, whatever the key's state is now.
        if (updateId !== undefined && machine.keptUpdateOutcome(m, updateId, Date.now())) return;
        const refusal = machine.refuse(m, toRequest(fieldsOf(request)));
        if (refusal) throw ApplicationFailure.nonRetryable(refusal.message, refusal.code);
      },
    });
  }
  const rotate = (f: Record<string, unknown>) => ({ kind: 'rotate', reason: f.reason, emergency: f.emergency, actor: f.actor }) as KeyRequest;
  const extend = (f: Record<string, unknown>) => ({ kind: 'extend-grace', byMs: f.byMs, reason: f.reason, actor: f.actor }) as KeyRequest;

  setHandler(messages.keyStateQuery, () => machine.viewOfMachine(m, Date.now()));
  update(messages.rotateKeyUpdate, rotate);
  update(messages.startRotationUpdate, (f) => ({ ...rotate(f), answer: 'recorded' }) as KeyRequest);
  update(messages.extendGracePeriodUpdate, extend);
  update(messages.completeGraceUpdate, (f) => ({ kind: 'complete-grace', reason: f.reason, actor: f.actor }) as KeyRequest);
  update(messages.updatePolicyUpdate, (f) => ({ kind: 'policy', change: f.change, actor: f.actor }) as KeyRequest);
  update(messages.decommissionKeyUpdate, (f) => ({ kind: 'decommission', reason: f.reason, actor: f.actor }) as KeyRequest);
  update(messages.resumeKeyUpdate, (f) => ({ kind: 'resume', reason: f.reason, actor: f.actor }) as KeyRequest);
  update(messages.evaluateKeyUpdate, (f) => ({ kind: 'evaluate', actor: f.actor }) as KeyRequest);
  update(messages.raiseMinDecryptionUpdate, (f) => ({ kind: 'raise-min-decryption', version: f.version, reason: f.reason, actor: f.actor }) as KeyRequest);
  setHandler(messages.extendGracePeriodSignal, (request) => {
    // A signal cannot answer: a bad one is recorded as refused, without the text that made it bad.
    const problem = checkRequest(extend(fieldsOf(request)), m.key.policy);
    if (problem) m = machine.noteRefusedSignal(m, 'extendGracePeriod', problem);
    else submit(extend(fieldsOf(request)), false);
    woken = true;
  });
  setHandler(messages.reevaluateKeySignal, () => {
    m = { ...m, evaluateSoon: true };
    woken = true;
  });

  function publish(): void {
    const phase = machine.phaseForWebUi(m);
    const active = activeVersion(m.key);
    const attributes = `${phase}/${active?.version ?? 'none'}`;
    if (attributes !== published) {
      upsertSearchAttributes([
        { key: messages.keyNameSearchAttribute, value: m.key.name },
        { key: messages.keyPhaseSearchAttribute, value: phase },
        { key: messages.activeVersionSearchAttribute, value: active ? `v${active.version}` : 'none' },
      ]);
      published = attributes;
    }
    setCurrentDetails(machine.describeForWebUi(m));
  }

  /** Sleeps until `until` (with a summary for the Web UI) or until a message wakes the workflow. */
  async function waitUntil(until: number | null, what: string): Promise<void> {
    if (until === null) return void (await condition(() => woken));
    const ms = until - Date.now();
    if (ms <= 0) return;
    const scope = new CancellationScope();
    const timer = scope.run(() => sleep(ms, { summary: what }));
    await Promise.race([timer.catch(() => undefined), condition(() => woken)]);
    scope.cancel();
  }

  let defectJustHeld = false;
  for (;;) {
    woken = false;
    const before = m;
    let decision: machine.Decision;
    try {
      decision = machine.decide(m, Date.now(), {
        continueAsNewSuggested: workflowInfo().continueAsNewSuggested,
        freshRunBeforeNewWork: () => patched(FRESH_RUN_BEFORE_NEW_WORK),
        freshRunWhileWaiting: () => patched(FRESH_RUN_WHILE_WAITING),
      });
      defectJustHeld = false;
    } catch (error) {
      // A defect in the lifecycle code holds the key; it never fails the workflow or its task.
      m = machine.holdOnDefect(m, error, Date.now());
      if (defectJustHeld) await condition(() => woken);
      defectJustHeld = true;
      continue;
    }
    m = decision.machine;
    const { step } = decision;
    publish();
    if (step.kind === 'finish' || step.kind === 'continue-as-new') {
      // Handlers collect their answers first. A request that arrives meanwhile is this run's to answer: decide again
      // (waiting for every handler would wait for that one too, which only the loop can answer).
      await condition(() => woken || allHandlersFinished());
      if (woken) continue;
      if (step.kind === 'finish') return { name: m.key.name, phase: m.key.phase };
      // The fresh run gets the task timeout a key's workflow starts with, runs started before it was set included.
      return makeContinueAsNewFunc<typeof keyLifecycleWorkflow>({ workflowTaskTimeout: KEY_WORKFLOW_TASK_TIMEOUT_MS })({ state: m.key, machine: { ...m, freshRunDue: false } });
    }
    const outcome = await runStep(step, waitUntil);
    try {
      m = machine.apply(m, step, outcome, Date.now(), { noNodeBackoff: () => patched(NO_NODE_BACKOFF) });
    } catch (error) {
      m = machine.holdOnDefect(m, error, Date.now());
    }
    if (!outcome.ok && step.kind === 'call' && step.call.activity === 'raiseKeyAlert') log.warn('an alert could not be raised', { key: m.key.name, why: outcome.message });
    const waitingWas = before.waiting ? describeWaiting(before.waiting) : null;
    const waitingNow = m.waiting ? describeWaiting(m.waiting) : null;
    if (waitingWas !== waitingNow) log.info(waitingNow ? `key ${m.key.name} waits for ${waitingNow}` : `key ${m.key.name} no longer waits (since ${before.waiting?.since ?? '?'} for ${waitingWas ?? '?'})`);
    if (!before.held && m.held) log.warn(`key ${m.key.name} is held at "${m.held.step}": ${m.held.reason}`);
  }
}
