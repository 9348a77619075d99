/**
 * Whether a node's entropy pool is being kept up. A harvest that stalls (its worker died inside it) or is skipped (the
 * schedule skips a run while one is still open) leaves no trace but the age of the newest report, so age is the rule:
 * older than two harvest intervals is stale. One interval late is normal jitter; two missed runs are not.
 */
export interface HarvestFreshnessInput {
  nodeId: string;
  /** When the node's newest harvest report was made, or null when it never reported. */
  lastHarvestAt: string | null;
  harvestIntervalSeconds: number;
  /** Since when someone has been watching: a node that never reported is stale only two intervals after this. */
  watchedSinceMs: number;
  nowMs: number;
}

export interface HarvestFreshness {
  nodeId: string;
  status: 'fresh' | 'stale';
  lastHarvestAt: string | null;
  /** Seconds since the newest report (or since watching began, when there is none). */
  ageSeconds: number;
  /** Why the pool is stale, in words an operator acts on; null when fresh. */
  reason: string | null;
}

export const STALE_AFTER_INTERVALS = 2;

export function harvestFreshness(input: HarvestFreshnessInput): HarvestFreshness {
  const sinceMs = input.lastHarvestAt === null ? input.watchedSinceMs : Date.parse(input.lastHarvestAt);
  const ageSeconds = Math.max(0, Math.floor((input.nowMs - sinceMs) / 1000));
  const limitSeconds = STALE_AFTER_INTERVALS * input.harvestIntervalSeconds;
  if (ageSeconds <= limitSeconds) return { nodeId: input.nodeId, status: 'fresh', lastHarvestAt: input.lastHarvestAt, ageSeconds, reason: null };
  const what = input.lastHarvestAt === null ? `has not reported a harvest in the ${ageSeconds} s since it was first watched` : `last reported a harvest ${ageSeconds} s ago (${input.lastHarvestAt})`;
  return {
    nodeId: input.nodeId,
    status: 'stale',
    lastHarvestAt: input.lastHarvestAt,
    ageSeconds,
    reason: `the entropy pool of ${input.nodeId} ${what}, more than ${STALE_AFTER_INTERVALS} harvest intervals of ${input.harvestIntervalSeconds} s: its harvest is stalled or skipped (is its HSM worker running? see the schedule entropy-harvest/${input.nodeId} in the Web UI)`,
  };
}
