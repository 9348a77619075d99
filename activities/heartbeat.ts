import { Context } from '@temporalio/activity';

/**
 * How often a running activity tells Temporal it is alive. The workflows set a heartbeat timeout of a few of these
 * (`STEP_HEARTBEAT_TIMEOUT_MS`, domain/step-timeouts.ts), so that an attempt whose worker died is retried within seconds instead of after
 * its whole start-to-close timeout, which stays the outer bound of a live attempt.
 */
export const HEARTBEAT_EVERY_MS = 2_000;

/**
 * Makes an activity heartbeat every `everyMs` while it runs. The work must leave the event loop free (async PKCS#11
 * calls, child processes, collection in chunks): a timer cannot fire while the loop is blocked. No heartbeat at the
 * start: Temporal counts the heartbeat timeout from the attempt's start, so one then tells it nothing, and each is a
 * write to the workflow's state on the server (a rotation's eight heartbeating steps made eight, most of them steps
 * over in well under `everyMs`). A local activity does not heartbeat (Temporal has no attempt to record it on).
 */
export function withHeartbeat<I, R>(activity: (input: I) => Promise<R>, everyMs = HEARTBEAT_EVERY_MS): (input: I) => Promise<R> {
  return async (input: I) => {
    const context = Context.current();
    if (context.info.isLocal) return activity(input);
    const timer = setInterval(() => context.heartbeat(), everyMs);
    try {
      return await activity(input);
    } finally {
      clearInterval(timer);
    }
  };
}

/** `withHeartbeat` for every activity of an object: used where every activity of a queue gets a heartbeat timeout. */
export function withHeartbeats<T extends Record<string, (input: never) => Promise<unknown>>>(activities: T, everyMs = HEARTBEAT_EVERY_MS): T {
  return Object.fromEntries(Object.entries(activities).map(([name, activity]) => [name, withHeartbeat(activity, everyMs)])) as T;
}
