import { WorkflowUpdateFailedError, WorkflowUpdateStage, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { hsmTaskQueue } from '../../../domain/identifiers';
import { newKeyState, type KeyLifecycleState } from '../../../domain/keys/lifecycle-state';
import { DEFAULT_POLICY, resolvePolicy } from '../../../domain/keys/policy';
import type { keyLifecycleWorkflow } from '../../../workflows/key-lifecycle';
import * as messages from '../../../workflows/key-messages';
import { eventually } from '../../support/eventually';
import { FakeCluster } from '../../support/lifecycle-world';
import { testWorkflowBundle } from '../../support/system';
import { createTimeSkippingEnvironment } from '../../support/time-skipping';

/**
 * The key lifecycle workflow, branch by branch, in Temporal's time-skipping environment with the in-memory cluster as its
 * activities: days of grace periods and retention pass in milliseconds. The real-stack tests show the same on SoftHSM.
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const QUEUE = 'lifecycle-time-skipping';
// No publication lead for most tests (its own test sets one): an Update does not let the test server skip time.
const policy = resolvePolicy({ gracePeriod: '1d', maxGracePeriod: '3d', retention: '7d', maxAge: '30d', minRotationInterval: '1h', evaluationInterval: '1d', publicationLead: '0s' }, DEFAULT_POLICY);

jest.setTimeout(60_000);

type Handle = WorkflowHandle<typeof keyLifecycleWorkflow>;
let seq = 0;

/**
 * A test server, the in-memory cluster and its workers, for one test. Each test gets its own: the server's
 * time-skipping lock is global and some of its bookkeeping (an Update refused by its validator, a child that outlives
 * its parent) can leave it locked for whatever runs next; apart, tests can also run side by side.
 */
async function openWorld() {
  const env: TestWorkflowEnvironment = await createTimeSkippingEnvironment();
  const cluster = new FakeCluster();
  // Evaluations answer "next one far away": only a request, a new version or a trigger starts one.
  cluster.now = () => Date.parse('2200-01-01T00:00:00Z');
  const bundle = await testWorkflowBundle();
  const workers = [await Worker.create({ connection: env.nativeConnection, taskQueue: QUEUE, workflowBundle: bundle, activities: cluster.activities(null) })];
  const running = [(workers[0] as Worker).run()];
  /** Each node's HSM worker and its run, while it runs. */
  const nodeWorkers = new Map<string, { worker: Worker; run: Promise<void> }>();
  async function startNode(node: string): Promise<void> {
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: hsmTaskQueue(node), activities: cluster.activities(node) });
    nodeWorkers.set(node, { worker, run: worker.run() });
  }
  async function stopNode(node: string): Promise<void> {
    const started = nodeWorkers.get(node);
    if (!started) return;
    nodeWorkers.delete(node);
    started.worker.shutdown();
    await started.run;
  }
  for (const node of cluster.nodeIds) await startNode(node);

  // The test server answers queries late (or not at all) while a workflow task is outstanding, so the tests watch the
  // cluster instead: the state each key records with every event, the alerts, and when the last activity ran.
  const nameOf = (handle: Handle): string => handle.workflowId.slice('key/'.length);
  const recorded = (handle: Handle) => cluster.recorded.get(nameOf(handle));
  const versionsOf = (handle: Handle) => recorded(handle)?.versions ?? [];
  const states = (handle: Handle): string => versionsOf(handle).filter((v) => v.state !== 'purged').map((v) => `v${v.version}:${v.state}`).join(' ');
  const quiet = (): boolean => cluster.isQuiet();
  const settled = async (handle: Handle, expected: string, what = expected): Promise<void> => {
    await eventually(() => (states(handle) === expected && quiet() ? true : undefined), `${what} (now: ${states(handle)})`, 30_000, 50);
  };
  const heldAlerts = (handle: Handle) => cluster.alerts.filter((a) => a.dedupKey === `key:${nameOf(handle)}:held`);
  const heldAt = async (handle: Handle, index: number) => eventually(() => heldAlerts(handle)[index], 'the key to be held', 30_000, 50);
  async function startKey(overrides: Partial<KeyLifecycleState['policy']> = {}): Promise<Handle> {
    seq += 1;
    const name = `ts-${seq}`;
    const state = newKeyState({ name, keyType: 'ec-p256', policy: resolvePolicy(overrides, policy), actor: 'alice', now: new Date(await env.currentTimeMs()).toISOString() });
    return env.client.workflow.start<typeof keyLifecycleWorkflow>('keyLifecycleWorkflow', { taskQueue: QUEUE, workflowId: `key/${name}`, args: [{ state, reason: 'time-skipping test' }] });
  }
  /** A key with v1 active and its first risk evaluation done (in the run that follows its creation's). */
  async function activeKey(overrides: Partial<KeyLifecycleState['policy']> = {}): Promise<Handle> {
    const evaluations = (): number => cluster.calls.filter((call) => call === 'evaluateKeyRisk').length;
    const before = evaluations();
    const handle = await startKey(overrides);
    await settled(handle, 'v1:active');
    await eventually(() => (evaluations() > before && quiet() ? true : undefined), 'the first evaluation of v1', 30_000, 50);
    return handle;
  }
  return {
    env, cluster, recorded, versionsOf, states, quiet, settled, heldAlerts, heldAt, startKey, activeKey,
    rotate: (handle: Handle, emergency = false) => handle.executeUpdate(messages.rotateKeyUpdate, { args: [{ reason: 'test', emergency, actor: 'alice' }] }),
    resume: (handle: Handle) => handle.executeUpdate(messages.resumeKeyUpdate, { args: [{ reason: 'fixed', actor: 'alice' }] }),
    startNode,
    stopNode,
    async close(): Promise<void> {
      for (const node of [...nodeWorkers.keys()]) await stopNode(node);
      for (const worker of workers) worker.shutdown();
      await Promise.allSettled(running);
      await env.teardown();
    },
  };
}
type World = Awaited<ReturnType<typeof openWorld>>;

async function refusal(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return error instanceof WorkflowUpdateFailedError ? (error.cause as { type?: string } | undefined)?.type : String(error);
  }
}

/** No workflow task of this key ever failed. */
async function expectNoFailedTask(handle: Handle): Promise<void> {
  const { events } = await handle.fetchHistory();
  expect((events ?? []).filter((event) => event.workflowTaskFailedEventAttributes)).toEqual([]);
}

/** A test in a world of its own; tests run side by side (jest's maxConcurrency). */
function scenario(name: string, body: (w: World) => Promise<void>, timeoutMs?: number): void {
  it.concurrent(name, async () => {
    const w = await openWorld();
    try {
      await body(w);
    } finally {
      await w.close();
    }
  }, timeoutMs);
}

describe('key lifecycle workflow (time-skipping, stub activities)', () => {
  scenario('a rotation publishes its version, keeps the old one signing for the publication lead on a timer, then activates and answers', async (w) => {
    const handle = await w.activeKey({ publicationLead: '1m' });
    const rotation = w.rotate(handle);
    await w.settled(handle, 'v1:active v2:pending', 'v2 published ahead of its activation');
    // Pending from its generation on: what this test is about is its publication.
    const pending = await eventually(() => w.versionsOf(handle)[1]?.activatesAt ? w.versionsOf(handle)[1] : undefined, 'v2 published, with its activation time', 30_000, 50);
    expect(Date.parse(pending.activatesAt as string) - Date.parse(pending.publishedAt as string)).toBe(60_000);
    await w.env.sleep(60_000 + 1000);
    await expect(rotation).resolves.toMatchObject({ version: 2, previous: { version: 1, state: 'retiring' } });
    await w.settled(handle, 'v1:retiring v2:active');
    const v2 = w.versionsOf(handle)[1]!;
    expect(Date.parse(v2.activatedAt as string) - Date.parse(v2.publishedAt as string)).toBeGreaterThanOrEqual(60_000);
    const { events } = await handle.fetchHistory();
    expect((events ?? []).filter((event) => event.timerStartedEventAttributes).length).toBeGreaterThan(0);
    await expectNoFailedTask(handle);
  });

  scenario('startRotation answers once the version is published, before its lead; the rotation goes on and activates it', async (w) => {
    const handle = await w.activeKey({ publicationLead: '1m' });
    const accepted = await handle.executeUpdate(messages.startRotationUpdate, { args: [{ reason: 'test', emergency: false, actor: 'alice' }] });
    expect(accepted).toMatchObject({ version: 2, state: 'pending', waiting: null, previous: { version: 1, state: 'active' } });
    expect(Date.parse(accepted.activatesAt as string) - Date.parse(accepted.publishedAt as string)).toBe(60_000);
    expect(await refusal(w.rotate(handle))).toBe('rotation_in_progress');
    await w.env.sleep(60_000 + 1000);
    await w.settled(handle, 'v1:retiring v2:active');
    await expectNoFailedTask(handle);
  });

  scenario('creates v1 on every node; a manual rotation retires it, then the grace period ends, it is archived, verified and purged', async (w) => {
    const handle = await w.activeKey();
    const v1 = w.versionsOf(handle)[0]!.fingerprint;
    for (const node of w.cluster.nodeIds) expect(w.cluster.fingerprintsOn(node)).toContain(v1);
    const rotated = await w.rotate(handle);
    expect(rotated).toMatchObject({ version: 2, previous: { version: 1, state: 'retiring' } });
    await w.env.sleep(DAY + HOUR);
    await w.settled(handle, 'v1:archived v2:active');
    expect(w.versionsOf(handle)[0]!.verdict?.ok).toBe(true);
    await w.env.sleep(7 * DAY + HOUR);
    await w.settled(handle, 'v2:active');
    for (const node of w.cluster.nodeIds) expect(w.cluster.fingerprintsOn(node)).not.toContain(v1);
    await expectNoFailedTask(handle);
  });

  scenario('emergency rotation from each phase: active, grace, creating and held', async (w) => {
    const active = await w.activeKey();
    expect(await w.rotate(active, true)).toMatchObject({ version: 2, signingDisabledOn: w.cluster.nodeIds });
    await w.settled(active, 'v1:archived v2:active', 'compromised v1 archived at once');

    const grace = await w.activeKey();
    await w.rotate(grace);
    expect(await w.rotate(grace, true)).toMatchObject({ version: 3 });
    await w.settled(grace, 'v1:retiring v2:archived v3:active');

    const held = await w.activeKey();
    w.cluster.failNext('wrapPrivateKey', 'CKR_DEVICE_ERROR');
    expect(await refusal(w.rotate(held))).toBe('key_held');
    expect((await w.heldAt(held, 0)).message).toMatch(/held at "wrap v2 under the cluster KEK".*CKR_DEVICE_ERROR/);
    expect(await refusal(w.rotate(held))).toBe('key_held');
    expect(await w.rotate(held, true)).toMatchObject({ version: 2, signingDisabledOn: w.cluster.nodeIds });
    await w.settled(held, 'v1:archived v2:active');

    const creating = await w.startKey();
    expect(await w.rotate(creating, true)).toMatchObject({ version: 1 });
    for (const handle of [active, grace, held, creating]) await expectNoFailedTask(handle);
  });

  scenario('rotates by itself on maxAge (trigger "age"), and on risk and capacity triggers with their evidence', async (w) => {
    const aged = await w.activeKey({ maxAge: '2d', gracePeriod: '1h', maxGracePeriod: '1h' });
    await w.env.sleep(2 * DAY + 10 * 60_000);
    await w.settled(aged, 'v1:retiring v2:active', 'an age rotation');
    expect(w.versionsOf(aged)[1]!.lineage).toMatchObject({ trigger: 'age', reason: 'maxAge 2d reached' });

    for (const trigger of ['risk', 'capacity'] as const) {
      const handle = await w.activeKey();
      // For this key only: the keys rotated before are evaluated again meanwhile (a new version is evaluated at once).
      w.cluster.evaluation = { rotate: true, trigger, score: 0.97, key: handle.workflowId.replace(/^key\//, '') };
      const prediction = await handle.executeUpdate(messages.evaluateKeyUpdate, { args: [{ actor: 'alice' }] });
      expect(prediction.score).toBe(0.97);
      await w.settled(handle, 'v1:retiring v2:active', `a ${trigger} rotation`);
      expect(w.versionsOf(handle)[1]!.lineage).toMatchObject({ trigger, evidence: { score: 0.97 } });
    }
  });

  scenario('extends a grace period within its cap and answers the applied deadline; refuses past the cap; a signal past it is recorded as refused', async (w) => {
    const handle = await w.activeKey();
    await w.rotate(handle);
    const deadline = w.versionsOf(handle)[0]!.graceDeadline as string;
    const applied = await handle.executeUpdate(messages.extendGracePeriodUpdate, { args: [{ byMs: DAY, reason: 'slow client', actor: 'alice' }] });
    expect(applied.deadline).toBe(new Date(Date.parse(deadline) + DAY).toISOString());
    expect(await refusal(handle.executeUpdate(messages.extendGracePeriodUpdate, { args: [{ byMs: 5 * DAY, reason: 'too long', actor: 'alice' }] }))).toBe('grace_cap_exceeded');
    await handle.signal(messages.extendGracePeriodSignal, { byMs: 5 * DAY, reason: 'too long', actor: 'web-ui' });
    await eventually(() => (w.cluster.events.some((e) => e.action === 'key.grace.extension_refused' && e.details.byMs === 5 * DAY) ? true : undefined), 'the refused extension recorded', 20_000, 50);
    await handle.signal(messages.extendGracePeriodSignal, { byMs: 8.64e15, reason: 'x\u0000y', actor: 'web-ui' });
    await eventually(() => (w.cluster.events.some((e) => e.action === 'key.signal.refused' && e.details.code === 'invalid_text') ? true : undefined), 'the bad signal recorded as refused', 20_000, 50);
    expect(w.versionsOf(handle)[0]!.graceDeadline).toBe(applied.deadline);
  });

  scenario('at the end of a grace period, use still reported extends it once with an alert; at the cap it archives anyway', async (w) => {
    const handle = await w.activeKey();
    await w.rotate(handle);
    w.cluster.signs.set(1, 12);
    const alertsBefore = w.cluster.alerts.length;
    await w.env.sleep(DAY + HOUR);
    await eventually(() => (w.cluster.alerts.slice(alertsBefore).some((a) => a.severity === 'warning' && a.message.includes('billing-legacy')) ? true : undefined), 'the extension with its alert', 20_000, 50);
    await w.settled(handle, 'v1:retiring v2:active');
    expect(w.cluster.events.some((e) => e.action === 'key.grace.extended' && e.details.reason === 'still in use at the end of the grace period')).toBe(true);
    await w.env.sleep(2 * DAY + HOUR);
    await w.settled(handle, 'v1:archived v2:active', 'archived at the cap');
    expect(w.cluster.alerts.slice(alertsBefore).some((a) => a.severity === 'critical' && a.message.includes('maximum grace period'))).toBe(true);
  });

  scenario('a failed verification holds the purge and is tried again until it passes; then retention purges the version', async (w) => {
    const handle = await w.activeKey();
    await w.rotate(handle);
    w.cluster.signs.set(1, 3);
    const result = await handle.executeUpdate(messages.completeGraceUpdate, { args: [{ reason: 'done', actor: 'alice' }] });
    expect(result).toMatchObject({ version: 1, state: 'archived', verdictOk: false });
    w.cluster.signs.set(1, 0);
    await w.env.sleep(11 * 60_000);
    await eventually(() => (w.versionsOf(handle)[0]?.verdict?.ok ? true : undefined), 'a clean verdict on the retry', 20_000, 50);
    await w.env.sleep(7 * DAY + HOUR);
    await w.settled(handle, 'v2:active');
  });

  scenario('decommissions from each phase: creating, active, grace and held; every version is destroyed on every node', async (w) => {
    const handles: Handle[] = [await w.startKey(), await w.activeKey()];
    const grace = await w.activeKey();
    await w.rotate(grace);
    handles.push(grace);
    const held = await w.activeKey();
    w.cluster.failNext('importReplica');
    expect(await refusal(w.rotate(held))).toBe('key_held');
    handles.push(held);
    for (const handle of handles) {
      const made = w.cluster.events.filter((e) => e.action === 'key.version.generated').length;
      // The test server forgets an Update's outcome once its workflow has closed, and the decommission answers just
      // before the workflow ends: a poll that comes after gets "update not found"; the workflow's end says the same.
      // (Awaiting result() would skip time for every key here, the held one included, until its execution timed out.)
      const answer = await handle.executeUpdate(messages.decommissionKeyUpdate, { args: [{ reason: 'retired', actor: 'alice' }] })
        .catch((error: unknown) => {
          if (error instanceof Error && error.name === 'WorkflowNotFoundError') return { destroyedVersions: [] };
          throw error;
        });
      await eventually(async () => ((await handle.describe()).status.name === 'COMPLETED' ? true : undefined), 'the decommissioned workflow to end', 30_000, 50);
      expect(w.recorded(handle)?.phase).toBe('decommissioned');
      const fingerprints = w.cluster.events.filter((e) => e.action === 'key.version.generated').map((e) => e.details.fingerprint as string);
      expect(answer.destroyedVersions.length).toBeLessThanOrEqual(made);
      const alive = new Set(handles.filter((h) => w.recorded(h)?.phase !== 'decommissioned').flatMap((h) => w.versionsOf(h).map((v) => v.fingerprint)));
      for (const node of w.cluster.nodeIds) for (const fingerprint of fingerprints.filter((f) => !alive.has(f))) expect(w.cluster.fingerprintsOn(node)).not.toContain(fingerprint);
      await expectNoFailedTask(handle);
    }
  });

  scenario('a node whose HSM worker is away: the rotation waits for it on the key, alerts past the bound, never fails, and completes once it is back', async (w) => {
    const handle = await w.activeKey();
    const name = handle.workflowId.slice('key/'.length);
    await w.stopNode('hsm-3');
    // Accepted, not awaited: a client waiting on an Update keeps the test server from skipping time.
    const rotation = await handle.startUpdate(messages.rotateKeyUpdate, { args: [{ reason: 'test', emergency: false, actor: 'alice' }], waitForStage: WorkflowUpdateStage.ACCEPTED });
    // hsm-3 answered no ping, so v2 was generated on hsm-2 (v2 takes the second node that answered); its replica on hsm-3 waits.
    const waiting = await eventually(async () => {
      const view = await handle.query(messages.keyStateQuery);
      return view.waiting?.for === 'nodes' ? view : undefined;
    }, 'the key to say it waits for hsm-3', 60_000, 200);
    expect(waiting).toMatchObject({ held: null, working: 'rotation (manual) to v2', waiting: { nodes: ['hsm-3'], step: 'replicate v2 to hsm-1, hsm-3', since: expect.any(String) } });
    const reported = await eventually(() => w.cluster.alerts.find((a) => a.dedupKey === `key:${name}:waiting`), 'the wait reported by an alert', 60_000, 200);
    expect(reported).toMatchObject({ severity: 'warning', message: expect.stringContaining('hsm-3 (replicate v2 to hsm-1, hsm-3)') });
    expect(w.states(handle)).toBe('v1:active v2:pending');

    await w.startNode('hsm-3');
    await expect(rotation.result()).resolves.toMatchObject({ version: 2, previous: { version: 1, state: 'retiring' } });
    await w.settled(handle, 'v1:retiring v2:active');
    const fingerprint = w.versionsOf(handle)[1]!.fingerprint;
    for (const node of w.cluster.nodeIds) expect(w.cluster.fingerprintsOn(node)).toContain(fingerprint);
    await eventually(async () => ((await handle.query(messages.keyStateQuery)).waiting === null ? true : undefined), 'the wait to clear', 30_000, 200);
    expect(w.cluster.alerts.filter((a) => a.dedupKey === `key:${name}:waiting`)).toHaveLength(1);
    await expectNoFailedTask(handle);
  }, 180_000);

  scenario('starts a fresh run after each rotation, carrying the state across it', async (w) => {
    const handle = await w.activeKey();
    const firstRun = (await handle.describe()).runId;
    await w.rotate(handle);
    await eventually(async () => ((await w.env.client.workflow.getHandle(handle.workflowId).describe()).runId !== firstRun ? true : undefined), 'a fresh run', 20_000, 50);
    // The fresh run goes on from the carried state: the grace period still ends and archives v1.
    await w.env.sleep(DAY + HOUR);
    await w.settled(handle, 'v1:archived v2:active');
  });

  // Every activity that can fail for good, in the step where it first runs: the key is held there, says so, and resumes.
  const activities = ['getClusterNodes', 'generateKeyPair', 'wrapPrivateKey', 'importReplica', 'recordKeyEvent', 'listSubscriptionIds', 'setSigning',
    'storeArchiveBlob', 'destroyKeyObjects', 'describeKey', 'loadArchiveBlob', 'verifyArchivedBlob', 'countSignsAfter', 'deleteArchiveBlob'];
  for (const activity of activities) scenario(`a non-retryable failure of ${activity} holds the key; resume completes the procedure`, async (w) => {
    const handle = await w.activeKey();
    w.cluster.failNext(activity, 'injected_for_test');
    // One cycle runs every activity: an emergency rotation, its archive and verification, then the purge after retention.
    await refusal(w.rotate(handle, true));
    const purgeDue = async (): Promise<void> => {
      await w.env.sleep(7 * DAY + HOUR);
    };
    await eventually(() => (w.heldAlerts(handle).length > 0 || (w.states(handle) === 'v1:archived v2:active' && w.quiet()) ? true : undefined), 'the key held, or the archive done', 20_000, 50);
    if (w.heldAlerts(handle).length === 0) await purgeDue();
    const held = await w.heldAt(handle, 0);
    expect(held.message).toContain('injected_for_test');
    expect(await refusal(w.rotate(handle))).toBe('key_held');
    expect(await w.resume(handle)).toEqual({ resumed: expect.any(String) });
    if (activity !== 'deleteArchiveBlob') {
      await w.settled(handle, 'v1:archived v2:active', `the archive after ${activity}`);
      await purgeDue();
    }
    await w.settled(handle, 'v2:active', `the purge after ${activity}`);
    await expectNoFailedTask(handle);
  });
});
