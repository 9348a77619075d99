/**
 * How long Temporal waits for a heartbeat of a running step before it counts the attempt's worker as dead and retries
 * the step (the activities heartbeat every 2 s, activities/heartbeat.ts). A few heartbeats wide, so that a loaded
 * machine does not lose live attempts; short, so that a killed worker's attempt is retried within seconds rather than
 * after its whole start-to-close timeout, which stays the bound of a live attempt. The lifecycle's steps and the key
 * map sync's node and control activities use it; the entropy harvest, whose SP 800-22 battery holds the event loop for
 * a few seconds, has a wider one of its own.
 */
export const STEP_HEARTBEAT_TIMEOUT_MS = 10_000;

/**
 * How long a worker may take over one workflow task of a key's lifecycle before Temporal counts it as lost and
 * schedules it again (Temporal's default is 10 s). A worker that starts cold replays the key's run for its first task;
 * in the whole-system fault run, on the shared 2-core machine at a load average of 12, that replay took 10.4 s while the
 * restarted system started: at 10 s it timed out, and the next try came after a backoff of 10–20 s, so the key moved
 * 34–43 s after the restart instead of about 11 s. Wider than that replay, so that it completes once; not much wider,
 * because a task whose worker was killed is retried only when this runs out (from the task's start, mostly during the
 * restart itself).
 */
export const KEY_WORKFLOW_TASK_TIMEOUT_MS = 20_000;
