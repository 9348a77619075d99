import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { hsmTaskQueue } from '../../../domain/identifiers';
import type { EncryptionUsage } from '../../../domain/keys/encryption-usage';
import { minDecryptionVersion, newKeyState } from '../../../domain/keys/lifecycle-state';
import { DEFAULT_POLICY, resolvePolicy } from '../../../domain/keys/policy';
import type { keyLifecycleWorkflow } from '../../../workflows/key-lifecycle';
import * as messages from '../../../workflows/key-messages';
import { EncryptionCluster } from '../../support/encryption-cluster';
import { eventually } from '../../support/eventually';
import { testWorkflowBundle } from '../../support/system';
import { createTimeSkippingEnvironment } from '../../support/time-skipping';

/**
 * The real key lifecycle workflow with an aes-256 key, in Temporal's time-skipping environment, its activities answered
 * by the in-memory cluster with encryption keys on the control queue and each node's hsm.<node> queue: the usage switch
 * runs on every node's worker before the new version activates, and the grace period of the old one passes in
 * milliseconds.
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const QUEUE = 'lifecycle-encryption-time-skipping';
const policy = resolvePolicy({ gracePeriod: '1d', maxGracePeriod: '3d', retention: '7d', maxAge: '30d', minRotationInterval: '1h', evaluationInterval: '1d', publicationLead: '0s' }, DEFAULT_POLICY);
const ACTIVE: EncryptionUsage = { encrypt: true, wrap: true, decrypt: true, unwrap: true };
const DECRYPT_ONLY: EncryptionUsage = { encrypt: false, wrap: false, decrypt: true, unwrap: true };

jest.setTimeout(120_000);

describe('key lifecycle workflow with an aes-256 key (time-skipping, stub activities)', () => {
  let env: TestWorkflowEnvironment;
  let cluster: EncryptionCluster;
  const workers: Worker[] = [];
  const running: Array<Promise<void>> = [];

  beforeAll(async () => {
    env = await createTimeSkippingEnvironment();
    cluster = new EncryptionCluster();
    // Evaluations answer "next one far away": only a request or a new version starts one.
    cluster.now = () => Date.parse('2200-01-01T00:00:00Z');
    const bundle = await testWorkflowBundle();
    workers.push(await Worker.create({ connection: env.nativeConnection, taskQueue: QUEUE, workflowBundle: bundle, activities: cluster.activities(null) }));
    for (const node of cluster.nodeIds) workers.push(await Worker.create({ connection: env.nativeConnection, taskQueue: hsmTaskQueue(node), activities: cluster.activities(node) }));
    for (const worker of workers) running.push(worker.run());
  });

  afterAll(async () => {
    for (const worker of workers) worker.shutdown();
    await Promise.allSettled(running);
    await env?.teardown();
  });

  it('switches usage on every node before each activation, keeps v1 decrypt-only while v2 encrypts, and archives v1 after a grace period without decrypt use', async () => {
    const recorded = () => cluster.recorded.get('enc-1');
    const states = (): string => (recorded()?.versions ?? []).filter((v) => v.state !== 'purged').map((v) => `v${v.version}:${v.state}`).join(' ');
    const quiet = (): boolean => cluster.isQuiet();
    const settled = (expected: string) => eventually(() => (states() === expected && quiet() ? true : undefined), `${expected} (now: ${states()})`, 30_000, 50);
    const evaluations = (): number => cluster.calls.filter((call) => call === 'evaluateKeyRisk').length;

    const state = newKeyState({ name: 'enc-1', keyType: 'aes-256', policy, actor: 'alice', now: new Date(await env.currentTimeMs()).toISOString() });
    const handle = await env.client.workflow.start<typeof keyLifecycleWorkflow>('keyLifecycleWorkflow', { taskQueue: QUEUE, workflowId: 'key/enc-1', args: [{ state, reason: 'time-skipping test' }] });
    await settled('v1:active');
    await eventually(() => (evaluations() > 0 && quiet() ? true : undefined), 'the first evaluation of v1', 30_000, 50);
    const v1 = recorded()!.versions[0]!.fingerprint;
    expect(recorded()!.versions[0]!.spki).toBeNull();

    const rotated = await handle.executeUpdate(messages.rotateKeyUpdate, { args: [{ reason: 'test', emergency: false, actor: 'alice' }] });
    expect(rotated).toMatchObject({ version: 2, previous: { version: 1, state: 'retiring' } });
    await settled('v1:retiring v2:active');
    const v2 = recorded()!.versions[1]!.fingerprint;

    // Per node: v1 encrypts once created; at the rotation v2 is switched on before it activates, and v1 to
    // decrypt-only right after, so the active version encrypts throughout.
    for (const node of cluster.nodeIds) {
      const calls = cluster.callsOf('setEncryptionUsage').filter((call) => call.node === node).map((call) => [call.input.fingerprint, call.input.usage]);
      expect({ node, calls }).toEqual({ node, calls: [[v1, ACTIVE], [v2, ACTIVE], [v1, DECRYPT_ONLY]] });
    }
    const activations = [cluster.activationIndex(1), cluster.activationIndex(2)];
    const switchIndexes = cluster.log.flatMap((call, index) => (call.activity === 'setEncryptionUsage' ? [{ fingerprint: call.input.fingerprint, usage: call.input.usage, index }] : []));
    expect(switchIndexes.filter((s) => s.index < activations[0]!).map((s) => s.fingerprint)).toEqual([v1, v1, v1]);
    expect(switchIndexes.filter((s) => s.index > activations[0]! && s.index < activations[1]!).map((s) => s.fingerprint)).toEqual([v2, v2, v2]);
    expect(switchIndexes.filter((s) => s.index > activations[1]!).map((s) => [s.fingerprint, s.usage])).toEqual([[v1, DECRYPT_ONLY], [v1, DECRYPT_ONLY], [v1, DECRYPT_ONLY]]);
    expect(cluster.usageAtActivation.get(2)).toEqual(Object.fromEntries(cluster.nodeIds.map((node) => [node, { v1: ACTIVE, v2: ACTIVE }])));
    expect(minDecryptionVersion(recorded()!)).toBe(1);

    await env.sleep(DAY + HOUR);
    await settled('v1:archived v2:active');
    expect(recorded()!.versions[0]!.verdict?.ok).toBe(true);
    expect(cluster.callsOf('countSignsAfter').map((call) => call.input)).toEqual([
      { name: 'enc-1', version: 1, since: recorded()!.versions[0]!.retiringAt, operations: ['decrypt', 'unwrap'] },
      { name: 'enc-1', version: 1, since: expect.any(String), operations: ['decrypt', 'unwrap'] },
    ]);
    // One call per node, side by side: in node order here.
    expect(cluster.callsOf('destroyKeyObjects').sort((a, b) => (a.node ?? '').localeCompare(b.node ?? '')).map((call) => [call.node, call.input])).toEqual(cluster.nodeIds.map((node) => [node, { fingerprint: v1, privateKey: true, publicKey: false, secretKey: true }]));
    for (const node of cluster.nodeIds) expect(cluster.fingerprintsOn(node)).toEqual([v2]);
    expect(minDecryptionVersion(recorded()!)).toBe(2);

    // The workflow never failed a task, holds nothing, and still runs (in a later run, after continuing as new).
    expect(cluster.alerts.filter((a) => a.dedupKey === 'key:enc-1:held')).toEqual([]);
    const latest = env.client.workflow.getHandle('key/enc-1');
    expect((await latest.describe()).status.name).toBe('RUNNING');
    for (const run of [handle, latest]) {
      const { events } = await run.fetchHistory();
      expect((events ?? []).filter((event) => event.workflowTaskFailedEventAttributes || event.workflowExecutionFailedEventAttributes)).toEqual([]);
    }
  });
});
