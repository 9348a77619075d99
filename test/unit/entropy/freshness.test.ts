import { harvestFreshness } from '../../../domain/entropy/freshness';

describe('harvestFreshness: a pool is stale once its newest harvest is older than two intervals', () => {
  const nowMs = Date.parse('2026-12-06T12:00:00Z');
  const base = { nodeId: 'hsm-2', harvestIntervalSeconds: 300, watchedSinceMs: nowMs - 3_600_000, nowMs };
  const ago = (seconds: number): string => new Date(nowMs - seconds * 1000).toISOString();

  it('is fresh up to two intervals, stale one second after, and says why and what to look at', () => {
    expect(harvestFreshness({ ...base, lastHarvestAt: ago(301) })).toEqual({ nodeId: 'hsm-2', status: 'fresh', lastHarvestAt: ago(301), ageSeconds: 301, reason: null });
    expect(harvestFreshness({ ...base, lastHarvestAt: ago(600) }).status).toBe('fresh');
    const stale = harvestFreshness({ ...base, lastHarvestAt: ago(601) });
    expect(stale).toMatchObject({ status: 'stale', ageSeconds: 601 });
    expect(stale.reason).toContain('hsm-2 last reported a harvest 601 s ago');
    expect(stale.reason).toContain('entropy-harvest/hsm-2');
  });

  it('a node that never reported counts from when watching began, so a first, slow harvest is not stale at once', () => {
    expect(harvestFreshness({ ...base, lastHarvestAt: null, watchedSinceMs: nowMs - 599_000 })).toMatchObject({ status: 'fresh', ageSeconds: 599, lastHarvestAt: null });
    const never = harvestFreshness({ ...base, lastHarvestAt: null, watchedSinceMs: nowMs - 601_000 });
    expect(never.status).toBe('stale');
    expect(never.reason).toContain('has not reported a harvest in the 601 s');
  });

  it('a report from the future (clock skew between hosts) is fresh, with age 0', () => {
    expect(harvestFreshness({ ...base, lastHarvestAt: new Date(nowMs + 5000).toISOString() })).toMatchObject({ status: 'fresh', ageSeconds: 0 });
  });
});
