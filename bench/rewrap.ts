/**
 * Rewrap throughput: data keys of a managed aes-256 key moved from v1 to v2, three ways, on the whole system started
 * here (SoftHSM nodes, Temporal, PostgreSQL) and in the same run:
 *   - the baseline, a raw pkcs11js loop of C_UnwrapKey + C_WrapKey + C_DestroyObject on node 1's token, one session;
 *   - `rewrapDataKeys`, the adapter, called in batches on the same token;
 *   - POST /keys/:name/rewrap in batches, as an application calls it: the API's checks, an envelope operation workflow
 *     per batch, the activity on a node's queue, the usage records.
 * The same v1 blobs every round; the rounds alternate the three, so that a machine busy with other work slows all alike.
 *
 *   npx tsx bench/rewrap.ts [items=1000] [batch=100] [rounds=5]
 */
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as pkcs11js from 'pkcs11js';
import { rewrapDataKeys } from '../adapters/pkcs11/envelope';
import { TokenSessionPool } from '../adapters/pkcs11/session-pool';
import { readSecret } from '../adapters/secrets';
import { createToken } from '../adapters/postgres/token-repository';
import { parseCiphertext } from '../domain/keys/ciphertext';
import { MAX_ENVELOPE_BATCH } from '../domain/keys/envelope-access';
import { startSystem } from '../workers/system';
import { benchSystemConfig, createActiveKeys, operatorApi } from './system-support';
import { integerArgument } from './arguments';

const USAGE = 'usage: npx tsx bench/rewrap.ts [items=1000] [batch=100] [rounds=5]';

const argument = (index: number, fallback: number, low: number, high: number): number => integerArgument(USAGE, index, fallback, low, high);

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
  const batch = argument(3, 100, 1, MAX_ENVELOPE_BATCH);
  const rounds = argument(4, 5, 1, 1000);
  const { dataDir, config } = await benchSystemConfig();
  say(`starting the system in ${dataDir} ...`);
  const system = await startSystem(config, { log: () => undefined, listen: false, apiLogger: false });
  let pool: TokenSessionPool | undefined;
  try {
    const { call } = await operatorApi(system);
    const { token: encrypter } = await createToken(system.db, { name: 'bench encrypter', role: 'encrypter', actor: 'bench' });
    const asEncrypter = async (url: string, payload: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const reply = await system.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${encrypter}` }, payload });
      if (reply.statusCode !== 200) throw new Error(`POST ${url}: ${reply.statusCode} ${reply.body}`);
      return reply.json<Record<string, unknown>>();
    };
    const name = 'bench-kek';
    await createActiveKeys(call, [name], { type: 'aes-256' });
    say(`making ${items} data keys (32 bytes) under v1 through the API ...`);
    const ciphertexts: string[] = [];
    for (let i = 0; i < items; i += 1) ciphertexts.push((await asEncrypter(`/keys/${name}/datakey`, {})).ciphertext as string);
    await call('POST', `/keys/${name}/rotate`, { reason: 'bench' });
    const versions = (await call('GET', `/keys/${name}`)).versions as Array<{ version: number; fingerprint: string; state: string }>;
    const from = versions.find((v) => v.version === 1 && v.state === 'retiring')?.fingerprint;
    const to = versions.find((v) => v.version === 2 && v.state === 'active')?.fingerprint;
    if (!from || !to) throw new Error(`the key did not rotate to v2 with v1 retiring: ${JSON.stringify(versions)}`);
    const blobs = ciphertexts.map((text) => parseCiphertext(text, name).blob);
    const wrapped = blobs.map((blob) => blob.toString('base64'));

    const node = config.hsm.nodes[0];
    if (!node) throw new Error('the configuration has no HSM node');
    pool = TokenSessionPool.open({ nodeId: node.id, modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, 'pin'), size: 2 });
    const open = pool;

    const rawLoop = (): Promise<number> => open.withSession('bench: raw loop', async ({ pkcs11, session }) => {
      const fromKek = findKek(pkcs11, session, from);
      const toKek = findKek(pkcs11, session, to);
      let bytes = 0;
      for (const blob of blobs) {
        const dataKey = await pkcs11.C_UnwrapKeyAsync(session, KWP, fromKek, blob, rawDataKeyTemplate());
        try {
          bytes += (await pkcs11.C_WrapKeyAsync(session, KWP, toKek, dataKey, Buffer.alloc(64))).length;
        } finally {
          pkcs11.C_DestroyObject(session, dataKey);
        }
      }
      return bytes;
    });
    const adapterLoop = async (): Promise<number> => {
      let done = 0;
      for (let start = 0; start < wrapped.length; start += batch) {
        const result = await rewrapDataKeys(open, { toFingerprint: to, items: wrapped.slice(start, start + batch).map((blob) => ({ fromFingerprint: from, wrapped: blob })) });
        done += result.items.filter((item) => item.ok).length;
      }
      return done;
    };
    const apiLoop = async (): Promise<number> => {
      let done = 0;
      for (let start = 0; start < ciphertexts.length; start += batch) {
        const reply = await asEncrypter(`/keys/${name}/rewrap`, { batch: ciphertexts.slice(start, start + batch).map((ciphertext) => ({ ciphertext })) });
        done += (reply.batch as Array<{ version?: number }>).filter((item) => item.version === 2).length;
      }
      return done;
    };

    // One of each first, unmeasured: the module's, V8's and the workers' first calls.
    await rawLoop();
    await adapterLoop();
    await apiLoop();
    const rates = { raw: [] as number[], adapter: [] as number[], api: [] as number[] };
    for (let round = 0; round < rounds; round += 1) {
      let started = performance.now();
      const bytes = await rawLoop();
      const rawSeconds = (performance.now() - started) / 1000;
      if (bytes !== 40 * items) throw new Error(`the raw loop wrapped ${bytes} bytes, not ${40 * items}`);
      started = performance.now();
      const adapted = await adapterLoop();
      const adapterSeconds = (performance.now() - started) / 1000;
      started = performance.now();
      const answered = await apiLoop();
      const apiSeconds = (performance.now() - started) / 1000;
      if (adapted !== items || answered !== items) throw new Error(`rewrapped ${adapted} (adapter) and ${answered} (API) of ${items} items`);
      rates.raw.push(items / rawSeconds);
      rates.adapter.push(items / adapterSeconds);
      rates.api.push(items / apiSeconds);
      say(`round ${round + 1}/${rounds}: raw ${rawSeconds.toFixed(3)} s, rewrapDataKeys ${adapterSeconds.toFixed(3)} s, POST /rewrap ${apiSeconds.toFixed(3)} s`);
    }
    const raw = median(rates.raw);
    const adapter = median(rates.adapter);
    const api = median(rates.api);
    process.stdout.write(`${JSON.stringify({
      items,
      batch,
      rounds,
      rawPkcs11Loop: { itemsPerSecond: Math.round(raw) },
      rewrapDataKeys: { itemsPerSecond: Math.round(adapter), ratioToRaw: Number((adapter / raw).toFixed(3)) },
      apiRewrap: { itemsPerSecond: Math.round(api), ratioToRaw: Number((api / raw).toFixed(3)) },
    }, null, 2)}\n`);
  } finally {
    await pool?.close();
    await system.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/rewrap failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
