import { temporal } from '@temporalio/proto';
import { keyWorkflowId } from '../../domain/identifiers';
import { eventually } from '../support/eventually';
import type { FaultStack, StackProcess } from './stack';

/**
 * Catching one step of a key's lifecycle on the process that runs it, as Temporal sees it: the workflow's history
 * (long-polled, so a freeze lands before the next step is scheduled) and its pending activities (which worker took
 * an attempt, and when the step is done).
 */

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;
const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

/**
 * The lifecycle policy of the fault scenarios: grace and retention of seconds, so archive and purge come soon; no
 * publication lead (scenario jwt-load measures it), so a rotation activates as soon as it is replicated.
 */
export const SHORT_POLICY = { gracePeriod: '6s', maxGracePeriod: '1m', retention: '2s', maxAge: '1h', minRotationInterval: '1s', evaluationInterval: '1m', publicationLead: '0s' };

/** The worker identity a process polls with (workers/*-worker.ts). */
export function identityPrefix(process: StackProcess): string {
  return process === 'control' ? 'keyrotor-control@' : `keyrotor-${process.replace(':', '-')}@`;
}

/** The first input of a scheduled activity, as the workflow sent it (JSON payloads). */
export function activityInput(event: HistoryEvent): Record<string, unknown> {
  const data = event.activityTaskScheduledEventAttributes?.input?.payloads?.[0]?.data;
  return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>) : {};
}

/** Matches the scheduling of `activity` whose input passes `input`. */
export function scheduled(activity: string, input: (value: Record<string, unknown>) => boolean = () => true): (event: HistoryEvent) => boolean {
  return (event) => event.activityTaskScheduledEventAttributes?.activityType?.name === activity && input(activityInput(event));
}

/** Matches the scheduling of recordKeyEvent for `action` of `version`. */
export function recording(action: string, version: number): (event: HistoryEvent) => boolean {
  return scheduled('recordKeyEvent', (input) => {
    const event = input.event as { action?: string; details?: { version?: number } } | undefined;
    return event?.action === action && event.details?.version === version;
  });
}

/**
 * Resolves with the first event written from now on in the key's workflow (its current run and the runs it continues
 * into) that matches, as soon as the server has written it.
 */
export async function waitForEvent(stack: FaultStack, key: string, match: (event: HistoryEvent) => boolean, timeoutMs = 120_000): Promise<HistoryEvent> {
  const client = stack.temporalClient();
  const workflowId = keyWorkflowId(key);
  const deadline = Date.now() + timeoutMs;
  // Only what happens from now on: events the current run has already written do not count.
  const armed = await client.workflow.getHandle(workflowId).describe();
  let runId: string | undefined = armed.runId;
  let seenUpTo = armed.historyLength;
  let token: Uint8Array | undefined;
  while (Date.now() < deadline) {
    if (runId === undefined) {
      runId = (await client.workflow.getHandle(workflowId).describe()).runId;
      seenUpTo = 0;
      token = undefined;
    }
    const response = await client.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution: { workflowId, runId }, maximumPageSize: 1000, waitNewEvent: true, ...(token ? { nextPageToken: token } : {}) });
    const found = (response.history?.events ?? []).find((event) => Number(event.eventId ?? 0) > seenUpTo && match(event));
    if (found) return found;
    const next = response.nextPageToken;
    // No token: the run has closed (continued as new); the next round reads the run that follows it.
    if (!next || next.length === 0) runId = undefined;
    else token = next;
  }
  throw new Error(`no matching event in the history of ${workflowId} within ${timeoutMs} ms`);
}

export async function pendingActivities(stack: FaultStack, key: string): Promise<PendingActivity[]> {
  const description = await stack.temporalClient().workflow.getHandle(keyWorkflowId(key)).describe();
  return description.raw.pendingActivities ?? [];
}

/** The attempt of `activity` that `process` has taken (STARTED with its identity), if there is one now. */
export async function takenBy(stack: FaultStack, key: string, activity: string, process: StackProcess): Promise<PendingActivity | undefined> {
  return (await pendingActivities(stack, key)).find((pending) => pending.activityType?.name === activity && pending.state === STARTED && (pending.lastWorkerIdentity ?? '').startsWith(identityPrefix(process)));
}

/** How many times an event arm tries to catch a step that was over before its victim stopped. */
const EVENT_ARM_ROUNDS = 3;
/** How long an event arm waits for its step to come again after it missed it. */
const NEXT_ROUND_MS = 120_000;

/** How the victim is caught: frozen at once, frozen when an event shows up, or frozen while it runs the step. */
export type Arm = { kind: 'now' } | { kind: 'event'; match: (event: HistoryEvent) => boolean } | { kind: 'running' };

export interface KillPlan {
  key: string;
  /** The activity the victim must be running (or holding, frozen) when it dies. */
  activity: string;
  victim: StackProcess;
  arm: Arm;
  /**
   * `replace` (the default): a fresh copy of the victim is started while it is frozen, then it is killed, so the
   * recovery is the system's alone. `restart`: killed, down for `downMs`, then started again.
   */
  restart?: 'replace' | 'restart';
  /** How long the victim stays dead with `restart`. */
  downMs?: number;
}

export interface KillOutcome {
  /** Whether the victim held an attempt of the step when it died. */
  caught: boolean;
  /**
   * From the victim's return (a worker for its queue running, the dead attempt's process gone) to the key moving again:
   * a new attempt of the step started on a live worker, or the step done.
   */
  recoveryS: number;
  /**
   * From the start of the attempt that died to the step's completion: what the step's timeouts make of a crash (a
   * heartbeat timeout, or a start-to-close one for a step that does not heartbeat), whatever the machine's start-up time.
   */
  fromAttemptS: number;
  /** How Temporal ended the dead attempt (HEARTBEAT, START_TO_CLOSE, …), as the step's retry reports it. */
  deadAttemptTimeout: string | null;
  note: string;
}

/**
 * Kills `plan.victim` while it holds an attempt of `plan.activity`, brings it back and measures how long the step then
 * takes to complete. Start it before the trigger (a create, a rotation): arming must precede the step.
 */
export async function killDuringStep(stack: FaultStack, plan: KillPlan, log: (line: string) => void): Promise<KillOutcome> {
  const { key, activity, victim } = plan;
  let missed = false;
  if (plan.arm.kind === 'now') stack.freeze(victim);
  if (plan.arm.kind === 'event') {
    // Armed before its trigger, an event arm waits through every kill before its step (one key suffers them all in
    // the quick run): a control worker replaced under load took a minute, and the archive's record came over 2 minutes after
    // the arm on the clean-clone CI. The cycle's own waits bound the run; this only must not end it early.
    // A step quicker than the freeze (a risk evaluation, about 0.1 s on an idle machine, which the live control worker
    // may take at once with the task that schedules it) can be over before the victim stops: the victim goes on and
    // the next time the step comes is tried, a few times.
    // Only an arm on the step's own scheduling can tell: an arm on an earlier event freezes before the step exists. A
    // step that does not come again within NEXT_ROUND_MS (an archive's destruction comes once a rotation) stays missed.
    for (let round = 1; ; round += 1) {
      const armedBy = await waitForEvent(stack, key, plan.arm.match, round === 1 ? 600_000 : NEXT_ROUND_MS).catch((error: unknown) => {
        if (round === 1) throw error;
        return undefined;
      });
      if (armedBy === undefined) {
        missed = true;
        break;
      }
      stack.freeze(victim);
      const ownScheduling = armedBy.activityTaskScheduledEventAttributes?.activityType?.name === activity;
      const pending = (await pendingActivities(stack, key)).some((candidate) => candidate.activityType?.name === activity);
      if (!ownScheduling || pending || round === EVENT_ARM_ROUNDS) break;
      log(`${activity} of ${key} was over before ${victim} stopped (round ${round}); waiting for the next one`);
      stack.thaw(victim);
    }
  }
  let attempt: PendingActivity | undefined;
  if (missed) {
    attempt = undefined;
  } else if (plan.arm.kind === 'running') {
    // The step runs for a while (an rsa-3072 generation): freeze while it runs, then check it still does.
    await eventually(async () => (await takenBy(stack, key, activity, victim)) ?? undefined, `${activity} of ${key} running on ${victim}`, 120_000, 25);
    stack.freeze(victim);
    attempt = await takenBy(stack, key, activity, victim);
  } else {
    // A frozen worker's outstanding poll takes the task when it is scheduled; the attempt then goes nowhere.
    attempt = await eventually(async () => (await takenBy(stack, key, activity, victim)) ?? undefined, `${activity} of ${key} taken by the frozen ${victim}`, 90_000, 100).catch(() => undefined);
  }
  const caught = attempt !== undefined;
  const activityId = attempt?.activityId;
  let back: number;
  if ((plan.restart ?? 'replace') === 'replace') {
    back = await stack.replace(victim);
  } else {
    await stack.kill(victim);
    await new Promise((resolve) => setTimeout(resolve, plan.downMs ?? 2000));
    await stack.start(victim);
    back = Date.now();
  }
  if (!caught) {
    log(`${victim} did not hold ${activity} of ${key} when it died`);
    return { caught, recoveryS: 0, fromAttemptS: 0, deadAttemptTimeout: null, note: `${activity}: ${victim} held no attempt when killed` };
  }
  const startedAt = millis(attempt?.lastStartedTime) ?? back;
  // The key moves again when an attempt starts on a live worker (after `back`, the dead process is gone) or the step is done.
  let resumedAt: number | undefined;
  const seen: { timeout: string | null } = { timeout: null };
  await eventually(async () => {
    const pending = (await pendingActivities(stack, key)).find((candidate) => candidate.activityId === activityId);
    const now = Date.now();
    const timeout = pending?.lastFailure?.timeoutFailureInfo?.timeoutType;
    if (seen.timeout === null && timeout !== undefined && timeout !== null) seen.timeout = temporal.api.enums.v1.TimeoutType[timeout].replace('TIMEOUT_TYPE_', '');
    if (!pending) {
      resumedAt ??= now;
      return true;
    }
    const retried = millis(pending.lastStartedTime);
    if (resumedAt === undefined && pending.state === STARTED && retried !== undefined && retried >= back) resumedAt = retried;
    return undefined;
  }, `${activity} of ${key} to complete after ${victim} came back`, 180_000, 100);
  const done = Date.now();
  const recoveryS = ((resumedAt ?? done) - back) / 1000;
  const doneS = (done - back) / 1000;
  const fromAttemptS = (done - startedAt) / 1000;
  const deadAttemptTimeout = seen.timeout;
  const ended = deadAttemptTimeout === null ? '' : `, dead attempt ended by its ${deadAttemptTimeout} timeout`;
  log(`${activity} of ${key} killed on ${victim} (attempt ${attempt?.attempt ?? '?'}): moving again ${recoveryS.toFixed(1)} s and done ${doneS.toFixed(1)} s after ${victim} came back, ${fromAttemptS.toFixed(1)} s after the dead attempt started${ended}`);
  return { caught, recoveryS, fromAttemptS, deadAttemptTimeout, note: `${activity} on ${victim}: moving again ${recoveryS.toFixed(1)} s after its return (done ${doneS.toFixed(1)} s), done ${fromAttemptS.toFixed(1)} s after the dead attempt started${ended}` };
}

function millis(timestamp: { seconds?: unknown; nanos?: number | null } | null | undefined): number | undefined {
  if (!timestamp) return undefined;
  return Number(timestamp.seconds ?? 0) * 1000 + Math.round((timestamp.nanos ?? 0) / 1e6);
}

export interface VersionView {
  version: number;
  state: string;
  fingerprint: string;
  generatedOn: string;
}

export interface KeyView {
  name: string;
  phase: string;
  versions: VersionView[];
  held: unknown;
  waiting: unknown;
  working: string | null;
}

export async function keyView(stack: FaultStack, key: string): Promise<KeyView> {
  const { status, body } = await stack.api('GET', `/keys/${key}`);
  if (status !== 200) throw new Error(`GET /keys/${key} answered ${status}: ${JSON.stringify(body)}`);
  return body as KeyView;
}

/** Waits until version `version` of `key` is in `state`. */
export function versionState(stack: FaultStack, key: string, version: number, state: string, timeoutMs = 180_000): Promise<VersionView> {
  return eventually(async () => (await keyView(stack, key)).versions.find((v) => v.version === version && v.state === state), `v${version} of ${key} ${state}`, timeoutMs, 250);
}
