/**
 * Rewrap throughput: data keys moved from one aes-256 KEK version to another by `rewrapDataKeys` in batches, against a
 * raw pkcs11js loop of C_UnwrapKey + C_WrapKey + C_DestroyObject on the same token, the same blobs and one session, in
 * the same run. The rounds alternate the two, so that a machine busy with other work slows both alike. What the ratio
 * shows is the adapter's own cost per item: input checks, the KEK lookups, the per-item error mapping and the check
 * that every session object went.
 *
 *   npx tsx bench/rewrap.ts [items=1000] [batch=100] [rounds=5]
 */
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as pkcs11js from 'pkcs11js';
import { generateEncryptionKey, setEncryptionUsage } from '../adapters/pkcs11/encryption-keys';
import { generateDataKey, rewrapDataKeys, MAX_REWRAP_ITEMS } from '../adapters/pkcs11/envelope';
import { provisionCluster } from '../adapters/pkcs11/provision';
import { TokenSessionPool } from '../adapters/pkcs11/session-pool';
import { readSecret } from '../adapters/secrets';
import { encryptionUsageFor } from '../domain/keys/encryption-usage';
import { benchSystemConfig } from './system-support';

const USAGE = 'usage: npx tsx bench/rewrap.ts [items=1000] [batch=100] [rounds=5]';

/** The positional argument at `index` as an integer in [low, high], its default when absent; exits with the usage otherwise. */
function argument(index: number, fallback: number, low: number, high: number): number {
  const given = process.argv[index];
  const value = given === undefined ? fallback : Number(given);
  if (!Number.isInteger(value) || value < low || value > high) {
    const help = given === '--help' || given === '-h';
    (help ? process.stdout : process.stderr).write(`${USAGE}\n${help ? '' : `not an integer from ${low} to ${high}: ${given}\n`}`);
    process.exit(help ? 0 : 2);
  }
  return value;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const say = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

// The raw loop's template and mechanism: what envelope.ts gives a data key, written out here with pkcs11js names.
const KWP: pkcs11js.Mechanism = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };
const rawDataKeyTemplate = (): pkcs11js.Template => [
  { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
  { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
  { type: pkcs11js.CKA_TOKEN, value: false },
  { type: pkcs11js.CKA_PRIVATE, value: true },
  { type: pkcs11js.CKA_SENSITIVE, value: true },
  { type: pkcs11js.CKA_EXTRACTABLE, value: true },
  { type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: false },
  ...[pkcs11js.CKA_ENCRYPT, pkcs11js.CKA_DECRYPT, pkcs11js.CKA_WRAP, pkcs11js.CKA_UNWRAP, pkcs11js.CKA_SIGN, pkcs11js.CKA_VERIFY, pkcs11js.CKA_DERIVE].map((type) => ({ type, value: false })),
  { type: pkcs11js.CKA_LABEL, value: 'keyrotor:bench:data-key' },
];

function findKek(pkcs11: pkcs11js.PKCS11, session: pkcs11js.Handle, fingerprint: string): pkcs11js.Handle {
  pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }, { type: pkcs11js.CKA_ID, value: Buffer.from(fingerprint, 'hex') }]);
  try {
    const [handle] = pkcs11.C_FindObjects(session, 2);
    if (!handle) throw new Error(`no KEK ${fingerprint}`);
    return handle;
  } finally {
    pkcs11.C_FindObjectsFinal(session);
  }
}

async function main(): Promise<void> {
  const items = argument(2, 1000, 1, 1_000_000);
  const batch = argument(3, 100, 1, MAX_REWRAP_ITEMS);
  const rounds = argument(4, 5, 1, 1000);
  const { dataDir, config } = await benchSystemConfig();
  let pool: TokenSessionPool | undefined;
  try {
    say(`provisioning SoftHSM tokens in ${dataDir} ...`);
    await provisionCluster(config, () => undefined);
    const node = config.hsm.nodes[0];
    if (!node) throw new Error('the configuration has no HSM node');
    pool = TokenSessionPool.open({ nodeId: node.id, modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, 'pin'), size: 2 });
    const from = (await generateEncryptionKey(pool, { keyType: 'aes-256', label: 'bench-rewrap:v1' })).fingerprint;
    const to = (await generateEncryptionKey(pool, { keyType: 'aes-256', label: 'bench-rewrap:v2' })).fingerprint;
    await setEncryptionUsage(pool, { keyType: 'aes-256', fingerprint: from, usage: encryptionUsageFor({ state: 'active', decryptAfterCompromise: true }) });
    say(`making ${items} data keys (32 bytes) under v1 ...`);
    const blobs: string[] = [];
    for (let i = 0; i < items; i += 1) blobs.push((await generateDataKey(pool, { kekFingerprint: from, bytes: 32, transportKey: null })).wrapped);
    await setEncryptionUsage(pool, { keyType: 'aes-256', fingerprint: to, usage: encryptionUsageFor({ state: 'active', decryptAfterCompromise: true }) });
    await setEncryptionUsage(pool, { keyType: 'aes-256', fingerprint: from, usage: encryptionUsageFor({ state: 'retiring', decryptAfterCompromise: true }) });
    const raw = blobs.map((blob) => Buffer.from(blob, 'base64'));
    const open = pool;

    const rawLoop = (): Promise<number> => open.withSession('bench: raw loop', async ({ pkcs11, session }) => {
      const fromKek = findKek(pkcs11, session, from);
      const toKek = findKek(pkcs11, session, to);
      let bytes = 0;
      for (const blob of raw) {
        const dataKey = await pkcs11.C_UnwrapKeyAsync(session, KWP, fromKek, blob, rawDataKeyTemplate());
        try {
          bytes += (await pkcs11.C_WrapKeyAsync(session, KWP, toKek, dataKey, Buffer.alloc(64))).length;
        } finally {
          pkcs11.C_DestroyObject(session, dataKey);
        }
      }
      return bytes;
    });
    const keyrotorLoop = async (): Promise<number> => {
      let done = 0;
      for (let start = 0; start < blobs.length; start += batch) {
        const result = await rewrapDataKeys(open, { toFingerprint: to, items: blobs.slice(start, start + batch).map((wrapped) => ({ fromFingerprint: from, wrapped })) });
        done += result.items.filter((item) => item.ok).length;
      }
      return done;
    };

    // One of each first, unmeasured: the module's and V8's first calls.
    await rawLoop();
    await keyrotorLoop();
    const rawRates: number[] = [];
    const keyrotorRates: number[] = [];
    for (let round = 0; round < rounds; round += 1) {
      let started = performance.now();
      const bytes = await rawLoop();
      const rawSeconds = (performance.now() - started) / 1000;
      if (bytes !== 40 * items) throw new Error(`the raw loop wrapped ${bytes} bytes, not ${40 * items}`);
      started = performance.now();
      const done = await keyrotorLoop();
      const keyrotorSeconds = (performance.now() - started) / 1000;
      if (done !== items) throw new Error(`rewrapDataKeys rewrapped ${done} of ${items} items`);
      rawRates.push(items / rawSeconds);
      keyrotorRates.push(items / keyrotorSeconds);
      say(`round ${round + 1}/${rounds}: raw ${rawSeconds.toFixed(3)} s, rewrapDataKeys ${keyrotorSeconds.toFixed(3)} s`);
    }
    const rawRate = median(rawRates);
    const keyrotorRate = median(keyrotorRates);
    process.stdout.write(`${JSON.stringify({
      items,
      batch,
      rounds,
      rawPkcs11Loop: { itemsPerSecond: Math.round(rawRate) },
      rewrapDataKeys: { itemsPerSecond: Math.round(keyrotorRate) },
      ratioRewrapToRaw: Number((keyrotorRate / rawRate).toFixed(3)),
    }, null, 2)}\n`);
  } finally {
    await pool?.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/rewrap failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
