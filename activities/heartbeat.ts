import { Context } from '@temporalio/activity';

/**
 * How often a running activity tells Temporal it is alive. The workflows set a heartbeat timeout of a few of these
 * (`STEP_HEARTBEAT_TIMEOUT_MS`, domain/step-timeouts.ts), so that an attempt whose worker died is retried within seconds instead of after
 * its whole start-to-close timeout, which stays the outer bound of a live attempt.
 */
export const HEARTBEAT_EVERY_MS = 2_000;

/**
 * Makes an activity heartbeat at once and then every `everyMs` while it runs. The work must leave the event loop
 * free (async PKCS#11 calls, child processes, collection in chunks): a timer cannot fire while the loop is blocked.
 */
export function withHeartbeat<I, R>(activity: (input: I) => Promise<R>, everyMs = HEARTBEAT_EVERY_MS): (input: I) => Promise<R> {
  return async (input: I) => {
    const context = Context.current();
    context.heartbeat();
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
