import { createSeededRandom, HOURS_PER_WEEK, syntheticUsageSeries } from '../../domain/prediction';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { UsageLoadGenerator, type TargetVersion } from '../support/load-generator';
import { callApiAs, startTestSystem, testConfig, tokenFor } from '../support/system';

interface Version {
  version: number;
  kid: string;
  fingerprint: string;
  state: string;
  graceDeadline: string | null;
  lineage: { trigger: string; reason: string; evidence?: { score: number; threshold: number; components: Array<{ name: string; value: number }> } };
  verdict: { ok: boolean } | null;
}

/**
 * The prediction engine on the real stack: SoftHSM tokens, the Temporal dev server, PostgreSQL. A load generator signs
 * through PKCS#11 as an application would and reports the signatures as an HSM access log; each key's lifecycle
 * workflow evaluates it on its own schedule and rotates when a trigger fires.
 */
describe('predictive rotation', () => {
  let system: RunningSystem;
  let operator: string;
  let auditor: string;
  let load: UsageLoadGenerator;

  beforeAll(async () => {
    system = await startTestSystem(await testConfig());
    operator = await tokenFor(system, 'operator');
    auditor = await tokenFor(system, 'auditor');
    load = UsageLoadGenerator.open(system, operator);
  });

  afterAll(async () => {
    await load?.close();
    // The Temporal server is shared by every test file, and these keys evaluate themselves every few seconds: their
    // workflows must not outlive this file and run on the next file's control worker.
    await Promise.allSettled(['spiky', 'quiet', 'metered', 'watched', 'legacy'].map((name) => system.client.workflow.getHandle(`key/${name}`).terminate('test file finished')));
    await system?.stop();
  });

  const api = (method: 'GET' | 'POST', url: string, payload?: unknown, token = operator) => callApiAs(system, token, method, url, payload);
  const versions = async (name: string): Promise<Version[]> => (await api('GET', `/keys/${name}`, undefined, auditor)).body.versions as Version[];
  const target = (name: string, v: Version): TargetVersion => ({ key: name, kid: v.kid, fingerprint: v.fingerprint });

  async function createKey(name: string, policy: Record<string, unknown>): Promise<Version> {
    expect((await api('POST', '/keys', { name, type: 'ec-p256', policy: { publicationLead: '0s', ...policy } })).status).toBe(202);
    return eventually(async () => (await versions(name)).find((v) => v.state === 'active'), `${name} v1 active`);
  }

  /** Three weeks of hourly history at `level` an hour, with a daily rhythm. */
  const history = (level: number, seed: number): number[] =>
    [...syntheticUsageSeries({ startMs: Date.now() - 3 * HOURS_PER_WEEK * 3_600_000, hours: 3 * HOURS_PER_WEEK, level, dailyAmplitude: 0.3, weekendFactor: 0.8 }, createSeededRandom(seed)).counts];

  const fastEvaluation = { riskThreshold: 0.6, evaluationInterval: '2s', minRotationInterval: '1s', gracePeriod: '1h', maxGracePeriod: '2h' };

  it('rotates a key whose use spikes (trigger "risk") and leaves a quiet key alone', async () => {
    const [spikeV1, quietV1] = await Promise.all([createKey('spiky', fastEvaluation), createKey('quiet', fastEvaluation)]);
    await load.backfill(target('spiky', spikeV1), history(60, 1), 'checkout');
    // A sparse key (a few signatures an hour): an hour boundary during the test cannot turn its partial hour into a drop.
    await load.backfill(target('quiet', quietV1), history(4, 2), 'reports');
    const retrain = await api('POST', '/models/retrain');
    expect(retrain.body).toMatchObject({ trained: true, keys: 2 });

    await load.sign(target('quiet', quietV1), 2, 'reports');
    await load.sign(target('spiky', spikeV1), 400, 'checkout');

    const rotated = await eventually(async () => (await versions('spiky')).find((v) => v.version === 2), 'spiky v2', 90_000);
    expect(rotated.lineage.trigger).toBe('risk');
    expect(rotated.lineage.evidence?.score).toBeGreaterThanOrEqual(0.6);
    expect(rotated.lineage.evidence?.components.find((c) => c.name === 'anomaly')?.value).toBeGreaterThan(0.5);

    const risk = (await api('GET', '/keys/spiky/risk', undefined, auditor)).body.items as Array<{ rotate: boolean; trigger: string | null; modelVersion: string | null; forecastMethod: string }>;
    const decisive = risk.find((item) => item.rotate);
    expect(decisive).toMatchObject({ trigger: 'risk', modelVersion: (retrain.body as { modelVersion: string }).modelVersion, forecastMethod: 'combined' });
    const audit = (await api('GET', '/audit?subject=key/spiky&limit=100', undefined, auditor)).body.entries as Array<{ action: string; details: { trigger?: string } }>;
    expect(audit.some((entry) => entry.action === 'key.rotation.triggered' && entry.details.trigger === 'risk')).toBe(true);
    const usage = (await api('GET', '/keys/spiky/usage?hours=48', undefined, auditor)).body as { actual: Array<{ count: number }>; anomalies: { flagged: Array<{ direction: string; actual: number }> } | null };
    expect(usage.actual).toHaveLength(48);
    expect(usage.actual.at(-1)?.count).toBeGreaterThanOrEqual(400);

    // The quiet key is evaluated over and over (every 2 s), and never rotates. How many evaluations fit while the spiky
    // key rotates depends on the machine's load: wait for the third.
    const quietRisk = await eventually(async () => {
      const items = (await api('GET', '/keys/quiet/risk', undefined, auditor)).body.items as Array<{ rotate: boolean; score: number }>;
      return items.length >= 3 ? items : undefined;
    }, 'three evaluations of the quiet key', 60_000);
    expect(quietRisk.every((item) => !item.rotate && item.score < 0.6)).toBe(true);
    expect((await versions('quiet')).map((v) => v.version)).toEqual([1]);
    const quiet = (await api('GET', '/keys/quiet', undefined, auditor)).body as { prediction: { riskScore: number; predictedTrigger: string; predictedRotationAt: string } };
    expect(quiet.prediction).toMatchObject({ riskScore: expect.any(Number), predictedTrigger: expect.stringMatching(/^(age|risk|capacity)$/) });
    expect(Date.parse(quiet.prediction.predictedRotationAt)).toBeGreaterThan(Date.now());
  });

  it('rotates a key that approaches its capacity (trigger "capacity") before it runs through it', async () => {
    const v1 = await createKey('metered', { ...fastEvaluation, capacityLimit: 400, capacityMargin: '1d' });
    await load.sign(target('metered', v1), 150, 'batch-signer');
    const rotated = await eventually(async () => (await versions('metered')).find((v) => v.version === 2), 'metered v2', 90_000);
    expect(rotated.lineage.trigger).toBe('capacity');
    const risk = (await api('GET', '/keys/metered/risk', undefined, auditor)).body.items as Array<{ rotate: boolean; usedCount: number; capacityExhaustedAt: string | null; version: number }>;
    const decisive = risk.find((item) => item.rotate && item.version === 1);
    expect(decisive?.usedCount).toBe(150);
    expect(Date.parse(decisive?.capacityExhaustedAt as string)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('evaluates a key at once when a threat indicator reaches it, and rotates it on that risk', async () => {
    // An hour between scheduled evaluations: only the indicator can make this key look again so soon.
    await createKey('watched', { ...fastEvaluation, evaluationInterval: '1h' });
    await eventually(async () => ((await api('GET', '/keys/watched/risk', undefined, auditor)).body.items as unknown[]).length > 0 || undefined, 'the first evaluation of watched');
    const posted = await api('POST', '/threat-intel', [{ id: 'cve-watched', severity: 'critical', scope: 'key', target: 'watched', expiresAt: new Date(Date.now() + 86_400_000).toISOString(), source: 'test feed' }]);
    expect(posted.body).toMatchObject({ created: 1 });
    const rotated = await eventually(async () => (await versions('watched')).find((v) => v.version === 2), 'watched v2', 60_000);
    expect(rotated.lineage.trigger).toBe('risk');
    expect(rotated.lineage.evidence?.components.find((c) => c.name === 'threat')?.value).toBe(1);
  });

  it('extends the grace period of a version applications still sign with, and names them', async () => {
    const v1 = await createKey('legacy', { gracePeriod: '5s', maxGracePeriod: '1m' });
    expect((await api('POST', '/keys/legacy/rotate', { reason: 'planned' })).status).toBe(200);
    const retiring = (await versions('legacy')).find((v) => v.version === 1) as Version;
    const firstDeadline = Date.parse(retiring.graceDeadline as string);
    await load.sign(target('legacy', v1), 3, 'billing-legacy');

    const extended = await eventually(async () => {
      const found = (await versions('legacy')).find((v) => v.version === 1);
      return found && found.state === 'retiring' && Date.parse(found.graceDeadline as string) > firstDeadline ? found : undefined;
    }, 'the grace period of legacy v1 extended');
    expect(Date.now()).toBeGreaterThanOrEqual(firstDeadline);
    // The workflow records the extension, then raises the alert.
    const alert = await eventually(async () => {
      const alerts = (await api('GET', '/alerts?source=lifecycle&state=open', undefined, auditor)).body.alerts as Array<{ subject: string; message: string }>;
      return alerts.find((candidate) => candidate.subject === 'key/legacy');
    }, 'the alert on legacy v1', 30_000);
    expect(alert.message).toMatch(/billing-legacy still sign with v1/);

    // Once the application has moved on, the next check archives the version and the transition verifies clean.
    const archived = await eventually(async () => {
      const found = (await versions('legacy')).find((v) => v.version === 1);
      return found?.verdict ? found : undefined;
    }, 'legacy v1 archived and verified', 60_000);
    expect(archived.state).toBe('archived');
    expect(archived.verdict?.ok).toBe(true);
    expect(Date.parse(extended.graceDeadline as string)).toBeGreaterThan(firstDeadline);
  });
});
