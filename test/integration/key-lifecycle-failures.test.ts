import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { startTemporalDevServer, type DevServerHandle } from '../../adapters/temporal/dev-server';
import { readSecret } from '../../adapters/secrets';
import type { KeyrotorConfig } from '../../domain/config';
import type { RunningSystem } from '../../workers/system';
import { startLongRunning, type LongRunning } from '../support/cli';
import { eventually } from '../support/eventually';
import { listTokenObjects } from '../support/pkcs11-listing';
import { freePort } from '../support/ports';
import { startTestSystem, testConfig, tokenFor } from '../support/system';

const policy = { gracePeriod: '12s', maxGracePeriod: '1m', retention: '2s', maxAge: '1h', minRotationInterval: '1s', evaluationInterval: '1m', publicationLead: '0s' };


interface Version {
  version: number;
  fingerprint: string;
  state: string;
}

function harness(getSystem: () => RunningSystem, getToken: () => string) {
  const api = async (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) => {
    const reply = await getSystem().app.inject({ method, url, headers: { authorization: `Bearer ${getToken()}` }, ...(payload ? { payload } : {}) });
    return { status: reply.statusCode, body: reply.json<Record<string, unknown>>() };
  };
  const versions = async (name: string): Promise<Version[]> => (await api('GET', `/keys/${name}`)).body.versions as Version[];
  const waitForState = (name: string, version: number, state: string) =>
    eventually(async () => ((await versions(name)).find((v) => v.version === version)?.state === state ? true : undefined), `${name} v${version} ${state}`, 90_000);
  /** Key objects per node by fingerprint, read with pkcs11-tool. */
  const census = (config: KeyrotorConfig): Map<string, Map<string, string[]>> =>
    new Map(config.hsm.nodes.map((node) => {
      const byId = new Map<string, string[]>();
      for (const object of listTokenObjects({ modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, 'pin') })) {
        if ((object.class !== 'privkey' && object.class !== 'pubkey') || object.idHex === null) continue;
        byId.set(object.idHex, [...(byId.get(object.idHex) ?? []), object.class].sort());
      }
      return [node.id, byId];
    }));
  return { api, versions, waitForState, census };
}

/**
 * A test configuration whose node `index` will run its HSM worker as a process of its own (as it would beside its
 * HSM), so that the test can freeze and kill it: the node, and how to start its worker.
 */
async function withVictimNode(index: number): Promise<{ config: KeyrotorConfig; victim: KeyrotorConfig['hsm']['nodes'][number]; startVictim: () => Promise<LongRunning> }> {
  const config = await testConfig();
  const victim = config.hsm.nodes[index]!;
  const configFile = join(config.dataDir, 'keyrotor.config.json');
  writeFileSync(configFile, JSON.stringify({ hsm: { nodes: config.hsm.nodes.map(({ id, modulePath, tokenLabel }) => ({ id, modulePath, tokenLabel })) } }));
  const workerEnv = { ...process.env, KEYROTOR_CONFIG: configFile, KEYROTOR_DATA_DIR: config.dataDir, TEMPORAL_ADDRESS: config.temporal.address, KEYROTOR_WORKER_METRICS_PORT: '0' };
  const startVictim = async (): Promise<LongRunning> => {
    const worker = startLongRunning(process.execPath, ['bin/keyrotor.js', 'worker', 'hsm', '--node', victim.id], workerEnv);
    await worker.waitFor(/running; SIGINT or SIGTERM stops it/, 60_000);
    return worker;
  };
  return { config, victim, startVictim };
}

describe('the lifecycle survives crashes', () => {
  it('a target node\'s HSM worker killed in the middle of replication: the rotation completes, one new version per node, no orphans', async () => {
    const { config, victim, startVictim } = await withVictimNode(2);
    const system = await startTestSystem(config);
    let victimWorker: LongRunning | undefined;
    try {
      // The victim node's worker runs as its own process, as it would beside its HSM.
      await system.stopHsmWorker(victim.id);
      victimWorker = await startVictim();
      const operator = await tokenFor(system, 'operator');
      const { api, versions, waitForState, census } = harness(() => system, () => operator);
      expect((await api('POST', '/keys', { name: 'crash-test', type: 'rsa-2048', policy })).status).toBe(202);
      await waitForState('crash-test', 1, 'active');

      // Freeze the victim: its outstanding poll takes the replication task, then the process dies holding it.
      process.kill(victimWorker.child.pid as number, 'SIGSTOP');
      const rotation = api('POST', '/keys/crash-test/rotate', { reason: 'crash test' });
      const replicationToVictimScheduled = async (): Promise<true | undefined> => {
        const { events } = await system.client.workflow.getHandle('key/crash-test').fetchHistory();
        const toVictim = (events ?? []).filter((event) => {
          const attributes = event.activityTaskScheduledEventAttributes;
          if (attributes?.activityType?.name !== 'importReplica' || attributes.taskQueue?.name !== `hsm.${victim.id}`) return false;
          const data = attributes.input?.payloads?.[0]?.data;
          const input = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { label?: string }) : {};
          // This rotation's replication (v2), not v1's (which may be in an earlier run of the workflow).
          return input.label?.endsWith(':v2') === true;
        });
        return toVictim.length >= 1 ? true : undefined;
      };
      await eventually(replicationToVictimScheduled, 'replication to the victim to be scheduled', 90_000);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      process.kill(victimWorker.child.pid as number, 'SIGKILL');
      await victimWorker.stop('SIGKILL', 5000);
      const midway = await versions('crash-test');
      expect(midway.find((v) => v.version === 2)?.state).toBe('pending');

      victimWorker = await startVictim();
      const rotated = await rotation;
      expect(rotated.status).toBe(200);
      expect(rotated.body.version).toBe(2);

      const all = await versions('crash-test');
      const v2 = all.find((v) => v.version === 2)!;
      const v1 = all.find((v) => v.version === 1)!;
      for (const [nodeId, objects] of census(config)) {
        expect({ nodeId, v2: objects.get(v2.fingerprint) }).toEqual({ nodeId, v2: ['privkey', 'pubkey'] });
        expect({ nodeId, v1: objects.get(v1.fingerprint) }).toEqual({ nodeId, v1: ['privkey', 'pubkey'] });
        // Nothing but the key's two versions: no half-made or duplicate objects from the retried replication.
        expect({ nodeId, ids: [...objects.keys()].sort() }).toEqual({ nodeId, ids: [v1.fingerprint, v2.fingerprint].sort() });
      }
    } finally {
      await victimWorker?.stop('SIGTERM', 15_000);
      await system.stop();
    }
  });

  it('the generating node\'s HSM worker killed inside generateKeyPair: the retry comes after the heartbeat timeout, not the 5-minute start-to-close, and adopts or replaces what the dead attempt made', async () => {
    // v1 is generated on the first node that answers its ping: the first node.
    const { config, victim, startVictim } = await withVictimNode(0);
    const system = await startTestSystem(config);
    let victimWorker: LongRunning | undefined;
    try {
      await system.stopHsmWorker(victim.id);
      victimWorker = await startVictim();
      const operator = await tokenFor(system, 'operator');
      const { api, versions, census } = harness(() => system, () => operator);
      const handle = system.client.workflow.getHandle('key/slow-generation');
      // rsa-3072: the slowest generation SoftHSM offers, so that the attempt is caught while it runs.
      expect((await api('POST', '/keys', { name: 'slow-generation', type: 'rsa-3072', policy })).status).toBe(202);

      // The run that generates: the lifecycle continues as new once v1 is active, so the latest run has no generation.
      let generatingRunId: string | undefined;
      const generationRunning = async (): Promise<true | undefined> => {
        const description = await handle.describe();
        const generating = (description.raw.pendingActivities ?? []).find((activity) => activity.activityType?.name === 'generateKeyPair');
        if (generating?.state !== temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED || generating.attempt !== 1) return undefined;
        generatingRunId = description.runId;
        return true;
      };
      await eventually(generationRunning, 'generateKeyPair to run on the victim', 90_000, 25);
      // Freeze first (the attempt can report nothing from here on), check it is still the running attempt, then kill.
      process.kill(victimWorker.child.pid as number, 'SIGSTOP');
      expect(await generationRunning()).toBe(true);
      process.kill(victimWorker.child.pid as number, 'SIGKILL');
      await victimWorker.stop('SIGKILL', 5000);
      const killedAt = Date.now();
      expect((await api('GET', '/keys/slow-generation')).body.activeVersion ?? null).toBeNull();

      await new Promise((resolve) => setTimeout(resolve, 2000));
      victimWorker = await startVictim();
      const restartedAt = Date.now();
      await eventually(async () => ((await versions('slow-generation')).find((v) => v.version === 1)?.state === 'active' ? true : undefined), 'v1 of slow-generation active', 60_000, 100);
      const activeAt = Date.now();
      const recovery = { fromKillS: (activeAt - killedAt) / 1000, fromRestartS: (activeAt - restartedAt) / 1000 };
      process.stderr.write(`[recovery] generateKeyPair killed: key active ${recovery.fromKillS.toFixed(1)} s after the kill, ${recovery.fromRestartS.toFixed(1)} s after the worker's restart\n`);
      expect(recovery.fromRestartS).toBeLessThan(30);

      // The retry was a second attempt of the same generation, on the victim.
      const { events } = await system.client.workflow.getHandle('key/slow-generation', generatingRunId).fetchHistory();
      const attempts = (events ?? []).filter((event) => event.activityTaskStartedEventAttributes && (events ?? []).some((scheduled) => scheduled.eventId?.toString() === event.activityTaskStartedEventAttributes?.scheduledEventId?.toString() && scheduled.activityTaskScheduledEventAttributes?.activityType?.name === 'generateKeyPair'));
      expect(attempts.map((event) => event.activityTaskStartedEventAttributes?.attempt)).toEqual([2]);
      const detail = (await api('GET', '/keys/slow-generation')).body as { versions: Array<{ version: number; fingerprint: string; generatedOn: string }> };
      const v1 = detail.versions.find((v) => v.version === 1)!;
      expect(v1.generatedOn).toBe(victim.id);

      // Exactly one pair of v1 on every token, and nothing else: the dead attempt's objects were adopted or replaced.
      for (const [nodeId, objects] of census(config)) {
        expect({ nodeId, ids: [...objects.entries()] }).toEqual({ nodeId, ids: [[v1.fingerprint, ['privkey', 'pubkey']]] });
      }
      // And no unnamed key object left on the victim by the dead attempt.
      const labelled = listTokenObjects({ modulePath: victim.modulePath, tokenLabel: victim.tokenLabel, pin: readSecret(victim.pin, 'pin') }).filter((object) => (object.class === 'privkey' || object.class === 'pubkey') && (object.label === 'keyrotor:slow-generation:v1' || object.idHex === null));
      expect(labelled.map((object) => object.class).sort()).toEqual(['privkey', 'pubkey']);
    } finally {
      await victimWorker?.stop('SIGTERM', 15_000);
      await system.stop();
    }
  });

  describe('with a Temporal dev server of its own', () => {
    let server: DevServerHandle;
    let serverOptions: Parameters<typeof startTemporalDevServer>[0];
    let system: RunningSystem;
    let operator: string;

    beforeAll(async () => {
      const base = await testConfig();
      serverOptions = { dataDir: join(base.dataDir, 'temporal'), port: await freePort(), uiPort: await freePort(), namespace: 'default', log: () => undefined };
      server = await startTemporalDevServer(serverOptions);
      system = await startTestSystem({ ...base, temporal: { ...base.temporal, address: server.address } });
      operator = await tokenFor(system, 'operator');
    });

    afterAll(async () => {
      await system?.stop();
      await server?.stop();
    });

    it('keeps its SQLite file in write-ahead-log mode', () => {
      // The log and its index exist beside the database only in WAL mode (SQLite's default journal leaves neither).
      expect([existsSync(join(serverOptions.dataDir, 'temporal.db-wal')), existsSync(join(serverOptions.dataDir, 'temporal.db-shm'))]).toEqual([true, true]);
    });

    it('restarting Temporal during a grace period: the timer survives and the lifecycle completes', async () => {
      const { api, waitForState } = harness(() => system, () => operator);
      expect((await api('POST', '/keys', { name: 'restart-test', type: 'ec-p256', policy })).status).toBe(202);
      await waitForState('restart-test', 1, 'active');
      expect((await api('POST', '/keys/restart-test/rotate', { reason: 'before the restart' })).status).toBe(200);

      await server.stop();
      await new Promise((resolve) => setTimeout(resolve, 2000));
      server = await startTemporalDevServer(serverOptions);

      // The grace timer was set before the restart; it fires afterwards and the lifecycle runs to the purge.
      await waitForState('restart-test', 1, 'archived');
      await waitForState('restart-test', 1, 'purged');
    });
  });
});
