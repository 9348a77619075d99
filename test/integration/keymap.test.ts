import { createPublicKey, verify } from 'node:crypto';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { readSecret } from '../../adapters/secrets';
import { ensureKeymapSyncSchedule } from '../../adapters/temporal/schedules';
import { canonicalJson } from '../../domain/canonical-json';
import type { KeyrotorConfig } from '../../domain/config';
import { AUDIT_ANCHOR_LABEL, CLUSTER_WRAPPING_KEY_LABELS, KEYMAP_SNAPSHOT_LABEL, KEYMAP_SYNC_SCHEDULE_ID, deploymentScheduleId, MAP_SIGNING_KEY_LABEL, keymapSnapshotShardLabel } from '../../domain/identifiers';
import type { KeymapSyncResult } from '../../domain/keymap/sync';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import {
  deleteObject,
  generateKeyPairByHand,
  listTokenObjects,
  readDataObject,
  readPublicKeyDer,
  writeDataObject,
  type TokenAccess,
  type TokenObject,
} from '../support/pkcs11-listing';
import { callApiAs, startTestSystem, testConfig, tokenFor } from '../support/system';

interface MapVersion {
  version: number;
  fingerprint: string;
  state: string;
  label: string;
  lineage: { parentVersion: number | null; trigger: string; reason: string; actor: string };
  entropyProvenance: Record<string, unknown> | null;
  nodes: Record<string, { privateKey: boolean; publicKey: boolean; canSign: boolean | null }>;
}
interface MapKey {
  name: string;
  phase: string;
  activeVersion: number | null;
  nextRotationAt: string | null;
  prediction: { predictedRotationAt: string | null; predictedTrigger: string | null; nextEvaluationAt: string | null; lastRiskScore: number | null };
  versions: MapVersion[];
}
interface KeymapReply { epoch: number; digest: string; total: number; keys: MapKey[]; nodes: Array<{ id: string; entropy: { status: string } }> }
interface NodesReply {
  epoch: number;
  digest: string;
  nodes: Array<{ id: string; acknowledged: { epoch: number; digest: string } | null; inSync: boolean; stale: boolean; staleReason: string | null; snapshot: { status: string | null; tamperedAt: string | null } }>;
}

// Rotated keys stay in their grace period for the whole test, so that the map holds still once the lifecycle is done.
const resting = { gracePeriod: '1h', maxGracePeriod: '2h', retention: '1h', maxAge: '30d', minRotationInterval: '1s', publicationLead: '0s' };

describe('the cluster key map and its sync on the real stack: three SoftHSM tokens, Temporal, PostgreSQL', () => {
  let system: RunningSystem;
  let config: KeyrotorConfig;
  let operator: string;
  let auditor: string;

  beforeAll(async () => {
    config = await testConfig();
    system = await startTestSystem(config);
    operator = await tokenFor(system, 'operator');
    auditor = await tokenFor(system, 'auditor');
  });

  afterAll(async () => {
    await system?.stop();
  });

  const api = <T = Record<string, unknown>>(method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>, token = operator): Promise<{ status: number; body: T }> =>
    callApiAs<T>(system, token, method, url, payload);
  const sync = async (): Promise<KeymapSyncResult> => {
    const reply = await api<KeymapSyncResult>('POST', '/keymap/sync');
    expect(reply.status).toBe(200);
    return reply.body;
  };
  const keymap = async (query = ''): Promise<KeymapReply> => (await api<KeymapReply>('GET', `/keymap${query}`, undefined, auditor)).body;
  const nodeOf = (result: KeymapSyncResult, nodeId: string) => result.nodes.find((node) => node.nodeId === nodeId) as KeymapSyncResult['nodes'][number];
  const access = (index: number): TokenAccess => {
    const node = config.hsm.nodes[index] as KeyrotorConfig['hsm']['nodes'][number];
    return { modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, 'pin') };
  };
  const nodeId = (index: number): string => (config.hsm.nodes[index] as { id: string }).id;
  const versionsOf = async (name: string): Promise<Array<{ version: number; fingerprint: string; state: string }>> =>
    (await api<{ versions: Array<{ version: number; fingerprint: string; state: string }> }>('GET', `/keys/${name}`)).body.versions;
  const waitForState = (name: string, version: number, state: string) =>
    eventually(async () => ((await versionsOf(name)).find((v) => v.version === version)?.state === state ? true : undefined), `${name} v${version} ${state}`, 120_000);

  /** The managed key objects a token holds, read with pkcs11-tool: "<class> <id> <label>", sorted. */
  const managedObjects = (objects: TokenObject[]): string[] =>
    objects
      .filter((o) => (o.class === 'privkey' || o.class === 'pubkey') && o.label !== MAP_SIGNING_KEY_LABEL)
      .map((o) => `${o.class} ${o.idHex ?? ''} ${o.label ?? ''}`)
      .sort();
  /** What the map says every node must hold: both objects of active and retiring versions, the public key of archived ones. */
  const expectedObjects = (map: KeymapReply): string[] =>
    map.keys.flatMap((key) => key.versions.flatMap((v) => {
      if (v.state === 'active' || v.state === 'retiring') return [`privkey ${v.fingerprint} ${v.label}`, `pubkey ${v.fingerprint} ${v.label}`];
      if (v.state === 'archived') return [`pubkey ${v.fingerprint} ${v.label}`];
      return [];
    })).sort();

  /** The snapshot head on a token, read with pkcs11-tool, and whether its signature verifies with the map-signing public key read the same way. */
  const headOn = (index: number, signingFingerprint: string): { epoch: number; digest: string; verifies: boolean } => {
    const value = readDataObject(access(index), KEYMAP_SNAPSHOT_LABEL).toString('utf8');
    const { head, signature } = JSON.parse(value) as { head: { epoch: number; digest: string }; signature: { keyFingerprint: string; value: string } };
    const spki = readPublicKeyDer(access(index), signingFingerprint);
    const verifies = signature.keyFingerprint === signingFingerprint
      && verify('sha256', Buffer.from(canonicalJson(head)), { key: createPublicKey({ key: spki, format: 'der', type: 'spki' }), dsaEncoding: 'ieee-p1363' }, Buffer.from(signature.value, 'base64'));
    return { epoch: head.epoch, digest: head.digest, verifies };
  };

  let signingFingerprint: string;

  it('first sync: makes the map-signing key, puts it on every node, writes the signed snapshot everywhere; the next sync writes nothing', async () => {
    for (const name of ['alpha', 'beta', 'delta']) expect((await api('POST', '/keys', { name, type: 'ec-p256', policy: resting })).status).toBe(202);
    expect((await api('POST', '/keys', { name: 'gamma', type: 'ec-p256', policy: { ...resting, gracePeriod: '2s', retention: '25s' } })).status).toBe(202);
    for (const name of ['alpha', 'beta', 'gamma', 'delta']) await waitForState(name, 1, 'active');
    // Each lifecycle evaluates its key once it is active, which changes the map's prediction block: let that land first.
    for (const name of ['alpha', 'beta', 'gamma', 'delta']) {
      await eventually(async () => ((await api<{ prediction: { evaluatedAt: string | null } }>('GET', `/keys/${name}`)).body.prediction.evaluatedAt ? true : undefined), `${name} evaluated`);
    }

    const first = await sync();
    expect(first.signingKey).toMatchObject({ created: true });
    signingFingerprint = (first.signingKey as { fingerprint: string }).fingerprint;
    expect(first.problems).toEqual([]);
    expect(first.unknownObjects).toEqual([]);
    for (const node of first.nodes) {
      expect({ node: node.nodeId, action: node.snapshot.action, shards: node.snapshot.shardsWritten, ack: node.acknowledged }).toEqual({
        node: node.nodeId, action: 'written', shards: 16, ack: { epoch: first.epoch, digest: first.digest },
      });
      expect(node.bytesWritten).toBeGreaterThan(0);
    }
    // Made on one node, replicated to the two others by wrap/unwrap.
    expect(first.nodes.map((node) => node.repairs.replicated).sort()).toEqual([0, 1, 1]);

    for (let index = 0; index < 3; index += 1) {
      const objects = listTokenObjects(access(index));
      const signing = objects.filter((o) => o.label === MAP_SIGNING_KEY_LABEL);
      expect(signing.map((o) => `${o.class} ${o.idHex}`).sort()).toEqual([`privkey ${signingFingerprint}`, `pubkey ${signingFingerprint}`]);
      expect(objects.filter((o) => o.class === 'data').map((o) => o.label).sort()).toEqual([AUDIT_ANCHOR_LABEL, KEYMAP_SNAPSHOT_LABEL, ...Array.from({ length: 16 }, (_, i) => keymapSnapshotShardLabel(i))].sort());
      expect(headOn(index, signingFingerprint)).toEqual({ epoch: first.epoch, digest: first.digest, verifies: true });
    }

    const second = await sync();
    expect(second.signingKey).toEqual({ fingerprint: signingFingerprint, created: false });
    expect({ epoch: second.epoch, digest: second.digest }).toEqual({ epoch: first.epoch, digest: first.digest });
    for (const node of second.nodes) {
      expect({ node: node.nodeId, status: node.status, inventory: node.inventory, action: node.snapshot.action, bytesWritten: node.bytesWritten }).toEqual({
        node: node.nodeId, status: 'in-sync', inventory: 'matched', action: 'unchanged', bytesWritten: 0,
      });
    }

    const nodes = (await api<NodesReply>('GET', '/keymap/nodes', undefined, auditor)).body;
    expect(nodes.nodes.map((node) => [node.id, node.inSync, node.acknowledged, node.snapshot.status])).toEqual(
      [0, 1, 2].map((index) => [nodeId(index), true, { epoch: first.epoch, digest: first.digest, at: expect.any(String) }, 'valid']),
    );
  });

  it('GET /keymap shows per version the state, holders, prediction, entropy provenance and lineage, and filters by key, state and node', async () => {
    const map = await keymap();
    expect(map.keys.map((key) => key.name)).toEqual(['alpha', 'beta', 'delta', 'gamma']);
    const alpha = map.keys[0] as MapKey;
    // The lifecycle evaluated the key when it became active: the map carries that evaluation, rounded.
    expect(alpha.prediction).toEqual({
      predictedRotationAt: expect.stringMatching(/:00\.000Z$/),
      predictedTrigger: expect.stringMatching(/^(age|risk|capacity)$/),
      nextEvaluationAt: expect.stringMatching(/:00\.000Z$/),
      lastRiskScore: expect.any(Number),
    });
    expect(alpha.prediction.predictedRotationAt).toEqual(expect.any(String));
    const v1 = alpha.versions[0] as MapVersion;
    expect(v1).toMatchObject({ version: 1, state: 'active', label: 'keyrotor:alpha:v1', lineage: { parentVersion: null, trigger: 'create' } });
    expect(v1.entropyProvenance).toMatchObject({ mode: expect.any(String), creditedBits: expect.any(Number), sources: expect.any(Array) });
    expect(Object.keys(v1.nodes).sort()).toEqual([0, 1, 2].map(nodeId).sort());
    expect(map.nodes.map((node) => node.id)).toEqual([0, 1, 2].map(nodeId).sort());

    expect((await keymap('?key=beta')).keys.map((key) => key.name)).toEqual(['beta']);
    const byNode = await keymap(`?node=${nodeId(1)}`);
    expect(byNode.digest).toBe(map.digest);
    expect(byNode.keys.every((key) => key.versions.every((v) => Object.keys(v.nodes).join() === nodeId(1)))).toBe(true);
    expect((await keymap('?state=archived')).total).toBe(0);
    expect((await api('GET', '/keymap?state=lost', undefined, auditor)).status).toBe(400);
    expect((await api('POST', '/keymap/sync', undefined, auditor)).status).toBe(403);
  });

  it('node 3 down while two keys rotate and a version of a third is purged: the sync does not wait for it; back up, one sync and node 3 holds exactly the right objects, every node on the same epoch and digest', async () => {
    const third = nodeId(2);
    // gamma v1 is archived while node 3 is up; its purge falls due while node 3 is down.
    expect((await api('POST', '/keys/gamma/rotate', { reason: 'before the outage' })).status).toBe(200);
    await waitForState('gamma', 1, 'archived');
    // The verdict on the transition reads every node: let it finish before node 3 goes.
    const gammaV1 = await eventually(async () => {
      const v1 = (await api<{ versions: Array<{ version: number; fingerprint: string; verdict: { ok: boolean } | null }> }>('GET', '/keys/gamma')).body.versions.find((v) => v.version === 1);
      return v1?.verdict ? v1 : undefined;
    }, 'the verdict on gamma v1', 60_000);
    expect(gammaV1.verdict?.ok).toBe(true);

    await system.stopHsmWorker(third);
    const rotations = ['alpha', 'beta'].map((name) => api('POST', `/keys/${name}/rotate`, { reason: 'rotated while node 3 is down' }));
    // While node 3 is away it loses delta's private key (restored from a backup without it, say).
    const delta = (await versionsOf('delta'))[0] as { fingerprint: string };
    deleteObject(access(2), 'privkey', { idHex: delta.fingerprint });
    await eventually(async () => ((await versionsOf('alpha')).some((v) => v.version === 2) && (await versionsOf('beta')).some((v) => v.version === 2) ? true : undefined), 'the rotations to reach node 3', 60_000);

    const during = await sync();
    expect(nodeOf(during, third)).toMatchObject({ status: 'stale', inventory: 'unreachable', acknowledged: null });
    expect(nodeOf(during, third).reason).toMatch(/did not pick up/);
    // The rotating keys are the lifecycle's; the sync leaves them alone and says why.
    expect(during.skippedKeys.map((skip) => skip.key)).toEqual(expect.arrayContaining(['alpha', 'beta']));
    for (const index of [0, 1]) expect(nodeOf(during, nodeId(index)).status).not.toBe('stale');
    expect((await api<NodesReply>('GET', '/keymap/nodes', undefined, auditor)).body.nodes.find((node) => node.id === third)).toMatchObject({ stale: true, inSync: false });

    // gamma v1's purge falls due while node 3 is away.
    await new Promise((resolve) => setTimeout(resolve, 25_000));
    await system.startHsmWorker(third);
    for (const rotation of rotations) {
      const { status, body } = await rotation;
      expect({ status, body: status === 200 ? 'ok' : body }).toEqual({ status: 200, body: 'ok' });
    }
    await waitForState('gamma', 1, 'purged');
    // Until the lifecycles are done with node 3, syncs leave the keys alone; wait for them to rest. A rotated key rests
    // once it has evaluated its new version (which changes its map entry: a sync running then would skip it), and a
    // moment with no pending activity alone can fall between the activation and that evaluation.
    await eventually(async () => {
      for (const name of ['alpha', 'beta']) {
        const risk = (await api<{ items: Array<{ version: number }> }>('GET', `/keys/${name}/risk?limit=1`, undefined, auditor)).body;
        if (risk.items[0]?.version !== 2) return undefined;
      }
      const described = await Promise.all(['alpha', 'beta', 'gamma'].map((name) => system.client.workflow.getHandle(`key/${name}`).describe()));
      return described.every((d) => (d.raw.pendingActivities ?? []).length === 0) ? true : undefined;
    }, 'the lifecycles to finish with node 3', 60_000);

    const after = await sync();
    const back = nodeOf(after, third);
    expect(back.status).toBe('repaired');
    expect(back.repairs.replicated).toBe(1);
    expect(back.drift.items.map((item) => `${item.kind} ${item.key ?? ''}`)).toEqual(['missing-private-key delta']);
    expect(after.skippedKeys).toEqual([]);
    for (const node of after.nodes) expect({ node: node.nodeId, ack: node.acknowledged }).toEqual({ node: node.nodeId, ack: { epoch: after.epoch, digest: after.digest } });

    // Read outside keyrotor: node 3 holds exactly what the map says, which is what the other nodes hold.
    const map = await keymap();
    expect(map.epoch).toBe(after.epoch);
    expect(map.digest).toBe(after.digest);
    const expected = expectedObjects(map);
    expect(expected.some((line) => line.includes(gammaV1.fingerprint))).toBe(false);
    expect(expected.filter((line) => line.includes('keyrotor:alpha:v2') || line.includes('keyrotor:beta:v2'))).toHaveLength(4);
    for (let index = 0; index < 3; index += 1) {
      // pkcs11-tool reads SoftHSM's object files while other processes may be writing one (SoftHSM writes a new object's
      // attributes after creating its file), so a read can show a half-written object: read again until the token is
      // settled. A real extra or missing object never settles into the expected listing, and the test fails.
      const objects = await eventually(() => {
        const listed = listTokenObjects(access(index));
        return JSON.stringify(managedObjects(listed)) === JSON.stringify(expected) ? listed : undefined;
      }, `node ${index + 1} to hold exactly the map's objects`, 20_000, 500).catch(() => listTokenObjects(access(index)));
      expect({ node: nodeId(index), objects: managedObjects(objects) }).toEqual({ node: nodeId(index), objects: expected });
      expect(objects.filter((o) => o.class === 'secrkey').map((o) => o.label).sort()).toEqual([...CLUSTER_WRAPPING_KEY_LABELS].sort());
      expect(headOn(index, signingFingerprint)).toEqual({ epoch: after.epoch, digest: after.digest, verifies: true });
    }
    const nodes = (await api<NodesReply>('GET', '/keymap/nodes', undefined, auditor)).body;
    expect(nodes.nodes.map((node) => [node.id, node.inSync, node.stale, node.acknowledged?.epoch, node.acknowledged?.digest])).toEqual(
      [0, 1, 2].map((index) => [nodeId(index), true, false, after.epoch, after.digest]),
    );
  });

  it('leaves a key alone while its lifecycle works on it, even before the lifecycle has recorded anything; repairs it once the lifecycle is done', async () => {
    expect((await api('POST', '/keys', { name: 'epsilon', type: 'ec-p256', policy: resting })).status).toBe(202);
    await waitForState('epsilon', 1, 'active');
    const v1 = (await versionsOf('epsilon'))[0] as { fingerprint: string };
    await sync();

    // Node 2 loses epsilon's public key; meanwhile an emergency rotation switches signing off on every node, which
    // waits for node 3's worker: the workflow is at work, while PostgreSQL still says the key is active.
    deleteObject(access(1), 'pubkey', { idHex: v1.fingerprint });
    await system.stopHsmWorker(nodeId(2));
    const emergency = api('POST', '/keys/epsilon/rotate', { reason: 'leaked', emergency: true });
    await eventually(async () => {
      const { raw } = await system.client.workflow.getHandle('key/epsilon').describe();
      return (raw.pendingActivities ?? []).some((activity) => activity.activityType?.name === 'setSigning') ? true : undefined;
    }, 'the emergency rotation to wait for node 3', 60_000);
    expect((await api<{ phase: string }>('GET', '/keys/epsilon')).body.phase).toBe('active');

    const during = await sync();
    expect(during.skippedKeys.find((skip) => skip.key === 'epsilon')?.why).toMatch(/its lifecycle has a step running \(.*setSigning.*\)/);
    expect(nodeOf(during, nodeId(1)).repairs.publicKeysRestored).toBe(0);
    expect(listTokenObjects(access(1)).some((o) => o.class === 'pubkey' && o.idHex === v1.fingerprint)).toBe(false);

    await system.startHsmWorker(nodeId(2));
    expect((await emergency).status).toBe(200);
    await waitForState('epsilon', 1, 'archived');
    // The verdict is the archive's last step; after it the lifecycle rests until the purge.
    await eventually(async () => {
      const versions = (await api<{ versions: Array<{ version: number; verdict: unknown }> }>('GET', '/keys/epsilon')).body.versions;
      return versions.find((v) => v.version === 1)?.verdict ? true : undefined;
    }, 'the verdict on epsilon v1', 60_000);
    await eventually(async () => ((await system.client.workflow.getHandle('key/epsilon').describe()).raw.pendingActivities ?? []).length === 0 ? true : undefined, 'the lifecycle of epsilon to rest', 60_000);

    // Archived: its public key stays on every node until the purge, so the sync puts it back from the map.
    const after = await sync();
    expect(nodeOf(after, nodeId(1))).toMatchObject({ status: 'repaired', repairs: { publicKeysRestored: 1, replicated: 0 } });
    expect(listTokenObjects(access(1)).filter((o) => o.idHex === v1.fingerprint).map((o) => o.class)).toEqual(['pubkey']);
    expect(readPublicKeyDer(access(1), v1.fingerprint).equals(readPublicKeyDer(access(0), v1.fingerprint))).toBe(true);
  });

  it('runs one sync at a time: a second one asked for meanwhile waits for the lease; a sync for another cluster is refused', async () => {
    const [a, b] = await Promise.all([sync(), sync()]);
    expect(a.epoch).toBe(b.epoch);
    const waited = await Promise.all([a, b].map(async (result) => {
      const { events } = await system.client.workflow.getHandle(result.runId.split('/').slice(0, -1).join('/')).fetchHistory();
      const begin = (events ?? []).find((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'beginKeymapSync');
      const started = (events ?? []).find((event) => String(event.activityTaskStartedEventAttributes?.scheduledEventId) === String(begin?.eventId));
      return started?.activityTaskStartedEventAttributes?.attempt ?? 0;
    }));
    expect(Math.max(...waited)).toBeGreaterThan(1);
    // Every activity of a sync heartbeats under a 10 s heartbeat timeout: a killed worker's attempt is retried within
    // seconds, not after its start-to-close timeout (10 minutes on a node).
    const { events: syncEvents } = await system.client.workflow.getHandle(a.runId.split('/').slice(0, -1).join('/')).fetchHistory();
    const scheduled = (syncEvents ?? []).flatMap((event) => (event.activityTaskScheduledEventAttributes ? [event.activityTaskScheduledEventAttributes] : []));
    expect(scheduled.map((attributes) => attributes.activityType?.name)).toEqual(expect.arrayContaining(['beginKeymapSync', 'inspectKeymapNode', 'commitKeymapSync']));
    for (const attributes of scheduled) {
      expect({ activity: attributes.activityType?.name, heartbeatTimeoutS: Number(String(attributes.heartbeatTimeout?.seconds ?? 0)) }).toEqual({ activity: attributes.activityType?.name, heartbeatTimeoutS: 10 });
    }

    const runsBefore = (await system.db.query('SELECT 1 FROM keymap_sync_runs')).rowCount;
    const stranger = await system.client.workflow.start('keymapSyncWorkflow', { taskQueue: system.config.temporal.controlTaskQueue, workflowId: 'keymap-sync/manual/other-cluster', args: [{ trigger: 'manual', actor: 'test', cluster: ['some-other-node'] }] });
    await expect(stranger.result()).rejects.toThrow();
    const { events } = await stranger.fetchHistory();
    expect((events ?? []).map((event) => event.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.type).filter(Boolean)).toEqual(['keymap_cluster_mismatch']);
    expect((await system.db.query('SELECT 1 FROM keymap_sync_runs')).rowCount).toBe(runsBefore);
  });

  it('restores a replica destroyed by hand on node 2; reports a key added by hand and leaves it in place', async () => {
    const alphaActive = (await versionsOf('alpha')).find((v) => v.state === 'active') as { fingerprint: string };
    deleteObject(access(1), 'privkey', { idHex: alphaActive.fingerprint });
    expect(listTokenObjects(access(1)).some((o) => o.class === 'privkey' && o.idHex === alphaActive.fingerprint)).toBe(false);
    const intruderId = 'ab'.repeat(20);
    generateKeyPairByHand(access(0), 'intruder', intruderId);

    const result = await sync();
    expect(nodeOf(result, nodeId(1))).toMatchObject({ status: 'repaired', repairs: { replicated: 1, failures: [] } });
    expect(nodeOf(result, nodeId(1)).drift.items.map((item) => `${item.kind} ${item.key ?? ''}`)).toEqual(['missing-private-key alpha']);
    expect(listTokenObjects(access(1)).filter((o) => o.idHex === alphaActive.fingerprint).map((o) => o.class).sort()).toEqual(['privkey', 'pubkey']);

    expect(result.unknownObjects).toEqual([
      { nodeId: nodeId(0), class: 'privateKey', id: intruderId, label: 'intruder' },
      { nodeId: nodeId(0), class: 'publicKey', id: intruderId, label: 'intruder' },
    ]);
    expect(nodeOf(result, nodeId(0)).status).toBe('drift');
    expect(nodeOf(result, nodeId(0)).repairs).toMatchObject({ destroyed: 0, replicated: 0 });
    const alerts = (await api<{ alerts: Array<{ severity: string; source: string; message: string }> }>('GET', '/alerts?source=keymap&limit=100')).body.alerts;
    expect(alerts.filter((alert) => alert.source === 'keymap' && /'intruder'/.test(alert.message)).map((alert) => alert.severity)).toEqual(['critical', 'critical']);

    // Reported again on the next sync, still in place.
    const again = await sync();
    expect(again.unknownObjects).toHaveLength(2);
    expect(listTokenObjects(access(0)).filter((o) => o.idHex === intruderId).map((o) => o.class).sort()).toEqual(['privkey', 'pubkey']);
    // Cleaned up by hand so that the following tests start from a clean cluster.
    deleteObject(access(0), 'privkey', { idHex: intruderId });
    deleteObject(access(0), 'pubkey', { idHex: intruderId });
  });

  it('reports a node whose snapshot was altered as tampered, and rewrites it', async () => {
    const before = await sync();
    const original = readDataObject(access(1), KEYMAP_SNAPSHOT_LABEL).toString('utf8');
    const forged = original.replace(`"epoch":${before.epoch}`, `"epoch":${before.epoch + 1000}`);
    expect(forged).not.toBe(original);
    deleteObject(access(1), 'data', { label: KEYMAP_SNAPSHOT_LABEL });
    writeDataObject(access(1), KEYMAP_SNAPSHOT_LABEL, Buffer.from(forged), 'keyrotor');

    const result = await sync();
    const node2 = nodeOf(result, nodeId(1));
    expect(node2.snapshot).toMatchObject({ found: 'tampered', action: 'rewritten', headWritten: true, problem: expect.stringMatching(/signature of the head does not verify/) });
    expect(node2.status).toBe('repaired');
    for (const index of [0, 2]) expect(nodeOf(result, nodeId(index)).snapshot.action).toBe('unchanged');
    expect(headOn(1, signingFingerprint)).toEqual({ epoch: result.epoch, digest: result.digest, verifies: true });
    const alerts = (await api<{ alerts: Array<{ severity: string; subject: string; message: string }> }>('GET', '/alerts?source=keymap&limit=100')).body.alerts;
    expect(alerts.find((alert) => alert.subject === `node/${nodeId(1)}` && /tampered/.test(alert.message))?.severity).toBe('critical');
    const node2Status = (await api<NodesReply>('GET', '/keymap/nodes', undefined, auditor)).body.nodes.find((node) => node.id === nodeId(1));
    expect(node2Status).toMatchObject({ inSync: true, snapshot: { status: 'valid', tamperedAt: expect.any(String) } });

    // A shard altered the same way is found too.
    const shard = keymapSnapshotShardLabel(0);
    const shardValue = readDataObject(access(2), shard).toString('utf8');
    deleteObject(access(2), 'data', { label: shard });
    writeDataObject(access(2), shard, Buffer.from(shardValue.replace('"keys":[', '"keys":[{"key":"forged"},')), 'keyrotor');
    const next = await sync();
    expect(nodeOf(next, nodeId(2)).snapshot).toMatchObject({ found: 'tampered', action: 'rewritten', problem: expect.stringMatching(/shard 0/) });
    expect(readDataObject(access(2), shard).toString('utf8')).toBe(shardValue);
  });

  it('runs on the keymapSync schedule (every minute, overlap SKIP), and a lifecycle step asks for a sync at once', async () => {
    await ensureKeymapSyncSchedule(system.client, system.config.temporal.controlTaskQueue, config.hsm.nodes.map((node) => node.id));
    const schedule = system.client.schedule.getHandle(deploymentScheduleId(KEYMAP_SYNC_SCHEDULE_ID, system.config.temporal.controlTaskQueue));
    const described = await schedule.describe();
    expect(described.spec.intervals?.map((interval) => interval.every)).toEqual([60_000]);
    expect(described.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
    const scheduledRuns = async (): Promise<Array<{ started_at: Date }>> =>
      (await system.db.query<{ started_at: Date }>("SELECT started_at FROM keymap_sync_runs WHERE trigger = 'schedule' AND finished_at IS NOT NULL ORDER BY started_at")).rows;
    // Waits for the schedule to start its (n+1)th workflow, then for that workflow to end: events, not wall time, since
    // a sync of three nodes on a loaded 2-core machine can take longer than any fixed wait.
    const scheduledRunEnds = async (count: number): Promise<void> => {
      const action = await eventually(async () => (await schedule.describe()).info.recentActions[count], `the schedule's start number ${count + 1}`, 300_000);
      const started = action.action;
      await system.client.workflow.getHandle(started.workflow.workflowId, started.workflow.firstExecutionRunId).result();
    };
    // Created and run once at once.
    await scheduledRunEnds(0);
    expect((await scheduledRuns()).length).toBeGreaterThanOrEqual(1);

    // Paused, the schedule starts nothing by itself: a run now can only come from the lifecycle step asking for one.
    await schedule.pause('test: only triggered runs');
    const before = (await scheduledRuns()).length;
    const actionsBefore = (await schedule.describe()).info.recentActions.length;
    const rotatedAt = Date.now();
    expect((await api('POST', '/keys/delta/rotate', { reason: 'a lifecycle step' })).status).toBe(200);
    await scheduledRunEnds(actionsBefore);
    const runs = await scheduledRuns();
    expect(runs.length).toBeGreaterThan(before);
    expect((runs.at(-1) as { started_at: Date }).started_at.getTime()).toBeGreaterThanOrEqual(rotatedAt - 1000);
    await schedule.delete();

    const audit = (await api<{ entries: Array<{ action: string }> }>('GET', '/audit?subject=keymap&limit=100', undefined, auditor)).body.entries.map((entry) => entry.action);
    expect(audit).toEqual(expect.arrayContaining(['keymap.signing_key.created', 'keymap.synced']));
    expect((await api('GET', '/audit/verify', undefined, auditor)).body).toMatchObject({ ok: true });
  });
});
