/**
 * How long Temporal waits for a heartbeat of a running step before it counts the attempt's worker as dead and retries
 * the step (the activities heartbeat every 2 s, activities/heartbeat.ts). A few heartbeats wide, so that a loaded
 * machine does not lose live attempts; short, so that a killed worker's attempt is retried within seconds rather than
 * after its whole start-to-close timeout, which stays the bound of a live attempt. The lifecycle's steps and the key
 * map sync's node and control activities use it; the entropy harvest, whose SP 800-22 battery holds the event loop for
 * a few seconds, has a wider one of its own.
 */
export const STEP_HEARTBEAT_TIMEOUT_MS = 10_000;
