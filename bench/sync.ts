/**
 * One key map sync on three SoftHSM nodes with 100 and with 1,000 managed keys (EC P-256): its duration, and per node
 * the bytes written to the token and the bytes exchanged with the node's worker through Temporal, for
 *   - an unchanged map (what the minutely schedule costs almost always),
 *   - one key changed (a policy change: the snapshot head and one shard are rewritten),
 *   - one replica lost on one node (its listing is sent, the replica restored).
 * The baseline, measured in the same run on the same tokens: listing every object of the three tokens with keyrotor's
 * PKCS#11 adapter in a plain loop, without Temporal or PostgreSQL.
 *
 *   npx tsx bench/sync.ts [sizes=100,1000]
 */
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as keys from '../adapters/pkcs11/keys';
import { TokenSessionPool } from '../adapters/pkcs11/session-pool';
import { recordKeyEvent } from '../adapters/postgres/key-repository';
import { createToken } from '../adapters/postgres/token-repository';
import { readSecret } from '../adapters/secrets';
import { CLUSTER_KEK_LABEL, hsmTaskQueue } from '../domain/identifiers';
import { pkcs11Label } from '../domain/keys/key-model';
import { activate, addPendingVersion, newKeyState, type KeyLifecycleState } from '../domain/keys/lifecycle-state';
import { DEFAULT_POLICY, resolvePolicy } from '../domain/keys/policy';
import type { KeymapSyncResult } from '../domain/keymap/sync';
import { startSystem, type RunningSystem } from '../workers/system';
import { benchSystemConfig } from './system-support';

const say = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};

type Payloads = { payloads?: Array<{ data?: Uint8Array | null; metadata?: Record<string, Uint8Array> | null }> | null } | null | undefined;
const payloadBytes = (payloads: Payloads): number =>
  (payloads?.payloads ?? []).reduce((sum, p) => sum + (p.data?.length ?? 0) + Object.values(p.metadata ?? {}).reduce((m, v) => m + v.length, 0), 0);
const millis = (time: { seconds?: unknown; nanos?: number | null } | null | undefined): number => Number(time?.seconds ?? 0) * 1000 + (time?.nanos ?? 0) / 1e6;

/**
 * From one sync's history: the payload bytes each node's worker received (activity inputs) and sent back (results),
 * and the longest run of each activity type (ms from started to completed).
 */
async function historyFacts(system: RunningSystem, workflowId: string, nodeIds: readonly string[]): Promise<{ temporalBytes: Record<string, number>; stepsMs: Record<string, number> }> {
  const { events } = await system.client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Map<string, { node: string | undefined; type: string }>();
  const started = new Map<string, number>();
  const temporalBytes: Record<string, number> = Object.fromEntries(nodeIds.map((id) => [id, 0]));
  const stepsMs: Record<string, number> = {};
  for (const event of events ?? []) {
    const attributes = event.activityTaskScheduledEventAttributes;
    if (attributes) {
      const node = nodeIds.find((id) => hsmTaskQueue(id) === attributes.taskQueue?.name);
      scheduled.set(String(event.eventId), { node, type: attributes.activityType?.name ?? '?' });
      if (node) temporalBytes[node] = (temporalBytes[node] ?? 0) + payloadBytes(attributes.input);
    }
    if (event.activityTaskStartedEventAttributes) started.set(String(event.activityTaskStartedEventAttributes.scheduledEventId), millis(event.eventTime));
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed) {
      const activity = scheduled.get(String(completed.scheduledEventId));
      if (activity?.node) temporalBytes[activity.node] = (temporalBytes[activity.node] ?? 0) + payloadBytes(completed.result);
      const from = started.get(String(completed.scheduledEventId));
      if (activity && from !== undefined) stepsMs[activity.type] = Math.max(stepsMs[activity.type] ?? 0, Math.round(millis(event.eventTime) - from));
    }
  }
  return { temporalBytes, stepsMs };
}

async function main(): Promise<void> {
  const sizes = (process.argv[2] ?? '100,1000').split(',').map(Number);
  const { dataDir, config } = await benchSystemConfig();
  say(`starting the system in ${dataDir} ...`);
  // No schedules: the entropy assessment would load the two cores, and every sync here is started by the bench.
  const system = await startSystem(config, { log: () => undefined, listen: false, apiLogger: false, schedules: false });
  const nodeIds = config.hsm.nodes.map((node) => node.id);
  const pools = config.hsm.nodes.map((node) =>
    TokenSessionPool.open({ nodeId: node.id, modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, 'pin'), size: 4 }));
  const [primary, ...replicas] = pools as [TokenSessionPool, ...TokenSessionPool[]];
  const states = new Map<string, KeyLifecycleState>();
  try {
    const { token } = await createToken(system.db, { name: 'bench', role: 'operator', actor: 'bench' });
    const sync = async (): Promise<{ ms: number; result: KeymapSyncResult; temporalBytes: Record<string, number>; stepsMs: Record<string, number> }> => {
      const started = performance.now();
      const reply = await system.app.inject({ method: 'POST', url: '/keymap/sync', headers: { authorization: `Bearer ${token}` } });
      const ms = performance.now() - started;
      if (reply.statusCode !== 200) throw new Error(`POST /keymap/sync: ${reply.statusCode} ${reply.body}`);
      const result = reply.json<KeymapSyncResult>();
      return { ms, result, ...(await historyFacts(system, result.runId.split('/').slice(0, -1).join('/'), nodeIds)) };
    };
    const summary = (run: Awaited<ReturnType<typeof sync>>) => ({
      ms: Math.round(run.ms),
      epoch: run.result.epoch,
      longestStepMs: run.stepsMs,
      perNode: Object.fromEntries(run.result.nodes.map((node) => [node.nodeId, {
        status: node.status,
        inventory: node.inventory,
        bytesWrittenToToken: node.bytesWritten,
        snapshot: `${node.snapshot.action}${node.snapshot.headWritten ? ` (head + ${node.snapshot.shardsWritten} shard(s))` : ''}`,
        snapshotBytesRead: node.snapshot.bytesRead,
        temporalPayloadBytes: run.temporalBytes[node.nodeId] ?? 0,
        replicated: node.repairs.replicated,
      }])),
    });

    /** Managed keys made the way the lifecycle makes them (generate on one node, wrap, unwrap on the others), recorded in PostgreSQL. */
    const seed = async (from: number, to: number): Promise<void> => {
      const policy = resolvePolicy({ gracePeriod: '1h', maxGracePeriod: '2h' }, DEFAULT_POLICY);
      const one = async (i: number): Promise<void> => {
        const name = `bench-${String(i).padStart(4, '0')}`;
        const label = pkcs11Label(name, 1);
        const generated = await keys.generateKeyPair(primary, { keyType: 'ec-p256', label });
        const wrapped = await keys.wrapPrivateKey(primary, { fingerprint: generated.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL });
        for (const pool of replicas) {
          await keys.importReplica(pool, { fingerprint: generated.fingerprint, label, keyType: 'ec-p256', wrapped: wrapped.wrapped, unwrappingKeyLabel: CLUSTER_KEK_LABEL, publicKey: wrapped.publicKey });
        }
        const now = Date.now();
        let state = newKeyState({ name, keyType: 'ec-p256', policy, actor: 'bench', now: new Date(now).toISOString() });
        state = addPendingVersion(state, { version: 1, fingerprint: generated.fingerprint, spki: generated.spki, generatedOn: primary.nodeId, lineage: { previousVersion: null, trigger: 'create', reason: 'bench', actor: 'bench' }, now: new Date(now).toISOString() });
        state = { ...activate(state, 1, now), eventSeq: 1 };
        await recordKeyEvent(system.db, state, { id: `${name}/1`, action: 'key.version.activated', actor: 'bench', details: {} });
        states.set(name, state);
      };
      // One at a time: SoftHSM answered concurrent token-object creation on one token with CKR_GENERAL_ERROR.
      for (let i = from; i < to; i += 1) {
        await one(i);
        if ((i + 1) % 200 === 0) say(`  ${i + 1} of ${to} keys`);
      }
    };

    const rawListing = async (): Promise<number> => {
      const started = performance.now();
      for (const pool of pools) await keys.listKeyObjects(pool);
      return performance.now() - started;
    };

    const results: Record<string, unknown> = {};
    let seeded = 0;
    for (const size of sizes) {
      say(`seeding keys ${seeded} to ${size} on three nodes ...`);
      await seed(seeded, size);
      seeded = size;

      say(`${size} keys: catch-up sync (holdings of the new keys, new snapshot) ...`);
      const catchUp = await sync();
      say(`${size} keys: unchanged map, 5 syncs ...`);
      const unchanged: Array<Awaited<ReturnType<typeof sync>>> = [];
      for (let i = 0; i < 5; i += 1) unchanged.push(await sync());
      const typical = unchanged.find((run) => run.ms === median(unchanged.map((u) => u.ms))) as (typeof unchanged)[number];

      say(`${size} keys: one key's maxAge changed (its rotation date moves) ...`);
      const changedName = `bench-${String(Math.floor(size / 2)).padStart(4, '0')}`;
      const before = states.get(changedName) as KeyLifecycleState;
      const changedState = {
        ...before,
        policy: resolvePolicy({ maxAge: '60d' }, before.policy),
        nextRotationAt: new Date(Date.parse(before.lastRotationAt as string) + 60 * 86_400_000).toISOString(),
        eventSeq: before.eventSeq + 1,
      };
      await recordKeyEvent(system.db, changedState, { id: `${changedName}/${changedState.eventSeq}`, action: 'key.policy.updated', actor: 'bench', details: {} });
      states.set(changedName, changedState);
      const oneChanged = await sync();

      say(`${size} keys: one replica lost on ${nodeIds[1] as string} ...`);
      const lost = states.get(`bench-${String(size - 1).padStart(4, '0')}`) as KeyLifecycleState;
      await keys.destroyKeyObjects(pools[1] as TokenSessionPool, { fingerprint: lost.versions[0]?.fingerprint as string, privateKey: true, publicKey: false });
      const replicaLost = await sync();

      say(`${size} keys: baseline, raw listing of the three tokens ...`);
      const raw: number[] = [];
      for (let i = 0; i < 5; i += 1) raw.push(await rawListing());
      const rawMs = median(raw);

      results[`${size} keys`] = {
        baselineRawListingOfThreeTokensMs: Math.round(rawMs),
        catchUp: summary(catchUp),
        unchanged: { ...summary(typical), allRunsMs: unchanged.map((run) => Math.round(run.ms)), ratioToBaseline: Number((typical.ms / rawMs).toFixed(2)) },
        oneKeyChanged: { ...summary(oneChanged), ratioToBaseline: Number((oneChanged.ms / rawMs).toFixed(2)) },
        oneReplicaLost: { ...summary(replicaLost), ratioToBaseline: Number((replicaLost.ms / rawMs).toFixed(2)) },
      };
    }
    process.stdout.write(`${JSON.stringify({ nodes: nodeIds.length, keyType: 'ec-p256', results }, null, 2)}\n`);
  } finally {
    for (const pool of pools) await pool.close();
    await system.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/sync failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
