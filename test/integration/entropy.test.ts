import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { callApiAs, startTestSystem, testConfig, tokenFor, uniqueName } from '../support/system';

interface SourceReport {
  name: string;
  state: string;
  assessment: { minEntropy: number; estimators: unknown[] } | null;
  lastHealth: { verdict: string; failedAt: number | null } | null;
}
interface NodeReport {
  nodeId: string;
  at: string;
  healthy: boolean;
  snapshot: { creditedBits: number; drbg: { instantiated: boolean; reseeds: number }; battery: { passed: number; failed: string[] } | null };
  sources: SourceReport[];
}

/** Small assessments so the suite stays quick (the default is 1,000,000 samples per source); the battery keeps its default 1,000,000 bits. */
const smallHarvests = { KEYROTOR_ENTROPY_ASSESSMENT_SAMPLES: '20000', KEYROTOR_ENTROPY_SAMPLES: '8192', KEYROTOR_ENTROPY_MINIMUM_BITS: '512' };

describe('entropy harvesting on the real stack', () => {
  let system: RunningSystem;
  let reader: string;
  let operator: string;
  let deviceFile: string;

  const api = (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>, token = operator) => callApiAs(system, token, method, url, payload);
  const reports = async (): Promise<NodeReport[]> => (await api('GET', '/entropy', undefined, reader)).body.nodes as NodeReport[];
  const harvestNow = (nodeId: string) =>
    system.client.workflow.execute('entropyHarvestWorkflow', { taskQueue: system.config.temporal.controlTaskQueue, workflowId: uniqueName(`test-harvest/${nodeId}/`), args: [{ nodeId }] });

  afterEach(async () => {
    await system?.stop();
  });

  it('assesses and health-tests every source, pools and tests the output, quarantines a stuck source with an alert, and seeds key generation', async () => {
    const base = await testConfig({ env: smallHarvests });
    deviceFile = join(base.dataDir, 'noise-device');
    writeFileSync(deviceFile, randomBytes(64 * 1024));
    system = await startTestSystem({ ...base, entropy: { ...base.entropy, devicePath: deviceFile, harvestIntervalSeconds: 3600 } }, { schedules: true });
    reader = await tokenFor(system, 'auditor');
    operator = await tokenFor(system, 'operator');

    // The schedules run once at start.
    const first = await eventually(async () => {
      const nodes = await reports();
      return nodes.length === system.config.hsm.nodes.length ? nodes : undefined;
    }, 'a harvest report from every node', 120_000);
    for (const node of first) {
      expect(node.healthy).toBe(true);
      expect(node.snapshot.drbg.instantiated).toBe(true);
      expect(node.snapshot.creditedBits).toBeGreaterThanOrEqual(512);
      expect(node.snapshot.battery).toMatchObject({ bits: 1_000_000 });
      expect(node.snapshot.battery?.passed).toBeGreaterThan(150);
      const byName = new Map(node.sources.map((source) => [source.name, source]));
      for (const name of ['hsm-rng', 'hsm-timing', 'cpu-jitter', `device:${deviceFile}`]) {
        const source = byName.get(name);
        expect(source?.assessment?.estimators.length).toBeGreaterThan(10);
        expect(source?.lastHealth?.verdict).toMatch(/^(pass|alert|failure)$/);
      }
      // Timing sources drift when the machine's load changes and may fail a test; the RNG and the device may not.
      for (const name of ['hsm-rng', `device:${deviceFile}`]) expect({ name, state: byName.get(name)?.state }).toEqual({ name, state: 'healthy' });
      // The HSM RNG is a DRBG: most of 8 bits per byte (the small assessment sample lowers the bound); the OS RNG is mixed in but credited with nothing.
      expect(byName.get('hsm-rng')?.assessment?.minEntropy).toBeGreaterThan(5);
      expect(byName.get('os-rng')?.assessment).toBeNull();
    }

    // A key generated now carries the pool snapshot of the node that made it.
    expect((await api('POST', '/keys', { name: 'seeded', type: 'ec-p256' })).status).toBe(202);
    const key = await eventually(async () => {
      const detail = (await api('GET', '/keys/seeded')).body as { activeVersion: number | null; versions: Array<{ generatedOn: string; entropyProvenance: Record<string, unknown> | null }> };
      return detail.activeVersion === 1 ? detail : undefined;
    }, 'v1 of seeded');
    const version = key.versions[0]!;
    expect(version.entropyProvenance).toMatchObject({ mode: 'pool', nodeId: version.generatedOn, healthy: true, drbg: { instantiated: true } });
    expect((version.entropyProvenance?.sources as unknown[]).length).toBe(5);

    // The device gets stuck: the Repetition Count Test fails within its cut-off, the source is quarantined, an alert says so.
    writeFileSync(deviceFile, Buffer.alloc(64 * 1024, 0x5a));
    const node = system.config.hsm.nodes[0]!.id;
    await harvestNow(node);
    const stuck = (await reports()).find((report) => report.nodeId === node)!.sources.find((source) => source.name === `device:${deviceFile}`)!;
    expect(stuck.state).toBe('quarantined');
    expect(stuck.lastHealth?.verdict).toBe('failure');
    expect(stuck.lastHealth?.failedAt).toBeLessThan(64);
    const alerts = (await api('GET', '/alerts?source=entropy&state=open', undefined, reader)).body.alerts as Array<{ subject: string; message: string; severity: string }>;
    expect(alerts).toEqual(expect.arrayContaining([expect.objectContaining({ subject: `node/${node}`, severity: 'critical', message: expect.stringContaining(`entropy source device:${deviceFile} on ${node} failed its SP 800-90B health test`) })]));

    // Back to noise: the source passes again and leaves quarantine.
    writeFileSync(deviceFile, randomBytes(64 * 1024));
    await harvestNow(node);
    expect((await reports()).find((report) => report.nodeId === node)!.sources.find((source) => source.name === `device:${deviceFile}`)?.state).toBe('healthy');
  });

  it('below the pool minimum, key generation follows the key\'s policy: hold waits, hsm-only goes ahead and says so', async () => {
    const base = await testConfig({ env: { ...smallHarvests, KEYROTOR_ENTROPY_MINIMUM_BITS: '1000000000' } });
    system = await startTestSystem({ ...base, entropy: { ...base.entropy, harvestIntervalSeconds: 3600 } }, { schedules: true });
    reader = await tokenFor(system, 'auditor');
    operator = await tokenFor(system, 'operator');
    await eventually(async () => ((await reports()).length === system.config.hsm.nodes.length ? true : undefined), 'a harvest report from every node', 120_000);
    expect((await reports()).every((report) => !report.healthy)).toBe(true);

    expect((await api('POST', '/keys', { name: 'cards', type: 'ec-p256', policy: { sensitivity: 'payment-card' } })).status).toBe(202);
    expect((await api('POST', '/keys', { name: 'internal', type: 'ec-p256', policy: { sensitivity: 'internal' } })).status).toBe(202);
    const internal = await eventually(async () => {
      const detail = (await api('GET', '/keys/internal')).body as { activeVersion: number | null; versions: Array<{ entropyProvenance: Record<string, unknown> | null }> };
      return detail.activeVersion === 1 ? detail : undefined;
    }, 'v1 of internal');
    expect(internal.versions[0]?.entropyProvenance).toMatchObject({ mode: 'hsm-only', healthy: false });
    // The payment-card key waits (hold is the default for the highest sensitivity classes), says what for and since when.
    const cards = await eventually(async () => {
      const detail = (await api('GET', '/keys/cards')).body as { phase: string; activeVersion: number | null; waiting: { for: string; since: string } | null };
      return detail.waiting ? detail : undefined;
    }, 'the cards key to say what it waits for');
    expect(cards).toMatchObject({ phase: 'creating', activeVersion: null, waiting: { for: expect.stringMatching(/entropy pool holds \d+ credited bits \(minimum 1000000000\)/), since: expect.any(String) } });
    const alerts = (await api('GET', '/alerts?source=entropy&state=open', undefined, reader)).body.alerts as Array<{ message: string }>;
    expect(alerts.some((alert) => alert.message.includes('below its minimum of 1000000000'))).toBe(true);
    await system.client.workflow.getHandle('key/cards').terminate('test over');
  });

  it('a harvest that stops makes /health degraded two intervals after the last report, and the key map sync raises an alert', async () => {
    const base = await testConfig({ env: smallHarvests });
    // No schedules: harvests run only when the test asks, which is what a stalled or skipped schedule looks like.
    system = await startTestSystem({ ...base, entropy: { ...base.entropy, harvestIntervalSeconds: 10 } });
    reader = await tokenFor(system, 'auditor');
    operator = await tokenFor(system, 'operator');
    const nodeIds = system.config.hsm.nodes.map((node) => node.id);
    const [first] = nodeIds as [string];
    type Health = { status: string; entropy: Array<{ nodeId: string; status: string; lastHarvestAt: string | null; ageSeconds: number; reason: string | null }> };
    const health = async () => {
      const reply = await system.app.inject({ method: 'GET', url: '/health' });
      return { statusCode: reply.statusCode, body: reply.json<Health>() };
    };

    await Promise.all(nodeIds.map((nodeId) => harvestNow(nodeId)));
    const fresh = await health();
    expect(fresh.statusCode).toBe(200);
    expect(fresh.body.entropy.map((pool) => [pool.nodeId, pool.status])).toEqual(nodeIds.map((id) => [id, 'fresh']));

    const lastAt = Math.max(...(await reports()).map((report) => Date.parse(report.at)));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, lastAt + 21_000 - Date.now())));
    const stale = await health();
    expect(stale.statusCode).toBe(503);
    expect(stale.body.status).toBe('degraded');
    for (const pool of stale.body.entropy) {
      expect(pool).toMatchObject({ status: 'stale', lastHarvestAt: expect.any(String) });
      expect(pool.ageSeconds).toBeGreaterThan(20);
      expect(pool.reason).toContain(`entropy-harvest/${pool.nodeId}`);
    }

    expect((await api('POST', '/keymap/sync')).status).toBe(200);
    const alerts = (await api('GET', '/alerts?source=entropy&state=open', undefined, reader)).body.alerts as Array<{ subject: string; severity: string; message: string }>;
    for (const nodeId of nodeIds) {
      expect(alerts).toEqual(expect.arrayContaining([expect.objectContaining({ subject: `node/${nodeId}`, severity: 'warning', message: expect.stringContaining('its harvest is stalled or skipped') })]));
    }

    // One harvest brings that node back; the others stay stale.
    await harvestNow(first);
    const after = await health();
    expect(after.body.entropy.find((pool) => pool.nodeId === first)?.status).toBe('fresh');
    expect(after.body.entropy.filter((pool) => pool.nodeId !== first).every((pool) => pool.status === 'stale')).toBe(true);
  });
});
