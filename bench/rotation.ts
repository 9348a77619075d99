/**
 * End-to-end rotations per second with N keys rotating at once (API -> Temporal Update -> workflow -> activities on
 * three SoftHSM nodes -> PostgreSQL), against the raw PKCS#11 cost of the same generate + wrap + unwrap work in a
 * plain loop without Temporal, measured in the same run on the same tokens, in alternating rounds.
 *
 *   npx tsx bench/rotation.ts [N=20] [rounds=2] [keyType=ec-p256]
 *
 * A rotation counts from the API's call to its 200 answer: the new version generated, replicated to every node, each
 * step recorded, and active. The keys' policy has publicationLead 0, so the answer does not wait the lead (1 minute by
 * default) that the raw loop has no counterpart for. Between rounds each key's grace period is completed (untimed), so
 * that it may rotate again, and the system is let settle (key map syncs, evaluations) before the raw loop.
 */
import { rmSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import * as keys from '../adapters/pkcs11/keys';
import { TokenSessionPool } from '../adapters/pkcs11/session-pool';
import { readSecret } from '../adapters/secrets';
import { CLUSTER_KEK_LABEL, keyWorkflowId } from '../domain/identifiers';
import { validateKeyType } from '../domain/keys/key-model';
import { SIGNING_KEY_TYPES, isSigningKeyType } from '../domain/keys/key-types';
import { keyStateQuery } from '../workflows/key-messages';
import { startSystem, type RunningSystem } from '../workers/system';
import { meanBreakdown, rotationBreakdown, type Breakdown } from './rotation-breakdown';
import { benchSystemConfig, createActiveKeys, operatorApi } from './system-support';

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/**
 * Waits until no key has work under way and no workflow but the keys' lifecycles runs (key map syncs, entropy harvests: the first, with its
 * assessment, takes a minute or more after a fresh start), up to two minutes.
 */
async function settle(system: RunningSystem, names: string[]): Promise<void> {
  const until = Date.now() + 120_000;
  while (Date.now() < until) {
    // A key evaluates its new version's risk as soon as its rotation is over: that is work of the round before.
    const views = await Promise.all(names.map((name) => system.client.workflow.getHandle(keyWorkflowId(name)).query(keyStateQuery)));
    if (views.some((view) => view.working !== null)) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      continue;
    }
    const running = system.client.workflow.list({ query: `ExecutionStatus = 'Running' AND WorkflowType != 'keyLifecycleWorkflow'` })[Symbol.asyncIterator]();
    if ((await running.next()).done === true) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 20);
  const rounds = Number(process.argv[3] ?? 2);
  const keyType = validateKeyType(process.argv[4] ?? 'ec-p256');
  if (!isSigningKeyType(keyType)) throw new Error(`bench/rotation measures signing key types (${SIGNING_KEY_TYPES.join(', ')}), not ${keyType}`);
  const { dataDir, config } = await benchSystemConfig();
  process.stderr.write(`starting the system in ${dataDir} ...\n`);
  const system = await startSystem(config, { log: () => undefined, listen: false, apiLogger: process.env.KEYROTOR_BENCH_API_LOG === undefined ? false : undefined });
  try {
    const { call } = await operatorApi(system);
    const names = Array.from({ length: n }, (_, i) => `bench-${i}`);
    process.stderr.write(`creating ${n} ${keyType} keys ...\n`);
    await createActiveKeys(call, names, { type: keyType, policy: { gracePeriod: '1h', maxGracePeriod: '2h', publicationLead: '0s' } });
    await settle(system, names);

    const pools = config.hsm.nodes.map((node) =>
      TokenSessionPool.open({ nodeId: node.id, modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, 'pin'), size: 2 }),
    );
    const [primary, ...targets] = pools as [TokenSessionPool, ...TokenSessionPool[]];
    const e2eSeconds: number[] = [];
    const rawSeconds: number[] = [];
    const breakdowns: Breakdown[] = [];
    // The event loop of this process (API, workers, PKCS#11 calls) while the keys rotate, and its CPU time.
    const loops: Array<{ p50Ms: number; p99Ms: number; maxMs: number; cpuSeconds: number }> = [];
    const calls: Array<{ name: string; calledAt: number; answeredAt: number }> = [];
    try {
      for (let round = 1; round <= rounds; round += 1) {
        if (round > 1) {
          process.stderr.write('completing the grace periods (untimed) ...\n');
          await Promise.all(names.map((name) => call('POST', `/keys/${name}/grace/complete`, { reason: 'bench: next round' })));
          await settle(system, names);
        }
        process.stderr.write(`round ${round}: rotating ${n} keys at once ...\n`);
        const lag = monitorEventLoopDelay({ resolution: 10 });
        lag.enable();
        const cpu0 = process.cpuUsage();
        const e2eStarted = performance.now();
        calls.length = 0;
        await Promise.all(names.map(async (name) => {
          const calledAt = Date.now();
          await call('POST', `/keys/${name}/rotate`, { reason: 'bench' });
          calls.push({ name, calledAt, answeredAt: Date.now() });
        }));
        e2eSeconds.push((performance.now() - e2eStarted) / 1000);
        lag.disable();
        const cpu = process.cpuUsage(cpu0);
        loops.push({ p50Ms: Math.round(lag.percentile(50) / 1e6), p99Ms: Math.round(lag.percentile(99) / 1e6), maxMs: Math.round(lag.max / 1e6), cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(1)) });
        for (const { name, calledAt, answeredAt } of calls.filter((c) => names.indexOf(c.name) < 10)) {
          const breakdown = await rotationBreakdown(system.client, name, calledAt);
          if (breakdown) breakdowns.push(new Map([...breakdown, ['Update completed to API answer', 0], ['total (API call to answer)', answeredAt - calledAt]]));
        }
        await settle(system, names);

        // The baseline: the same HSM work (generate on one node, wrap, unwrap on the two others), in a plain loop.
        process.stderr.write(`round ${round}: raw PKCS#11 loop of ${n} ...\n`);
        const rawStarted = performance.now();
        for (let i = 0; i < n; i += 1) {
          const label = `bench-raw-${round}-${i}`;
          const generated = await keys.generateKeyPair(primary, { keyType, label });
          const wrapped = await keys.wrapPrivateKey(primary, { fingerprint: generated.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL });
          for (const target of targets) {
            await keys.importReplica(target, {
              fingerprint: generated.fingerprint, label, keyType, wrapped: wrapped.wrapped, unwrappingKeyLabel: CLUSTER_KEK_LABEL, publicKey: wrapped.publicKey,
            });
          }
        }
        rawSeconds.push((performance.now() - rawStarted) / 1000);
      }
    } finally {
      for (const pool of pools) await pool.close();
    }

    const e2eRate = n / median(e2eSeconds);
    const rawRate = n / median(rawSeconds);
    const parts = meanBreakdown(breakdowns);
    const total = parts.find((p) => p.part.startsWith('total'))?.meanMs ?? 0;
    const inWorkflow = parts.filter((p) => !p.part.startsWith('total') && !p.part.startsWith('Update completed')).reduce((sum, p) => sum + p.meanMs, 0);
    process.stdout.write(`${JSON.stringify({
      keys: n,
      keyType,
      rounds,
      endToEnd: { seconds: e2eSeconds.map((s) => Number(s.toFixed(3))), rotationsPerSecond: Number(e2eRate.toFixed(2)) },
      rawPkcs11Loop: { seconds: rawSeconds.map((s) => Number(s.toFixed(3))), rotationsPerSecond: Number(rawRate.toFixed(2)) },
      ratioEndToEndToRaw: Number((e2eRate / rawRate).toFixed(3)),
      eventLoopWhileRotating: loops,
      // The rotations of bench-0 to bench-9 in every round, from their workflows' histories: mean ms per rotation.
      breakdownMeanMs: [...parts.filter((p) => !p.part.startsWith('total') && !p.part.startsWith('Update completed')), { part: 'Update completed to API answer', meanMs: total - inWorkflow }, { part: 'total (API call to answer)', meanMs: total }],
    }, null, 2)}\n`);
  } finally {
    await system.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/rotation failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
