import {
  capacityExhaustion,
  computeRisk,
  decideRotation,
  type RiskInput,
  type RiskScore,
  type RotationDecisionInput,
  type RotationPolicy,
  type ThreatIndicator,
} from '../../../domain/prediction';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2024, 5, 1, 12);

function riskInput(change: Partial<RiskInput> = {}): RiskInput {
  return {
    nowMs: NOW,
    key: { id: 'key-1', appIds: ['payments'], sensitivity: 'internal' },
    version: { createdAtMs: NOW - 10 * DAY, usedCount: 1000 },
    policy: { maxAgeMs: 90 * DAY, capacityLimit: 11_000 },
    forecast: { cumulative: 2500, cumulativeUpper: 3000, horizon: 168, modelVersion: 'keyrotor-forest/1#0000abcd', method: 'combined' },
    anomaly: { score: 0, flagged: [] },
    ...change,
  };
}

function component(score: RiskScore, name: string): RiskScore['components'][number] {
  const found = score.components.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no component ${name}`);
  return found;
}

function threat(change: Partial<ThreatIndicator>): ThreatIndicator {
  return { severity: 0.8, scope: 'key', target: 'key-1', expiresAt: new Date(NOW + DAY).toISOString(), ...change };
}

describe('risk score', () => {
  it('explains itself: every component with its value, weight and contribution, and the model version', () => {
    const score = computeRisk(riskInput());
    expect(score.components.map((c) => c.name)).toEqual(['usage', 'anomaly', 'sensitivity', 'threat', 'age', 'unreported']);
    expect(score.modelVersion).toBe('keyrotor-forest/1#0000abcd');
    expect(score.combination).toBe('noisy-or');
    expect(score.evaluatedAt).toBe(new Date(NOW).toISOString());
    for (const c of score.components) {
      expect(c.contribution).toBeCloseTo(c.weight * c.value, 12);
      expect(c.detail.length).toBeGreaterThan(0);
    }
    const expected = 1 - score.components.reduce((survival, c) => survival * (1 - c.weight * c.value), 1);
    expect(score.score).toBeCloseTo(expected, 12);
  });

  it('measures usage pressure as forecast use against the capacity left', () => {
    expect(component(computeRisk(riskInput()), 'usage').value).toBeCloseTo(2500 / 10_000, 12);
    expect(component(computeRisk(riskInput({ version: { createdAtMs: NOW, usedCount: 11_000 } })), 'usage').value).toBe(1);
    expect(component(computeRisk(riskInput({ policy: { maxAgeMs: 90 * DAY, capacityLimit: null } })), 'usage').value).toBe(0);
  });

  it('takes the key’s sensitivity class, raised when its events carry a more sensitive class', () => {
    expect(component(computeRisk(riskInput()), 'sensitivity').value).toBe(0.2);
    expect(component(computeRisk(riskInput({ eventSensitivities: ['public', 'internal'] })), 'sensitivity').value).toBe(0.2);
    const misused = component(computeRisk(riskInput({ eventSensitivities: ['confidential', 'payment-card'] })), 'sensitivity');
    expect(misused.value).toBeCloseTo(1, 12);
    expect(misused.detail).toMatch(/payment-card/);
    const custom = computeRisk(riskInput({ config: { sensitivityWeights: { internal: 0.3, secret: 0.7 }, classMismatchPenalty: 0 }, eventSensitivities: ['secret'] }));
    expect(component(custom, 'sensitivity').value).toBe(0.7);
    expect(() => computeRisk(riskInput({ eventSensitivities: ['top-secret'] }))).toThrow(expect.objectContaining({ code: 'unknown_sensitivity_class' }));
  });

  it('counts live threat indicators for the key, its application or all keys, and ignores expired ones', () => {
    const value = (threats: ThreatIndicator[]): number => component(computeRisk(riskInput({ threats })), 'threat').value;
    expect(value([threat({})])).toBeCloseTo(0.8, 12);
    expect(value([threat({ scope: 'app', target: 'payments', severity: 0.5 })])).toBeCloseTo(0.5, 12);
    expect(value([threat({ scope: 'all', target: '*', severity: 0.3 })])).toBeCloseTo(0.3, 12);
    expect(value([threat({ target: 'key-2' }), threat({ scope: 'app', target: 'billing' })])).toBe(0);
    expect(value([threat({ expiresAt: new Date(NOW - 1).toISOString() })])).toBe(0);
    expect(value([threat({ expiresAt: new Date(NOW).toISOString() })])).toBe(0);
    // Independent indicators: 1 − (1 − 0.5)(1 − 0.5).
    expect(value([threat({ severity: 0.5 }), threat({ scope: 'all', target: '', severity: 0.5 })])).toBeCloseTo(0.75, 12);
    const expired = computeRisk(riskInput({ threats: [threat({ expiresAt: '2024-05-01T00:00:00Z' })] }));
    expect(component(expired, 'threat').detail).toMatch(/1 expired/);
    expect(() => computeRisk(riskInput({ threats: [threat({ severity: 2 })] }))).toThrow(expect.objectContaining({ code: 'invalid_threat_indicator' }));
    expect(() => computeRisk(riskInput({ threats: [threat({ expiresAt: 'soon' })] }))).toThrow(expect.objectContaining({ code: 'invalid_threat_indicator' }));
  });

  it('counts the operations an HSM access log showed beyond what the application reported, saturating, and names them', () => {
    expect(component(computeRisk(riskInput()), 'unreported')).toMatchObject({ value: 0, weight: 0.7, detail: 'no HSM access log showed use of this key' });
    const allReported = [{ app: 'billing', node: 'hsm-2', version: 3, log: '/var/log/billing.log', seen: 40, reported: 40 }];
    expect(component(computeRisk(riskInput({ observed: allReported })), 'unreported')).toMatchObject({ value: 0, detail: 'the 40 operation(s) the HSM access logs showed were all reported' });
    const observed = [
      { app: 'billing', node: 'hsm-2', version: 3, log: '/var/log/billing.log', seen: 50, reported: 0 },
      { app: 'checkout', node: 'hsm-1', version: 3, log: null, seen: 10, reported: 15 },
      { app: 'batch', node: 'hsm-1', version: 2, log: '/var/log/batch.log', seen: 7, reported: 2 },
    ];
    const unreported = component(computeRisk(riskInput({ observed })), 'unreported');
    expect(unreported.value).toBeCloseTo(55 / 60, 12);
    expect(unreported.contribution).toBeCloseTo(0.7 * (55 / 60), 12);
    expect(unreported.detail).toBe('55 operation(s) the HSM saw and no application reported (billing on hsm-2 with v3: 50 of 50 seen in /var/log/billing.log; batch on hsm-1 with v2: 5 of 7 seen in /var/log/batch.log)');
    // A stray operation weighs little: 1 / (1 + 5).
    expect(component(computeRisk(riskInput({ observed: [{ ...allReported[0]!, seen: 41 }] })), 'unreported').value).toBeCloseTo(1 / 6, 12);
  });

  it('measures age against maxAge and passes the anomaly score through', () => {
    const score = computeRisk(riskInput({ version: { createdAtMs: NOW - 45 * DAY, usedCount: 0 }, anomaly: { score: 0.7, flagged: [] } }));
    expect(component(score, 'age').value).toBeCloseTo(0.5, 12);
    expect(component(score, 'anomaly').value).toBe(0.7);
  });

  it('lets a live critical threat alone drive the risk, and takes configured weights', () => {
    const threatened = computeRisk(riskInput({ threats: [threat({ severity: 1 })] }));
    expect(threatened.score).toBeGreaterThanOrEqual(0.9);
    const muted = computeRisk(riskInput({ threats: [threat({ severity: 1 })], config: { weights: { threat: 0.2 } } }));
    expect(component(muted, 'threat').weight).toBe(0.2);
    expect(muted.score).toBeLessThan(threatened.score);
    expect(() => computeRisk(riskInput({ config: { weights: { age: 1.5 } } }))).toThrow(expect.objectContaining({ code: 'invalid_risk_weights' }));
  });
});

describe('rotation decision', () => {
  const policy: RotationPolicy = { riskThreshold: 0.8, capacityLimit: 10_000, maxAgeMs: 90 * DAY, minRotationIntervalMs: DAY, evaluationIntervalMs: HOUR };
  /** A flat forecast of `perHour` operations (upper bound) from now on. */
  const flat = (perHour: number): RotationDecisionInput['forecast'] => ({ startAt: new Date(NOW).toISOString(), upper: new Array<number>(168).fill(perHour) });
  const quietRisk = (score = 0.1): RotationDecisionInput['risk'] => ({
    score,
    components: [
      { name: 'anomaly', value: score / 0.6, weight: 0.6, contribution: score, detail: '' },
      { name: 'age', value: 0, weight: 0.4, contribution: 0, detail: '' },
    ],
  });
  const decide = (change: Partial<RotationDecisionInput> = {}): ReturnType<typeof decideRotation> =>
    decideRotation({ nowMs: NOW, policy, version: { createdAtMs: NOW - 10 * DAY, usedCount: 1000 }, forecast: flat(1), risk: quietRisk(), ...change });

  it('does not rotate a quiet key, and foresees rotation at maxAge', () => {
    const decision = decide();
    expect(decision).toMatchObject({ rotate: false, trigger: null, heldTrigger: null });
    expect(decision.predictedRotationAt).toBe(new Date(NOW + 80 * DAY).toISOString());
    expect(Date.parse(decision.nextEvaluationAt) - NOW).toBeLessThanOrEqual(HOUR);
    expect(Date.parse(decision.nextEvaluationAt)).toBeGreaterThan(NOW);
  });

  it('rotates on risk at the threshold', () => {
    const decision = decide({ risk: quietRisk(0.85) });
    expect(decision).toMatchObject({ rotate: true, trigger: 'risk', predictedRotationAt: new Date(NOW).toISOString() });
    expect(decision.reason).toMatch(/risk 0\.850/);
  });

  it('rotates on age at maxAge', () => {
    expect(decide({ version: { createdAtMs: NOW - 90 * DAY, usedCount: 0 } })).toMatchObject({ rotate: true, trigger: 'age' });
    expect(decide({ version: { createdAtMs: NOW - 90 * DAY + HOUR, usedCount: 0 } })).toMatchObject({ rotate: false });
  });

  it('rotates on capacity when the forecast exhausts it before the next evaluation plus the safety margin', () => {
    // 100 left at 60 an hour: gone in 1 h 40 min, inside one interval (1 h) plus the margin (1 h).
    const soon = decide({ version: { createdAtMs: NOW - 10 * DAY, usedCount: 9900 }, forecast: flat(60) });
    expect(soon).toMatchObject({ rotate: true, trigger: 'capacity' });
    expect(soon.capacityExhaustedAt).toBe(new Date(NOW + (100 / 60) * HOUR).toISOString());
    // 100 left at 40 an hour: 2 h 30 min, past the margin; the next evaluation comes before the trigger would fire.
    const later = decide({ version: { createdAtMs: NOW - 10 * DAY, usedCount: 9900 }, forecast: flat(40) });
    expect(later).toMatchObject({ rotate: false, trigger: null });
    expect(later.predictedRotationAt).toBe(new Date(NOW + 2.5 * HOUR - 2 * HOUR).toISOString());
    expect(Date.parse(later.nextEvaluationAt)).toBeLessThanOrEqual(NOW + 0.5 * HOUR);
    // A longer margin makes the same forecast a trigger.
    expect(decide({ policy: { ...policy, capacitySafetyMarginMs: 2 * HOUR }, version: { createdAtMs: NOW - 10 * DAY, usedCount: 9900 }, forecast: flat(40) })).toMatchObject({
      rotate: true,
      trigger: 'capacity',
    });
    expect(decide({ version: { createdAtMs: NOW - 10 * DAY, usedCount: 10_000 }, forecast: flat(0) })).toMatchObject({ rotate: true, trigger: 'capacity' });
  });

  it('never rotates sooner than minRotationInterval, whatever fired', () => {
    const young = { createdAtMs: NOW - 2 * HOUR, usedCount: 10_000 };
    const decision = decide({ version: young, risk: quietRisk(0.95) });
    expect(decision).toMatchObject({ rotate: false, trigger: null, heldTrigger: 'capacity' });
    expect(decision.predictedRotationAt).toBe(new Date(NOW + 22 * HOUR).toISOString());
    expect(decision.nextEvaluationAt).toBe(new Date(NOW + 22 * HOUR).toISOString());
    expect(decision.reason).toMatch(/minRotationInterval/);
    expect(decide({ version: { createdAtMs: NOW - 2 * HOUR, usedCount: 0 }, risk: quietRisk(0.95) })).toMatchObject({ rotate: false, heldTrigger: 'risk' });
  });

  it('evaluates sooner as the risk rises', () => {
    const next = (score: number): number => Date.parse(decide({ risk: quietRisk(score) }).nextEvaluationAt) - NOW;
    expect(next(0)).toBe(HOUR);
    expect(next(0.4)).toBeLessThan(next(0.1));
    expect(next(0.7)).toBeLessThan(next(0.4));
    expect(next(0.79)).toBeGreaterThanOrEqual(0.1 * HOUR);
  });

  it('projects when rising age alone takes the risk to the threshold', () => {
    // The anomaly holds the risk at 0.6; with a threshold of 0.7, age (weight 0.4) must reach a:
    // 1 − 0.4 (1 − 0.4 a) = 0.7 → a = 0.625, that is 56.25 of 90 days, 46.25 days from now.
    const risk: RotationDecisionInput['risk'] = {
      score: 1 - 0.4 * (1 - (0.4 * 10) / 90),
      components: [
        { name: 'anomaly', value: 1, weight: 0.6, contribution: 0.6, detail: '' },
        { name: 'age', value: 10 / 90, weight: 0.4, contribution: (0.4 * 10) / 90, detail: '' },
      ],
    };
    const decision = decide({ risk, policy: { ...policy, riskThreshold: 0.7 } });
    expect(Date.parse(decision.predictedRotationAt)).toBeCloseTo(NOW + 46.25 * DAY, -1);
    expect(decision.reason).toMatch(/risk, with age growing, reaches the threshold/);
    // Out of reach: even at full age the risk stays below 0.8, so maxAge is what is foreseen.
    expect(decide({ risk }).predictedRotationAt).toBe(new Date(NOW + 80 * DAY).toISOString());
  });

  it('reads capacity exhaustion off the forecast, and past it at the average rate', () => {
    const start = new Date(NOW).toISOString();
    expect(capacityExhaustion(15, { startAt: start, upper: [10, 10] })).toBe(NOW + 1.5 * HOUR);
    expect(capacityExhaustion(40, { startAt: start, upper: [10, 10] })).toBe(NOW + 4 * HOUR);
    expect(capacityExhaustion(40, { startAt: start, upper: [0, 0] })).toBeNull();
  });

  it('refuses a policy that cannot work', () => {
    expect(() => decide({ policy: { ...policy, riskThreshold: 0 } })).toThrow(expect.objectContaining({ code: 'invalid_policy' }));
    expect(() => decide({ policy: { ...policy, evaluationIntervalMs: 0 } })).toThrow(expect.objectContaining({ code: 'invalid_policy' }));
  });
});
