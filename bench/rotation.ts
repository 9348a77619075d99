/**
 * End-to-end rotations per second with N keys rotating at once (API -> Temporal Update -> workflow -> activities on
 * three SoftHSM nodes -> PostgreSQL), against the raw PKCS#11 cost of the same generate + wrap + unwrap work in a
 * plain loop without Temporal, measured in the same run on the same tokens.
 *
 *   npx tsx bench/rotation.ts [N=20] [keyType=ec-p256]
 */
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as keys from '../adapters/pkcs11/keys';
import { TokenSessionPool } from '../adapters/pkcs11/session-pool';
import { readSecret } from '../adapters/secrets';
import { CLUSTER_KEK_LABEL } from '../domain/identifiers';
import { validateKeyType } from '../domain/keys/key-model';
import { SIGNING_KEY_TYPES, isSigningKeyType } from '../domain/keys/key-types';
import { startSystem } from '../workers/system';
import { benchSystemConfig, createActiveKeys, operatorApi } from './system-support';

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 20);
  const keyType = validateKeyType(process.argv[3] ?? 'ec-p256');
  if (!isSigningKeyType(keyType)) throw new Error(`bench/rotation measures signing key types (${SIGNING_KEY_TYPES.join(', ')}), not ${keyType}`);
  const { dataDir, config } = await benchSystemConfig();
  process.stderr.write(`starting the system in ${dataDir} ...\n`);
  const system = await startSystem(config, { log: () => undefined, listen: false, apiLogger: false });
  try {
    const { call } = await operatorApi(system);
    const names = Array.from({ length: n }, (_, i) => `bench-${i}`);
    process.stderr.write(`creating ${n} ${keyType} keys ...\n`);
    await createActiveKeys(call, names, { type: keyType, policy: { gracePeriod: '1h', maxGracePeriod: '2h' } });

    process.stderr.write(`rotating ${n} keys at once ...\n`);
    const e2eStarted = performance.now();
    await Promise.all(names.map((name) => call('POST', `/keys/${name}/rotate`, { reason: 'bench' })));
    const e2eSeconds = (performance.now() - e2eStarted) / 1000;

    // The baseline: the same HSM work (generate on one node, wrap, unwrap on the two others), in a plain loop.
    const pools = config.hsm.nodes.map((node) =>
      TokenSessionPool.open({ nodeId: node.id, modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, 'pin'), size: 2 }),
    );
    const [primary, ...targets] = pools as [TokenSessionPool, ...TokenSessionPool[]];
    process.stderr.write(`raw PKCS#11 loop of ${n} ...\n`);
    const rawStarted = performance.now();
    for (let i = 0; i < n; i += 1) {
      const label = `bench-raw-${i}`;
      const generated = await keys.generateKeyPair(primary, { keyType, label });
      const wrapped = await keys.wrapPrivateKey(primary, { fingerprint: generated.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL });
      for (const target of targets) {
        await keys.importReplica(target, {
          fingerprint: generated.fingerprint, label, keyType, wrapped: wrapped.wrapped, unwrappingKeyLabel: CLUSTER_KEK_LABEL, publicKey: wrapped.publicKey,
        });
      }
    }
    const rawSeconds = (performance.now() - rawStarted) / 1000;
    for (const pool of pools) await pool.close();

    const e2eRate = n / e2eSeconds;
    const rawRate = n / rawSeconds;
    process.stdout.write(`${JSON.stringify({
      keys: n,
      keyType,
      endToEnd: { seconds: Number(e2eSeconds.toFixed(3)), rotationsPerSecond: Number(e2eRate.toFixed(2)) },
      rawPkcs11Loop: { seconds: Number(rawSeconds.toFixed(3)), rotationsPerSecond: Number(rawRate.toFixed(2)) },
      ratioEndToEndToRaw: Number((e2eRate / rawRate).toFixed(3)),
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
