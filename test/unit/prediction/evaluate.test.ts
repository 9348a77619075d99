import { automaticGraceExtension, markUsageChecked, newKeyState, activate, addPendingVersion, retiringVersion } from '../../../domain/keys/lifecycle-state';
import { resolvePolicy } from '../../../domain/keys/policy';
import { createSeededRandom, detectAnomalies, evaluateKey, HOUR_MS, syntheticUsageSeries, type KeyEvaluationInput } from '../../../domain/prediction';

const NOW = Date.parse('2026-11-25T10:40:00Z');
const DAY = 86_400_000;

function input(overrides: Partial<KeyEvaluationInput>): KeyEvaluationInput {
  return {
    nowMs: NOW,
    key: { name: 'k', sensitivity: 'internal', appIds: ['billing'] },
    version: { createdAtMs: NOW - 2 * DAY, usedCount: 0 },
    policy: { riskThreshold: 0.6, capacityLimit: null, maxAgeMs: 90 * DAY, minRotationIntervalMs: 1000, evaluationIntervalMs: HOUR_MS, capacitySafetyMarginMs: DAY },
    usage: { startMs: NOW - (NOW % HOUR_MS), counts: [0] },
    eventSensitivities: [],
    threats: [],
    model: null,
    risk: {},
    anomalyWindowHours: 24,
    ...overrides,
  };
}

/** Three weeks of steady use (about 60 an hour with a daily rhythm), then the running hour with `current` so far. */
function threeWeeks(current: number): KeyEvaluationInput['usage'] {
  const hours = 21 * 24;
  const currentHour = NOW - (NOW % HOUR_MS);
  const history = syntheticUsageSeries({ startMs: currentHour - hours * HOUR_MS, hours, level: 60, dailyAmplitude: 0.3, weekendFactor: 1 }, createSeededRandom(7));
  return { startMs: history.startMs, counts: [...history.counts, current] };
}

describe('evaluateKey', () => {
  it('rotates a young key used hard before it runs through its capacity, on the rate seen so far', () => {
    const startMs = NOW - (NOW % HOUR_MS);
    const result = evaluateKey(input({
      usage: { startMs, counts: [300] },
      version: { createdAtMs: startMs, usedCount: 300 },
      policy: { ...input({}).policy, capacityLimit: 1000 },
    }));
    expect(result.forecast.method).toBe('baseline-only');
    expect(result.forecast.reason).toMatch(/rate seen so far/);
    expect(result.decision.rotate).toBe(true);
    expect(result.decision.trigger).toBe('capacity');
    expect(Date.parse(result.decision.capacityExhaustedAt as string)).toBeGreaterThan(NOW);
  });

  it('leaves an unused young key alone and predicts its rotation at maxAge', () => {
    const result = evaluateKey(input({ policy: { ...input({}).policy, capacityLimit: 1000 } }));
    expect(result.decision.rotate).toBe(false);
    expect(result.decision.predictedTrigger).toBe('age');
    expect(result.anomaly).toBeNull();
    expect(result.anomalyNote).toMatch(/more than 24 hours/);
  });

  it('flags a spike in the running hour and rotates on risk', () => {
    const result = evaluateKey(input({ usage: threeWeeks(400) }));
    expect(result.anomaly?.flagged.map((f) => f.direction)).toEqual(['spike']);
    expect(result.risk.score).toBeGreaterThanOrEqual(0.6);
    expect(result.decision).toMatchObject({ rotate: true, trigger: 'risk' });
    expect(result.risk.components.find((c) => c.name === 'anomaly')?.value).toBe(1);
  });

  it('does not read the first minutes of the running hour as a drop', () => {
    const result = evaluateKey(input({ usage: threeWeeks(3) }));
    expect(result.anomaly?.flagged).toEqual([]);
    expect(result.decision.rotate).toBe(false);
    expect(result.risk.score).toBeLessThan(0.2);
  });

  it('lets a live threat indicator for one of the key\'s applications raise the risk', () => {
    const threat = { severity: 1, scope: 'app' as const, target: 'billing', expiresAt: new Date(NOW + DAY).toISOString() };
    const result = evaluateKey(input({ usage: threeWeeks(40), threats: [threat] }));
    expect(result.risk.components.find((c) => c.name === 'threat')?.value).toBe(1);
    expect(result.decision).toMatchObject({ rotate: true, trigger: 'risk' });
  });
});

describe('detectAnomalies on a running hour', () => {
  it('judges a partial last hour for spikes only', () => {
    const usage = threeWeeks(2);
    expect(detectAnomalies(usage).flagged.at(-1)?.direction).toBe('drop');
    expect(detectAnomalies(usage, { lastHourPartial: true }).flagged).toEqual([]);
  });
});

describe('the end-of-grace usage check', () => {
  function retiringKey(gracePeriod: string, maxGracePeriod: string) {
    const policy = resolvePolicy({ gracePeriod, maxGracePeriod });
    let state = newKeyState({ name: 'k', keyType: 'ec-p256', policy, actor: 't', now: new Date(NOW).toISOString() });
    for (const version of [1, 2]) {
      state = addPendingVersion(state, { version, fingerprint: `${version}`.repeat(64), spki: 'AA', generatedOn: 'n1', lineage: { previousVersion: null, trigger: 'create', reason: 'r', actor: 't' }, now: new Date(NOW).toISOString() });
      state = activate(state, version, NOW);
    }
    return state;
  }

  it('grants one more grace period, then only what is left below the cap, then nothing', () => {
    const state = retiringKey('7d', '10d');
    expect(automaticGraceExtension(state)).toBe(3 * DAY);
    expect(automaticGraceExtension(retiringKey('5d', '30d'))).toBe(5 * DAY);
    expect(automaticGraceExtension(retiringKey('10d', '10d'))).toBe(0);
  });

  it('remembers when the use was last checked', () => {
    const state = markUsageChecked(retiringKey('7d', '10d'), 1, '2026-11-26T00:00:00.000Z');
    expect(retiringVersion(state)?.usageCheckedAt).toBe('2026-11-26T00:00:00.000Z');
  });
});
