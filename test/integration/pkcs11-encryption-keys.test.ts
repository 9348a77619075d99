import { constants, createHash, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import * as encryption from '../../adapters/pkcs11/encryption-keys';
import { generateKeyPair } from '../../adapters/pkcs11/keys';
import { provisionCluster } from '../../adapters/pkcs11/provision';
import { TokenSessionPool } from '../../adapters/pkcs11/session-pool';
import { readSecret } from '../../adapters/secrets';
import type { HsmNodeConfig } from '../../domain/config';
import { CLUSTER_KEK_LABEL } from '../../domain/identifiers';
import { encryptionUsageFor, type EncryptionUsage } from '../../domain/keys/encryption-usage';
import { ENCRYPTION_KEY_TYPES, type EncryptionKeyType } from '../../domain/keys/key-types';
import { listTokenObjects, readPublicKeyDer, type TokenAccess } from '../support/pkcs11-listing';
import { testConfig } from '../support/system';

/**
 * Encryption keys on real SoftHSM tokens. keyrotor's adapter generates, replicates and switches them; whether a
 * version can still encrypt, wrap, decrypt or unwrap is checked with raw pkcs11js calls written here, and the objects'
 * attributes with pkcs11-tool.
 */

const usageOf = (state: 'pending' | 'active' | 'retiring' | 'compromised', decryptAfterCompromise = true): EncryptionUsage =>
  encryptionUsageFor({ state, decryptAfterCompromise });

type Raw = pkcs11js.PKCS11;
const CKR_NAMES = new Map(Object.entries(pkcs11js).filter(([name, value]) => name.startsWith('CKR_') && typeof value === 'number').map(([name, value]) => [value as number, name]));

/** 'CKR_OK' or the CKR name a raw call failed with. */
function outcome(work: () => unknown): string {
  try {
    work();
    return 'CKR_OK';
  } catch (error) {
    if (error instanceof pkcs11js.Pkcs11Error) return CKR_NAMES.get(error.code) ?? `CKR_0x${error.code.toString(16)}`;
    throw error;
  }
}

function objectOf(pkcs11: Raw, session: pkcs11js.Handle, objectClass: number, fingerprint: string): pkcs11js.Handle {
  pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: objectClass }, { type: pkcs11js.CKA_ID, value: Buffer.from(fingerprint, 'hex') }]);
  try {
    const found = pkcs11.C_FindObjects(session, 2);
    if (found.length !== 1) throw new Error(`${found.length} objects of class ${objectClass} carry ID ${fingerprint}`);
    return found[0] as pkcs11js.Handle;
  } finally {
    pkcs11.C_FindObjectsFinal(session);
  }
}

function gcm(iv: Buffer): pkcs11js.Mechanism {
  const parameter: pkcs11js.AesGCM = { type: pkcs11js.CK_PARAMS_AES_GCM_v240, iv, ivBits: 96, tagBits: 128 };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter };
}
const KWP: pkcs11js.Mechanism = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };
// SoftHSM 2.6 does OAEP with SHA-1 and MGF1-SHA1 only (JOSE RSA-OAEP). Source: CKZ_DATA_SPECIFIED with no label.
const OAEP_SHA1_PARAMETERS: pkcs11js.RsaOAEP = { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: pkcs11js.CKM_SHA_1, mgf: pkcs11js.CKG_MGF1_SHA1, source: 1 };
const OAEP_SHA1: pkcs11js.Mechanism = { mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, parameter: OAEP_SHA1_PARAMETERS };

/** A data key the way an application's would be made: a session AES-128 key, readable so both sides can compare it. */
const dataKeyTemplate = (): pkcs11js.Template => [
  { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
  { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
  { type: pkcs11js.CKA_TOKEN, value: false },
  { type: pkcs11js.CKA_SENSITIVE, value: false },
  { type: pkcs11js.CKA_EXTRACTABLE, value: true },
  { type: pkcs11js.CKA_ENCRYPT, value: true },
];
const valueOf = (pkcs11: Raw, session: pkcs11js.Handle, key: pkcs11js.Handle): Buffer =>
  pkcs11.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }])[0]?.value as Buffer;

/** What one node can still do with a version: each of the four operations tried with raw calls. */
interface Abilities { encrypt: string; wrap: string; decrypt: string; unwrap: string }

describe('encryption keys on SoftHSM tokens: generated, replicated and switched by state, witnessed by raw PKCS#11 calls', () => {
  let nodes: HsmNodeConfig[] = [];
  let pools: TokenSessionPool[] = [];
  const pool = (index: number): TokenSessionPool => pools[index] as TokenSessionPool;
  const access = (index: number): TokenAccess => {
    const node = nodes[index] as HsmNodeConfig;
    return { modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, `node ${node.id}: PIN`) };
  };
  const raw = <T>(index: number, what: string, work: (pkcs11: Raw, session: pkcs11js.Handle) => T | Promise<T>): Promise<T> =>
    pool(index).withSession(`test: ${what}`, ({ pkcs11, session }) => work(pkcs11, session));
  /** The usages pkcs11-tool lists for the key's objects, by class. */
  const listedUsage = (index: number, fingerprint: string): Record<string, string[]> =>
    Object.fromEntries(listTokenObjects(access(index)).filter((object) => object.idHex === fingerprint).map((object) => [object.class, [...object.usage].sort()]));

  beforeAll(async () => {
    const config = await testConfig();
    await provisionCluster(config, () => undefined);
    nodes = config.hsm.nodes;
    pools = nodes.map((node) =>
      TokenSessionPool.open({ nodeId: node.id, modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, `node ${node.id}: PIN`), size: 2 }));
  });

  afterAll(async () => {
    await Promise.all(pools.map((each) => each.close()));
  });

  describe.each(ENCRYPTION_KEY_TYPES)('%s', (keyType: EncryptionKeyType) => {
    const aes = keyType === 'aes-256';
    const label = `keyrotor:enc-${keyType}:v1`;
    let key: encryption.GenerateEncryptionKeyResult;
    let wrapped: encryption.WrapEncryptionKeyResult;
    const replicaInput = (usage: EncryptionUsage): encryption.ImportEncryptionReplicaInput => ({
      keyType, fingerprint: key.fingerprint, label: wrapped.label, wrapped: wrapped.wrapped, unwrappingKeyLabel: CLUSTER_KEK_LABEL, publicKey: wrapped.publicKey, usage,
    });

    /** Ciphertexts made while v1 was active on node 1, opened later on each node. */
    let sealed: { iv: Buffer; ciphertext: Buffer; plaintext: Buffer };
    let wrappedDataKey: { blob: Buffer; value: Buffer };

    /** Encrypts (GCM or OAEP) and wraps a data key with the version on a node; returns the outcomes and what was made. */
    const encryptAndWrap = (index: number): Promise<{ abilities: Pick<Abilities, 'encrypt' | 'wrap'>; sealed?: typeof sealed; wrappedDataKey?: typeof wrappedDataKey }> =>
      raw(index, 'encrypt and wrap with the version', (pkcs11, session) => {
        const versionKey = objectOf(pkcs11, session, aes ? pkcs11js.CKO_SECRET_KEY : pkcs11js.CKO_PUBLIC_KEY, key.fingerprint);
        const plaintext = randomBytes(48);
        const iv = randomBytes(12);
        let ciphertext: Buffer | undefined;
        const encrypt = outcome(() => {
          pkcs11.C_EncryptInit(session, aes ? gcm(iv) : OAEP_SHA1, versionKey);
          ciphertext = pkcs11.C_Encrypt(session, plaintext, Buffer.alloc(1024));
        });
        const dataKey = pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [...dataKeyTemplate(), { type: pkcs11js.CKA_VALUE_LEN, value: 16 }]);
        let blob: Buffer | undefined;
        try {
          const wrap = outcome(() => {
            blob = pkcs11.C_WrapKey(session, aes ? KWP : OAEP_SHA1, versionKey, dataKey, Buffer.alloc(1024));
          });
          return {
            abilities: { encrypt, wrap },
            sealed: ciphertext ? { iv, ciphertext, plaintext } : undefined,
            wrappedDataKey: blob ? { blob, value: valueOf(pkcs11, session, dataKey) } : undefined,
          };
        } finally {
          pkcs11.C_DestroyObject(session, dataKey);
        }
      });

    /** Opens the ciphertext and unwraps the data key made while v1 was active; both must give back what went in. */
    const decryptAndUnwrap = (index: number): Promise<Pick<Abilities, 'decrypt' | 'unwrap'>> =>
      raw(index, 'decrypt and unwrap with the version', (pkcs11, session) => {
        const versionKey = objectOf(pkcs11, session, aes ? pkcs11js.CKO_SECRET_KEY : pkcs11js.CKO_PRIVATE_KEY, key.fingerprint);
        const decrypt = outcome(() => {
          pkcs11.C_DecryptInit(session, aes ? gcm(sealed.iv) : OAEP_SHA1, versionKey);
          const opened = pkcs11.C_Decrypt(session, sealed.ciphertext, Buffer.alloc(1024));
          expect(opened.equals(sealed.plaintext)).toBe(true);
        });
        let unwrapped: pkcs11js.Handle | undefined;
        const unwrap = outcome(() => {
          unwrapped = pkcs11.C_UnwrapKey(session, aes ? KWP : OAEP_SHA1, versionKey, wrappedDataKey.blob, dataKeyTemplate());
        });
        if (unwrapped) {
          try {
            expect(valueOf(pkcs11, session, unwrapped).equals(wrappedDataKey.value)).toBe(true);
          } finally {
            pkcs11.C_DestroyObject(session, unwrapped);
          }
        }
        return { decrypt, unwrap };
      });

    const abilities = async (index: number): Promise<Abilities> => ({ ...(await encryptAndWrap(index)).abilities, ...(await decryptAndUnwrap(index)) });
    const OK = 'CKR_OK';
    const REFUSED = 'CKR_KEY_FUNCTION_NOT_PERMITTED';

    beforeAll(async () => {
      key = await encryption.generateEncryptionKey(pool(0), { keyType, label });
      wrapped = await encryption.wrapEncryptionKey(pool(0), { keyType, fingerprint: key.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL });
    });

    it('generates a pending version once: decrypt side on, encrypt side off, and a repeat returns the same key', async () => {
      expect(key.created).toBe(true);
      expect(key.fingerprint).toMatch(/^[0-9a-f]{64}$/);
      expect(await encryption.generateEncryptionKey(pool(0), { keyType, label })).toEqual({ ...key, created: false });
      if (aes) {
        expect(key.spki).toBeNull();
        expect(listedUsage(0, key.fingerprint)).toEqual({ secrkey: ['decrypt', 'unwrap'] });
      } else {
        const spki = Buffer.from(key.spki as string, 'base64');
        expect(key.fingerprint).toBe(createHash('sha256').update(spki).digest('hex'));
        expect(createPublicKey({ key: spki, format: 'der', type: 'spki' }).asymmetricKeyDetails?.modulusLength).toBe(keyType === 'rsa-oaep-2048' ? 2048 : 3072);
        expect(readPublicKeyDer(access(0), key.fingerprint).equals(spki)).toBe(true);
        expect(listedUsage(0, key.fingerprint)).toEqual({ privkey: ['decrypt', 'unwrap'], pubkey: [] });
      }
      expect(await encryption.readEncryptionUsage(pool(0), { keyType, fingerprint: key.fingerprint })).toEqual(usageOf('pending'));
    });

    if (aes) {
      it('fingerprints the AES key as documented, SHA-256(domain || AES-ECB_K(block)), never by its check value', async () => {
        const domain = Buffer.from('keyrotor aes-256 key fingerprint v1', 'ascii');
        const block = createHash('sha256').update(domain).digest().subarray(0, 16);
        // Recomputed here from the cluster-KEK blob: unwrapped on node 3 into a session key that may encrypt.
        const recomputed = await raw(2, 'recompute the fingerprint', (pkcs11, session) => {
          pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_LABEL, value: CLUSTER_KEK_LABEL }]);
          const [kek] = pkcs11.C_FindObjects(session, 1);
          pkcs11.C_FindObjectsFinal(session);
          const copy = pkcs11.C_UnwrapKey(session, KWP, kek as pkcs11js.Handle, Buffer.from(wrapped.wrapped, 'base64'), [
            { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }, { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
            { type: pkcs11js.CKA_TOKEN, value: false }, { type: pkcs11js.CKA_ENCRYPT, value: true },
          ]);
          try {
            pkcs11.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_ECB }, copy);
            const encrypted = pkcs11.C_Encrypt(session, block, Buffer.alloc(16));
            pkcs11.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_ECB }, copy);
            const zeros = pkcs11.C_Encrypt(session, Buffer.alloc(16), Buffer.alloc(16));
            return { fingerprint: createHash('sha256').update(domain).update(encrypted).digest('hex'), checkValue: zeros.subarray(0, 3).toString('hex') };
          } finally {
            pkcs11.C_DestroyObject(session, copy);
          }
        });
        expect(recomputed.fingerprint).toBe(key.fingerprint);
        expect(key.fingerprint).not.toContain(recomputed.checkValue);
        const other = await encryption.generateEncryptionKey(pool(0), { keyType, label: 'keyrotor:enc-aes-other:v1' });
        expect(other.fingerprint).not.toBe(key.fingerprint);
      });
    }

    it('replicates to node 2 under the cluster KEK, once, with the usage asked for', async () => {
      expect(wrapped).toMatchObject({ keyType, label });
      expect(wrapped.publicKey === null).toBe(aes);
      expect(await encryption.importEncryptionReplica(pool(1), replicaInput(usageOf('active')))).toEqual({ created: true });
      expect(await encryption.importEncryptionReplica(pool(1), replicaInput(usageOf('active')))).toEqual({ created: false });
      expect(await encryption.readEncryptionUsage(pool(1), { keyType, fingerprint: key.fingerprint })).toEqual(usageOf('active'));
      expect(listedUsage(1, key.fingerprint)).toEqual(aes ? { secrkey: ['decrypt', 'encrypt', 'unwrap', 'wrap'] } : { privkey: ['decrypt', 'unwrap'], pubkey: ['encrypt', 'wrap'] });
      if (!aes) expect(readPublicKeyDer(access(1), key.fingerprint).equals(Buffer.from(key.spki as string, 'base64'))).toBe(true);
    });

    it('active on both nodes: the replica opens what the original sealed and unwraps what it wrapped', async () => {
      expect(await encryption.setEncryptionUsage(pool(0), { keyType, fingerprint: key.fingerprint, usage: usageOf('active') })).toEqual({
        changed: aes ? ['secretKey.encrypt', 'secretKey.wrap'] : ['publicKey.encrypt', 'publicKey.wrap'],
      });
      const made = await encryptAndWrap(0);
      expect(made.abilities).toEqual({ encrypt: OK, wrap: OK });
      sealed = made.sealed as typeof sealed;
      wrappedDataKey = made.wrappedDataKey as typeof wrappedDataKey;
      expect(await decryptAndUnwrap(1)).toEqual({ decrypt: OK, unwrap: OK });
      expect(await decryptAndUnwrap(0)).toEqual({ decrypt: OK, unwrap: OK });
      // Only the type's mechanisms: an AES key that wraps with CBC could have the blob decrypted with CBC (the key in
      // clear), and an RSA key that decrypts PKCS#1 v1.5 is a padding oracle.
      const others = await raw(0, 'try mechanisms outside the type', (pkcs11, session) => {
        if (aes) {
          const versionKey = objectOf(pkcs11, session, pkcs11js.CKO_SECRET_KEY, key.fingerprint);
          const dataKey = pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [...dataKeyTemplate(), { type: pkcs11js.CKA_VALUE_LEN, value: 16 }]);
          try {
            return [
              outcome(() => pkcs11.C_WrapKey(session, { mechanism: pkcs11js.CKM_AES_CBC, parameter: Buffer.alloc(16) }, versionKey, dataKey, Buffer.alloc(256))),
              outcome(() => pkcs11.C_DecryptInit(session, { mechanism: pkcs11js.CKM_AES_CBC, parameter: Buffer.alloc(16) }, versionKey)),
              outcome(() => pkcs11.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_ECB }, versionKey)),
            ];
          } finally {
            pkcs11.C_DestroyObject(session, dataKey);
          }
        }
        // SoftHSM 2.6.1 does not apply CKA_ALLOWED_MECHANISMS to public-key encryption (CKM_RSA_PKCS answers CKR_OK):
        // harmless, since anyone holding the public key encrypts as they like; the private key is what it protects.
        const privateKey = objectOf(pkcs11, session, pkcs11js.CKO_PRIVATE_KEY, key.fingerprint);
        return [
          outcome(() => pkcs11.C_DecryptInit(session, { mechanism: pkcs11js.CKM_RSA_PKCS }, privateKey)),
          outcome(() => pkcs11.C_DecryptInit(session, { mechanism: pkcs11js.CKM_RSA_X_509 }, privateKey)),
          outcome(() => pkcs11.C_UnwrapKey(session, { mechanism: pkcs11js.CKM_RSA_PKCS }, privateKey, randomBytes(256), dataKeyTemplate())),
        ];
      });
      expect(others).toEqual(['CKR_MECHANISM_INVALID', 'CKR_MECHANISM_INVALID', 'CKR_MECHANISM_INVALID']);
      if (!aes) {
        // What an application holding the JWKS key does: RSA-OAEP (SHA-1) with node:crypto; the replica opens it.
        const plaintext = randomBytes(32);
        const ciphertext = publicEncrypt({ key: createPublicKey({ key: Buffer.from(key.spki as string, 'base64'), format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, plaintext);
        const opened = await raw(1, 'decrypt an application ciphertext', (pkcs11, session) => {
          pkcs11.C_DecryptInit(session, OAEP_SHA1, objectOf(pkcs11, session, pkcs11js.CKO_PRIVATE_KEY, key.fingerprint));
          return pkcs11.C_Decrypt(session, ciphertext, Buffer.alloc(1024));
        });
        expect(opened.equals(plaintext)).toBe(true);
      }
    });

    it('retiring on every node: encrypt and wrap refused, decrypt and unwrap still work; a retry changes nothing', async () => {
      for (const index of [0, 1]) {
        expect((await encryption.setEncryptionUsage(pool(index), { keyType, fingerprint: key.fingerprint, usage: usageOf('retiring') })).changed).toHaveLength(2);
        expect(await encryption.setEncryptionUsage(pool(index), { keyType, fingerprint: key.fingerprint, usage: usageOf('retiring') })).toEqual({ changed: [] });
        expect(await abilities(index)).toEqual({ encrypt: REFUSED, wrap: REFUSED, decrypt: OK, unwrap: OK });
      }
      // A replica made now is decrypt-only from the start.
      expect(await encryption.importEncryptionReplica(pool(2), replicaInput(usageOf('retiring')))).toEqual({ created: true });
      expect(await abilities(2)).toEqual({ encrypt: REFUSED, wrap: REFUSED, decrypt: OK, unwrap: OK });
    });

    it('an emergency without decrypt switches everything off on every node; with decrypt kept, old ciphertexts still open', async () => {
      for (const index of [0, 1, 2]) {
        await encryption.setEncryptionUsage(pool(index), { keyType, fingerprint: key.fingerprint, usage: usageOf('compromised', false) });
        expect(await abilities(index)).toEqual({ encrypt: REFUSED, wrap: REFUSED, decrypt: REFUSED, unwrap: REFUSED });
        expect(await encryption.readEncryptionUsage(pool(index), { keyType, fingerprint: key.fingerprint })).toEqual(usageOf('compromised', false));
      }
      // SoftHSM lets the switches come back on (CKR_OK): the lifecycle, not the token, keeps a compromised version off.
      await encryption.setEncryptionUsage(pool(1), { keyType, fingerprint: key.fingerprint, usage: usageOf('compromised', true) });
      expect(await abilities(1)).toEqual({ encrypt: REFUSED, wrap: REFUSED, decrypt: OK, unwrap: OK });
    });
  });

  describe('an interrupted generation is completed by the retry, never duplicated', () => {
    /** What a crash between generating and naming leaves: the objects with their label and an empty CKA_ID. */
    const clearIds = (label: string, classes: number[]): Promise<void> =>
      raw(0, 'clear CKA_ID', (pkcs11, session) => {
        for (const objectClass of classes) {
          pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: objectClass }, { type: pkcs11js.CKA_LABEL, value: label }]);
          const found = pkcs11.C_FindObjects(session, 4);
          pkcs11.C_FindObjectsFinal(session);
          for (const handle of found) pkcs11.C_SetAttributeValue(session, handle, [{ type: pkcs11js.CKA_ID, value: Buffer.alloc(0) }]);
        }
      });
    const withLabel = (label: string): Array<[string, string | null]> =>
      listTokenObjects(access(0)).filter((object) => object.label === label).map((object): [string, string | null] => [object.class, object.idHex]).sort();

    it('an AES key without its ID gets it, with the same fingerprint', async () => {
      const label = 'keyrotor:enc-unnamed-aes:v1';
      const first = await encryption.generateEncryptionKey(pool(0), { keyType: 'aes-256', label });
      await clearIds(label, [pkcs11js.CKO_SECRET_KEY]);
      expect(withLabel(label)).toEqual([['secrkey', null]]);
      expect((await encryption.generateEncryptionKey(pool(0), { keyType: 'aes-256', label })).fingerprint).toBe(first.fingerprint);
      expect(withLabel(label)).toEqual([['secrkey', first.fingerprint]]);
    });

    it('an RSA-OAEP pair named on one side only, or whose public key is lost, is completed', async () => {
      const label = 'keyrotor:enc-half-named-rsa:v1';
      const first = await encryption.generateEncryptionKey(pool(0), { keyType: 'rsa-oaep-2048', label });
      await clearIds(label, [pkcs11js.CKO_PRIVATE_KEY]);
      expect(await encryption.generateEncryptionKey(pool(0), { keyType: 'rsa-oaep-2048', label })).toEqual({ ...first, created: false });
      expect(withLabel(label)).toEqual([['privkey', first.fingerprint], ['pubkey', first.fingerprint]]);
      await raw(0, 'destroy the public key', (pkcs11, session) => pkcs11.C_DestroyObject(session, objectOf(pkcs11, session, pkcs11js.CKO_PUBLIC_KEY, first.fingerprint)));
      expect(await encryption.generateEncryptionKey(pool(0), { keyType: 'rsa-oaep-2048', label })).toEqual({ ...first, created: false });
      expect(readPublicKeyDer(access(0), first.fingerprint).equals(Buffer.from(first.spki as string, 'base64'))).toBe(true);
      expect(await encryption.readEncryptionUsage(pool(0), { keyType: 'rsa-oaep-2048', fingerprint: first.fingerprint })).toEqual(usageOf('pending'));
    });

    it('a label that names a signing key is refused', async () => {
      const label = 'keyrotor:enc-signing:v1';
      await generateKeyPair(pool(0), { keyType: 'rsa-2048', label });
      await expect(encryption.generateEncryptionKey(pool(0), { keyType: 'rsa-oaep-2048', label })).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('not a rsa-oaep-2048 key') });
    });
  });

  describe('replicas that fail their check', () => {
    it('a blob of another AES key, or of another RSA key, is refused and leaves nothing on the token', async () => {
      for (const keyType of ['aes-256', 'rsa-oaep-2048'] as const) {
        const a = await encryption.generateEncryptionKey(pool(0), { keyType, label: `keyrotor:check-${keyType}-a:v1` });
        const b = await encryption.generateEncryptionKey(pool(0), { keyType, label: `keyrotor:check-${keyType}-b:v1` });
        const wrappedA = await encryption.wrapEncryptionKey(pool(0), { keyType, fingerprint: a.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL });
        const wrappedB = await encryption.wrapEncryptionKey(pool(0), { keyType, fingerprint: b.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL });
        const input = { keyType, fingerprint: a.fingerprint, label: wrappedA.label, wrapped: wrappedB.wrapped, unwrappingKeyLabel: CLUSTER_KEK_LABEL, publicKey: wrappedA.publicKey, usage: usageOf('active') };
        await expect(encryption.importEncryptionReplica(pool(1), input)).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('replica check failed') });
        expect(listTokenObjects(access(1)).filter((object) => object.idHex === a.fingerprint || object.idHex === b.fingerprint)).toEqual([]);
        expect((await raw(1, 'count session objects', (pkcs11, session) => {
          pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_TOKEN, value: false }]);
          try {
            return pkcs11.C_FindObjects(session, 16);
          } finally {
            pkcs11.C_FindObjectsFinal(session);
          }
        })).length).toBe(0);
      }
    });

    it('refuses a malformed request before it reaches a token', async () => {
      await expect(encryption.generateEncryptionKey(pool(0), { keyType: 'ec-p256' as EncryptionKeyType, label: 'keyrotor:x:v1' })).rejects.toMatchObject({ code: 'invalid_key_type' });
      await expect(encryption.setEncryptionUsage(pool(0), { keyType: 'aes-256', fingerprint: 'ab'.repeat(32), usage: { encrypt: 'yes' } as unknown as EncryptionUsage })).rejects.toMatchObject({ code: 'invalid_usage' });
      await expect(encryption.setEncryptionUsage(pool(0), { keyType: 'aes-256', fingerprint: 'ab'.repeat(32), usage: usageOf('active') })).rejects.toMatchObject({ code: 'hsm_key_not_found', retryable: false });
    });
  });
});
