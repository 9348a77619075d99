import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { keyWorkflowId } from '../domain/identifiers';

// Where a rotation's time goes, read from the Temporal history of the key's workflow: from the API's call to the
// Update's completion, each stretch of time is given to what the workflow waited for then.

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const EventType = {
  WFT_SCHEDULED: 5, WFT_STARTED: 6, WFT_COMPLETED: 7, WFT_TIMED_OUT: 8, WFT_FAILED: 9,
  ACT_SCHEDULED: 10, ACT_STARTED: 11, ACT_COMPLETED: 12, ACT_FAILED: 13, ACT_TIMED_OUT: 14, ACT_CANCEL_REQUESTED: 15, ACT_CANCELED: 16,
  UPDATE_ACCEPTED: 41, UPDATE_COMPLETED: 43,
} as const;

const msOf = (event: HistoryEvent): number => {
  const time = event.eventTime;
  if (!time) return 0;
  return Number(time.seconds ?? 0) * 1000 + Math.floor((time.nanos ?? 0) / 1e6);
};

/** One rotation's time by what it waited for, in ms; `total` is from the API's call to the Update's completion. */
export type Breakdown = Map<string, number>;

/**
 * Finds the run of the key's workflow that answered the rotation the API started at `calledAt`, and splits the time from
 * then to the Update's completion: before the Update was accepted; a workflow task queued or running; each activity type
 * queued (waiting for a worker slot) or running (parallel calls of one step count once, as the step waits for the last).
 */
export async function rotationBreakdown(client: Client, name: string, calledAt: number): Promise<Breakdown | null> {
  const workflowId = keyWorkflowId(name);
  for await (const execution of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const history = await client.workflow.getHandle(workflowId, execution.runId).fetchHistory();
    const events = history.events ?? [];
    const accepted = events.find((e) => Number(e.eventType) === EventType.UPDATE_ACCEPTED && msOf(e) >= calledAt - 50
      && e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'rotateKey');
    if (!accepted) continue;
    const completed = events.find((e) => Number(e.eventType) === EventType.UPDATE_COMPLETED && Number(e.eventId) > Number(accepted.eventId));
    if (!completed) return null;
    return split(events.filter((e) => Number(e.eventId) >= Number(accepted.eventId) && Number(e.eventId) <= Number(completed.eventId)), calledAt, msOf(accepted));
  }
  return null;
}

function split(events: HistoryEvent[], calledAt: number, acceptedAt: number): Breakdown {
  const spent: Breakdown = new Map([['API call to Update accepted', Math.max(0, acceptedAt - calledAt)]]);
  const add = (what: string, ms: number): void => void spent.set(what, (spent.get(what) ?? 0) + ms);
  let wft: 'queued' | 'running' | null = null;
  const activities = new Map<number, { type: string; started: boolean }>();
  for (let i = 0; i < events.length - 1; i += 1) {
    const event = events[i] as HistoryEvent;
    const type = Number(event.eventType);
    if (type === EventType.WFT_SCHEDULED) wft = 'queued';
    else if (type === EventType.WFT_STARTED) wft = 'running';
    else if (type === EventType.WFT_COMPLETED || type === EventType.WFT_FAILED || type === EventType.WFT_TIMED_OUT) wft = null;
    else if (type === EventType.ACT_SCHEDULED) activities.set(Number(event.eventId), { type: event.activityTaskScheduledEventAttributes?.activityType?.name ?? '?', started: false });
    else if (type === EventType.ACT_STARTED) {
      const activity = activities.get(Number(event.activityTaskStartedEventAttributes?.scheduledEventId));
      if (activity) activity.started = true;
    } else if (type >= EventType.ACT_COMPLETED && type <= EventType.ACT_CANCELED && type !== EventType.ACT_CANCEL_REQUESTED) {
      const attributes = event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes ?? event.activityTaskCanceledEventAttributes;
      activities.delete(Number(attributes?.scheduledEventId));
    }
    const ms = msOf(events[i + 1] as HistoryEvent) - msOf(event);
    if (wft) add(`workflow task ${wft}`, ms);
    else if (activities.size > 0) {
      const open = [...activities.values()];
      const queued = open.some((a) => !a.started);
      add(`${open[0]?.type ?? '?'} ${queued ? 'queued' : 'running'}`, ms);
    } else add('between events', ms);
  }
  return spent;
}

/** The mean of each part over the rotations, in ms, largest first. */
export function meanBreakdown(breakdowns: Breakdown[]): Array<{ part: string; meanMs: number }> {
  const sums = new Map<string, number>();
  for (const breakdown of breakdowns) for (const [part, ms] of breakdown) sums.set(part, (sums.get(part) ?? 0) + ms);
  return [...sums].map(([part, ms]) => ({ part, meanMs: Math.round(ms / breakdowns.length) })).sort((a, b) => b.meanMs - a.meanMs);
}
