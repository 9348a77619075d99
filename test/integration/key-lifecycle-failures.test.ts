import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTemporalDevServer, type DevServerHandle } from '../../adapters/temporal/dev-server';
import { readSecret } from '../../adapters/secrets';
import type { KeyrotorConfig } from '../../domain/config';
import type { RunningSystem } from '../../workers/system';
import { startLongRunning, type LongRunning } from '../support/cli';
import { eventually } from '../support/eventually';
import { listTokenObjects } from '../support/pkcs11-listing';
import { freePort } from '../support/ports';
import { startTestSystem, testConfig, tokenFor } from '../support/system';

const policy = { gracePeriod: '12s', maxGracePeriod: '1m', retention: '2s', maxAge: '1h', minRotationInterval: '1s', evaluationInterval: '1m' };


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

describe('the lifecycle survives crashes', () => {
  it('a target node\'s HSM worker killed in the middle of replication: the rotation completes, one new version per node, no orphans', async () => {
    const config = await testConfig();
    const victim = config.hsm.nodes[2]!;
    const configFile = join(config.dataDir, 'keyrotor.config.json');
    writeFileSync(configFile, JSON.stringify({ hsm: { nodes: config.hsm.nodes.map(({ id, modulePath, tokenLabel }) => ({ id, modulePath, tokenLabel })) } }));
    const workerEnv = { ...process.env, KEYROTOR_CONFIG: configFile, KEYROTOR_DATA_DIR: config.dataDir, TEMPORAL_ADDRESS: config.temporal.address, KEYROTOR_WORKER_METRICS_PORT: '0' };
    const startVictim = async (): Promise<LongRunning> => {
      const worker = startLongRunning(process.execPath, ['bin/keyrotor.js', 'worker', 'hsm', '--node', victim.id], workerEnv);
      await worker.waitFor(/running; SIGINT or SIGTERM stops it/, 60_000);
      return worker;
    };
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
