import { STEP_HEARTBEAT_TIMEOUT_MS } from '../step-timeouts';

/**
 * A step that must run on one node (generate there, replicate to it, its share of an archive or purge) waits for that
 * node's HSM worker: the cluster must not go on without it. The wait must be visible on the key and reported, so each
 * try of such a step has a schedule-to-start timeout: a try that no worker took in time says which node is away, the
 * key shows `waiting: { for: 'nodes', ... }`, and the step is tried again (every HSM step is idempotent). A worker that
 * comes back takes the pending try at once; the timeouts only decide when the key says it waits and how often a long
 * absence schedules the step again.
 */

/** A first try untaken this long means the node's worker is away (a live worker takes a task within a second or two). */
export const NODE_AWAY_AFTER_MS = STEP_HEARTBEAT_TIMEOUT_MS;
/** A key that has waited this long for a node raises an alert: no key waits with nobody told. */
export const NODE_WAIT_ALERT_AFTER_MS = 2 * STEP_HEARTBEAT_TIMEOUT_MS;
/** Each later try, once the wait is known and reported, waits this long for the node: it bounds the history a long absence writes. */
export const NODE_WAIT_RETRY_MS = 5 * 60_000;
/** The shortest try: a wait whose alert is almost due still gives the worker a moment. */
const MIN_TRY_MS = 1_000;

/** `waiting.for` of a key whose step waits for nodes. */
export const WAITING_FOR_NODES = 'nodes';

/** What a key waits for, and since when. A wait for nodes also names them, the step, and when it was reported. */
export interface Waiting {
  for: string;
  since: string;
  /** The nodes whose workers did not take the step (a wait for nodes only). */
  nodes?: string[];
  /** The step that waits for them, as the Web UI's activity summary names it. */
  step?: string;
  /** When the wait was reported by an alert, once it outlasted NODE_WAIT_ALERT_AFTER_MS. */
  alertedAt?: string | null;
}

/** How long the next try of a step on a node waits for a worker to take it. */
export function nodeTryTimeoutMs(waiting: Waiting | null, nowMs: number): number {
  if (waiting?.for !== WAITING_FOR_NODES) return NODE_AWAY_AFTER_MS;
  if (waiting.alertedAt) return NODE_WAIT_RETRY_MS;
  // The next try ends when the alert is due, so the report does not wait for a long try.
  return Math.max(MIN_TRY_MS, Date.parse(waiting.since) + NODE_WAIT_ALERT_AFTER_MS - nowMs);
}

/**
 * The wait after a try of `step` found `nodes` away. It counts from when the first untaken try was scheduled (`triedMs`
 * before now), carries on a wait already known for the same step, and says whether the alert is due now.
 */
export function waitForNodes(previous: Waiting | null, input: { nodes: string[]; step: string; triedMs: number; nowMs: number }): { waiting: Waiting; alertDue: boolean } {
  const known = previous?.for === WAITING_FOR_NODES && previous.step === input.step ? previous : null;
  const since = known?.since ?? new Date(input.nowMs - input.triedMs).toISOString();
  const alertDue = !known?.alertedAt && input.nowMs - Date.parse(since) >= NODE_WAIT_ALERT_AFTER_MS;
  const alertedAt = alertDue ? new Date(input.nowMs).toISOString() : (known?.alertedAt ?? null);
  return { waiting: { for: WAITING_FOR_NODES, nodes: [...input.nodes].sort(), step: input.step, since, alertedAt }, alertDue };
}

/** The wait in words, for the CLI, logs and alerts: "hsm-3 (replicate v4 to hsm-2, hsm-3)" or what it waits for. */
export function describeWaiting(waiting: Waiting): string {
  if (waiting.for === WAITING_FOR_NODES && waiting.nodes) return `${waiting.nodes.join(', ')} (${waiting.step ?? 'a step'})`;
  return waiting.for;
}
