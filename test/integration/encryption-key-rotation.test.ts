import { createDecipheriv, randomBytes } from 'node:crypto';
import { CompactEncrypt, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import * as pkcs11js from 'pkcs11js';
import { readSecret } from '../../adapters/secrets';
import type { HsmNodeConfig } from '../../domain/config';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { decryptOaepByHand, listTokenObjects, type TokenAccess } from '../support/pkcs11-listing';
import { callApiAs, startTestSystem, testConfig, tokenFor, uniqueName } from '../support/system';

/**
 * Encryption keys rotated by the real stack (Temporal, SoftHSM, PostgreSQL), witnessed from outside keyrotor: what a
 * version may still do on each node is tried with the test's own pkcs11js calls, its usage flags and the JWE
 * decryption are read with pkcs11-tool in a separate process, and the JWE is made with jose from the JWKS.
 */

type KeyType = 'aes-256' | 'rsa-oaep-2048';
interface Version {
  version: number;
  state: string;
  kid: string;
  fingerprint: string;
  generatedOn: string;
}
interface KeyView {
  versions: Version[];
  waiting: { for: string } | null;
}
type EncJwk = JWK & { kid: string; use: string; alg: string };

type Raw = pkcs11js.PKCS11;
const CKR_NAMES = new Map(Object.entries(pkcs11js).filter(([name, value]) => name.startsWith('CKR_') && typeof value === 'number').map(([name, value]) => [value as number, name]));
const OK = 'CKR_OK';
const REFUSED = 'CKR_KEY_FUNCTION_NOT_PERMITTED';

/** 'CKR_OK' or the CKR name a raw call failed with; anything else (a failed expectation) is thrown on. */
function outcome(work: () => unknown): string {
  try {
    work();
    return OK;
  } catch (error) {
    if (error instanceof pkcs11js.Pkcs11Error) return CKR_NAMES.get(error.code) ?? `CKR_0x${error.code.toString(16)}`;
    throw error;
  }
}

const gcm = (iv: Buffer): pkcs11js.Mechanism => ({ mechanism: pkcs11js.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM_v240, iv, ivBits: 96, tagBits: 128 } as pkcs11js.AesGCM });
const KWP: pkcs11js.Mechanism = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };
// SoftHSM 2.6 does OAEP with SHA-1 and MGF1-SHA1 only (JOSE RSA-OAEP); source CKZ_DATA_SPECIFIED with no label.
const OAEP_SHA1: pkcs11js.Mechanism = { mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, parameter: { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: pkcs11js.CKM_SHA_1, mgf: pkcs11js.CKG_MGF1_SHA1, source: 1 } as pkcs11js.RsaOAEP };

/** An application's data key: a session AES-256 key, readable so that what an unwrap gives back can be compared. */
const DATA_KEY_TEMPLATE: pkcs11js.Template = [
  { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
  { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
  { type: pkcs11js.CKA_TOKEN, value: false },
  { type: pkcs11js.CKA_SENSITIVE, value: false },
  { type: pkcs11js.CKA_EXTRACTABLE, value: true },
];

/** One node's token as the test reaches it: its own session, and what pkcs11-tool needs. */
interface NodeToken {
  node: HsmNodeConfig;
  session: pkcs11js.Handle;
  access: TokenAccess;
}

/** Ciphertexts made with a version while it was active: a message (GCM or OAEP) and a wrapped data key. */
interface Sealed {
  plaintext: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  dataKey: Buffer;
  wrapped: Buffer;
}

type Usage = Record<'encrypt' | 'wrap' | 'decrypt' | 'unwrap', boolean>;
const ACTIVE: Usage = { encrypt: true, wrap: true, decrypt: true, unwrap: true };
const DECRYPT_ONLY: Usage = { encrypt: false, wrap: false, decrypt: true, unwrap: true };
const NONE: Usage = { encrypt: false, wrap: false, decrypt: false, unwrap: false };

/** The usage flags pkcs11-tool should list for a version's objects: the secret key, or the private and public key. */
function listing(keyType: KeyType, usage: Usage): Record<string, string[]> {
  const on = (names: Array<keyof Usage>): string[] => names.filter((name) => usage[name]).sort();
  return keyType === 'aes-256' ? { secrkey: on(['decrypt', 'encrypt', 'unwrap', 'wrap']) } : { privkey: on(['decrypt', 'unwrap']), pubkey: on(['encrypt', 'wrap']) };
}

/** The plaintext of a compact A256GCM JWE, given its content encryption key: the protected header is the AAD. */
function openJwe(jwe: string, cek: Buffer): Buffer {
  const [header, , iv, ciphertext, tag] = jwe.split('.') as [string, string, string, string, string];
  const decipher = createDecipheriv('aes-256-gcm', cek, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(header, 'ascii'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
}
const encryptedKeyOf = (jwe: string): Buffer => Buffer.from(jwe.split('.')[1] as string, 'base64url');

describe('encryption keys rotated on the real stack: each version switched on every node, seen from outside keyrotor', () => {
  let system: RunningSystem;
  let operator: string;
  let pkcs11: Raw;
  let tokens: NodeToken[] = [];

  beforeAll(async () => {
    system = await startTestSystem(await testConfig());
    operator = await tokenFor(system, 'operator');
    // A pkcs11js instance of the test's own on the module the workers use. The workers in this process initialised the
    // library and logged in (login state is per token per process), so this client never finalises it or logs out.
    pkcs11 = new pkcs11js.PKCS11();
    pkcs11.load((system.config.hsm.nodes[0] as HsmNodeConfig).modulePath);
    if (outcome(() => pkcs11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK })) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') throw new Error('the HSM workers should have initialised the module');
    tokens = system.config.hsm.nodes.map((node) => {
      // C_GetTokenInfo pads the label to 32 characters: on these tokens with NULs, not the spaces PKCS#11 prescribes.
      const slots = pkcs11.C_GetSlotList(true).filter((slot) => pkcs11.C_GetTokenInfo(slot).label.replace(/[\s\0]+$/, '') === node.tokenLabel);
      if (slots.length !== 1) throw new Error(`${slots.length} tokens are labelled ${node.tokenLabel}`);
      const session = pkcs11.C_OpenSession(slots[0] as pkcs11js.Handle, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      const pin = readSecret(node.pin, `node ${node.id}: PIN`);
      const login = outcome(() => pkcs11.C_Login(session, pkcs11js.CKU_USER, pin));
      if (login !== OK && login !== 'CKR_USER_ALREADY_LOGGED_IN') throw new Error(`C_Login on ${node.tokenLabel}: ${login}`);
      return { node, session, access: { modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin } };
    });
  });

  afterAll(async () => {
    for (const { session } of tokens) pkcs11.C_CloseSession(session);
    await system?.stop();
    pkcs11?.close();
  });

  const call = <T = Record<string, unknown>>(method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown) => callApiAs<T>(system, operator, method, url, payload);
  const keyView = async (name: string): Promise<KeyView> => (await call<KeyView>('GET', `/keys/${name}`)).body;
  const versionOf = async (name: string, version: number): Promise<Version> => {
    const found = (await keyView(name)).versions.find((v) => v.version === version);
    if (!found) throw new Error(`${name} has no v${version}`);
    return found;
  };
  const waitFor = (name: string, version: number, state: string, timeoutMs = 90_000): Promise<Version> =>
    eventually(async () => (await keyView(name)).versions.find((v) => v.version === version && v.state === state), `${name} v${version} ${state}`, timeoutMs);
  async function createKey(keyType: KeyType, policy: Record<string, unknown>): Promise<{ name: string; v1: Version }> {
    const name = uniqueName(keyType === 'aes-256' ? 'kek-' : 'oaep-');
    expect((await call('POST', '/keys', { name, type: keyType, policy: { publicationLead: '0s', ...policy } })).status).toBe(202);
    return { name, v1: await waitFor(name, 1, 'active') };
  }
  /** The `use: enc` keys the JWKS lists for this key's versions, fetched through the app as an application would. */
  async function encKeysOf(name: string): Promise<EncJwk[]> {
    const kids = new Set((await keyView(name)).versions.map((v) => v.kid));
    const reply = await system.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(reply.statusCode).toBe(200);
    return reply.json<{ keys: EncJwk[] }>().keys.filter((jwk) => kids.has(jwk.kid));
  }

  function objectOf(at: NodeToken, objectClass: number, fingerprint: string): pkcs11js.Handle {
    pkcs11.C_FindObjectsInit(at.session, [{ type: pkcs11js.CKA_CLASS, value: objectClass }, { type: pkcs11js.CKA_ID, value: Buffer.from(fingerprint, 'hex') }]);
    try {
      const found = pkcs11.C_FindObjects(at.session, 2);
      if (found.length !== 1) throw new Error(`${found.length} objects of class ${objectClass} carry ID ${fingerprint} on ${at.node.id}`);
      return found[0] as pkcs11js.Handle;
    } finally {
      pkcs11.C_FindObjectsFinal(at.session);
    }
  }

  /** Encrypts a message (GCM, or OAEP with the public key) and wraps a fresh session data key with the version on a node. */
  function seal(at: NodeToken, keyType: KeyType, fingerprint: string): { encrypt: string; wrap: string; sealed?: Sealed } {
    const aes = keyType === 'aes-256';
    const key = objectOf(at, aes ? pkcs11js.CKO_SECRET_KEY : pkcs11js.CKO_PUBLIC_KEY, fingerprint);
    const plaintext = randomBytes(aes ? 100 : 48);
    const iv = randomBytes(12);
    let ciphertext: Buffer | undefined;
    const encrypt = outcome(() => {
      pkcs11.C_EncryptInit(at.session, aes ? gcm(iv) : OAEP_SHA1, key);
      ciphertext = pkcs11.C_Encrypt(at.session, plaintext, Buffer.alloc(1024));
    });
    const dataKey = pkcs11.C_GenerateKey(at.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [...DATA_KEY_TEMPLATE, { type: pkcs11js.CKA_VALUE_LEN, value: 32 }]);
    try {
      let wrapped: Buffer | undefined;
      const wrap = outcome(() => {
        wrapped = pkcs11.C_WrapKey(at.session, aes ? KWP : OAEP_SHA1, key, dataKey, Buffer.alloc(1024));
      });
      const value = pkcs11.C_GetAttributeValue(at.session, dataKey, [{ type: pkcs11js.CKA_VALUE }])[0]?.value as Buffer;
      return { encrypt, wrap, ...(ciphertext && wrapped ? { sealed: { plaintext, iv, ciphertext, dataKey: value, wrapped } } : {}) };
    } finally {
      pkcs11.C_DestroyObject(at.session, dataKey);
    }
  }

  /** Decrypts the message and unwraps the data key with the version on a node; what comes out must be what went in. */
  function open(at: NodeToken, keyType: KeyType, fingerprint: string, sealed: Sealed): { decrypt: string; unwrap: string } {
    const aes = keyType === 'aes-256';
    const key = objectOf(at, aes ? pkcs11js.CKO_SECRET_KEY : pkcs11js.CKO_PRIVATE_KEY, fingerprint);
    const decrypt = outcome(() => {
      pkcs11.C_DecryptInit(at.session, aes ? gcm(sealed.iv) : OAEP_SHA1, key);
      expect(pkcs11.C_Decrypt(at.session, sealed.ciphertext, Buffer.alloc(1024)).toString('hex')).toBe(sealed.plaintext.toString('hex'));
    });
    let unwrapped: pkcs11js.Handle | undefined;
    const unwrap = outcome(() => {
      unwrapped = pkcs11.C_UnwrapKey(at.session, aes ? KWP : OAEP_SHA1, key, sealed.wrapped, DATA_KEY_TEMPLATE);
    });
    if (unwrapped) {
      try {
        expect((pkcs11.C_GetAttributeValue(at.session, unwrapped, [{ type: pkcs11js.CKA_VALUE }])[0]?.value as Buffer).toString('hex')).toBe(sealed.dataKey.toString('hex'));
      } finally {
        pkcs11.C_DestroyObject(at.session, unwrapped);
      }
    }
    return { decrypt, unwrap };
  }

  /** Seals under the version on every node, each of which must encrypt and wrap: what every node made. */
  function sealOnEveryNode(keyType: KeyType, fingerprint: string): Sealed[] {
    return tokens.map((at) => {
      const made = seal(at, keyType, fingerprint);
      expect({ node: at.node.id, encrypt: made.encrypt, wrap: made.wrap }).toEqual({ node: at.node.id, encrypt: OK, wrap: OK });
      return made.sealed as Sealed;
    });
  }

  /** On one node: what each of the four operations answers with the version, opening every node's ciphertexts. */
  function abilities(at: NodeToken, keyType: KeyType, fingerprint: string, sealed: Sealed[]) {
    const { encrypt, wrap } = seal(at, keyType, fingerprint);
    const opened = sealed.map((each) => open(at, keyType, fingerprint, each));
    return { node: at.node.id, encrypt, wrap, decrypt: [...new Set(opened.map((o) => o.decrypt))], unwrap: [...new Set(opened.map((o) => o.unwrap))] };
  }
  const expected = (at: NodeToken, usage: Usage) => ({
    node: at.node.id,
    encrypt: usage.encrypt ? OK : REFUSED,
    wrap: usage.wrap ? OK : REFUSED,
    decrypt: [usage.decrypt ? OK : REFUSED],
    unwrap: [usage.unwrap ? OK : REFUSED],
  });

  /** The usage flags of the version's objects on a node, as pkcs11-tool lists them, by class. */
  const listed = (at: NodeToken, fingerprint: string): Record<string, string[]> =>
    Object.fromEntries(listTokenObjects(at.access).filter((object) => object.idHex === fingerprint).map((object) => [object.class, [...object.usage].sort()]));

  describe.each<KeyType>(['aes-256', 'rsa-oaep-2048'])('%s', (keyType) => {
    it('a scheduled rotation leaves v1 decrypt-only on every node: its ciphertexts still open, it encrypts and wraps nothing more, v2 does', async () => {
      const { name, v1 } = await createKey(keyType, {});
      for (const at of tokens) expect(listed(at, v1.fingerprint)).toEqual(listing(keyType, ACTIVE));
      const sealed = sealOnEveryNode(keyType, v1.fingerprint);

      const rotated = await call<{ version: number }>('POST', `/keys/${name}/rotate`, { reason: 'scheduled' });
      expect(rotated).toMatchObject({ status: 200, body: { version: 2 } });
      expect((await keyView(name)).versions).toEqual([expect.objectContaining({ version: 1, state: 'retiring' }), expect.objectContaining({ version: 2, state: 'active' })]);
      const v2 = await versionOf(name, 2);

      for (const at of tokens) {
        expect(abilities(at, keyType, v1.fingerprint, sealed)).toEqual(expected(at, DECRYPT_ONLY));
        expect(listed(at, v1.fingerprint)).toEqual(listing(keyType, DECRYPT_ONLY));
        expect(listed(at, v2.fingerprint)).toEqual(listing(keyType, ACTIVE));
      }
      // v2 encrypts and wraps on every node, and what one node sealed another opens.
      const underV2 = sealOnEveryNode(keyType, v2.fingerprint);
      for (const at of tokens) expect(abilities(at, keyType, v2.fingerprint, underV2)).toEqual(expected(at, ACTIVE));
    });

    it('an emergency rotation under decryptAfterCompromise: false switches every use of v1 off on every node before anything else, then archives it', async () => {
      const { name, v1 } = await createKey(keyType, { decryptAfterCompromise: false });
      const sealed = sealOnEveryNode(keyType, v1.fingerprint);

      // A rotation normally archives the compromised version as soon as its successor is active, and a look at the
      // tokens would race with that. Holding the successor's generation (the `hold` entropy policy; the test system
      // harvests no entropy) keeps the rotation between its two halves: v1 is switched off and marked compromised
      // first, and nothing can archive it while the rotation is unfinished.
      expect((await call('PATCH', `/keys/${name}/policy`, { entropyPolicy: 'hold' })).status).toBe(200);
      const rotation = call<{ version: number; previous: { version: number; state: string } }>('POST', `/keys/${name}/rotate`, { reason: 'key material leaked', emergency: true });
      const held = await eventually(async () => {
        const view = await keyView(name);
        return view.versions.some((v) => v.version === 1 && v.state === 'compromised') && /entropy/.test(view.waiting?.for ?? '') ? view : undefined;
      }, `${name} v1 compromised and v2's generation held`);
      expect(held.versions.map((v) => v.version)).toEqual([1]);

      for (const at of tokens) {
        expect(abilities(at, keyType, v1.fingerprint, sealed)).toEqual(expected(at, NONE));
        expect(listed(at, v1.fingerprint)).toEqual(listing(keyType, NONE));
      }
      if (keyType !== 'aes-256') expect(await encKeysOf(name)).toEqual([]);

      // The hold lifted, the rotation completes, and v1 is archived without a grace period.
      expect((await call('PATCH', `/keys/${name}/policy`, { entropyPolicy: 'hsm-only' })).status).toBe(200);
      expect(await rotation).toMatchObject({ status: 200, body: { version: 2, previous: { version: 1, state: 'compromised' } } });
      await waitFor(name, 1, 'archived');
      const v2 = await versionOf(name, 2);
      for (const at of tokens) {
        // Only the secret side goes at the archive: an RSA public key stays (until the purge), and encrypts to nothing.
        expect(listed(at, v1.fingerprint)).toEqual(keyType === 'aes-256' ? {} : { pubkey: [] });
        if (keyType !== 'aes-256') expect(seal(at, keyType, v1.fingerprint)).toEqual({ encrypt: REFUSED, wrap: REFUSED });
        expect(listed(at, v2.fingerprint)).toEqual(listing(keyType, ACTIVE));
      }
      const underV2 = sealOnEveryNode(keyType, v2.fingerprint);
      for (const at of tokens) expect(abilities(at, keyType, v2.fingerprint, underV2)).toEqual(expected(at, ACTIVE));
      if (keyType !== 'aes-256') expect((await encKeysOf(name)).map((jwk) => jwk.kid)).toEqual([v2.kid]);
    });
  });

  it('a JWE made with jose from the JWKS opens with the HSM on a replica (pkcs11-tool), before and after a rotation; new JWEs go to v2', async () => {
    const { name, v1 } = await createKey('rsa-oaep-2048', {});
    const replicasOf = (version: Version): NodeToken[] => tokens.filter((at) => at.node.id !== version.generatedOn);
    expect(replicasOf(v1)).toHaveLength(tokens.length - 1);

    async function encryptTo(jwk: EncJwk, plaintext: Buffer): Promise<string> {
      return new CompactEncrypt(plaintext).setProtectedHeader({ alg: jwk.alg, enc: 'A256GCM', kid: jwk.kid }).encrypt(await importJWK(jwk, jwk.alg));
    }
    /** The JWE's content encryption key decrypted by pkcs11-tool with the version on each replica, then the JWE opened with it. */
    function openOnReplicas(jwe: string, version: Version): Buffer[] {
      return replicasOf(version).map((at) => {
        const cek = decryptOaepByHand(at.access, version.fingerprint, encryptedKeyOf(jwe));
        expect(cek).toHaveLength(32);
        return openJwe(jwe, cek);
      });
    }

    // The JWKS is read from the record, which the activation reaches a step after the workflow's state shows it.
    const [listedV1, ...others] = await eventually(async () => {
      const listedNow = await encKeysOf(name);
      return listedNow.length > 0 ? listedNow : undefined;
    }, `${name} v1 in the JWKS`);
    expect(others).toEqual([]);
    // SoftHSM 2.6 decrypts OAEP with SHA-1 only: the key's JWK says RSA-OAEP, not RSA-OAEP-256.
    expect(listedV1).toMatchObject({ kid: v1.kid, use: 'enc', alg: 'RSA-OAEP', kty: 'RSA' });
    const before = Buffer.from(`sealed to ${v1.kid} before the rotation`);
    const jweV1 = await encryptTo(listedV1 as EncJwk, before);
    expect(decodeProtectedHeader(jweV1)).toEqual({ alg: 'RSA-OAEP', enc: 'A256GCM', kid: v1.kid });
    expect(openOnReplicas(jweV1, v1).map(String)).toEqual([String(before), String(before)]);

    expect(await call('POST', `/keys/${name}/rotate`, { reason: 'scheduled' })).toMatchObject({ status: 200, body: { version: 2 } });
    const v2 = await versionOf(name, 2);
    // The retiring v1 is no longer offered to encrypt to; a new JWE goes to v2.
    const [listedV2, ...rest] = await encKeysOf(name);
    expect(rest).toEqual([]);
    expect(listedV2).toMatchObject({ kid: v2.kid, use: 'enc', alg: 'RSA-OAEP' });
    const after = Buffer.from(`sealed to ${v2.kid} after the rotation`);
    const jweV2 = await encryptTo(listedV2 as EncJwk, after);
    expect(decodeProtectedHeader(jweV2).kid).toBe(v2.kid);

    expect(openOnReplicas(jweV1, v1).map(String)).toEqual([String(before), String(before)]);
    expect(openOnReplicas(jweV2, v2).map(String)).toEqual([String(after), String(after)]);
    // The versions are different keys: v1 does not open what was sealed to v2.
    expect(() => decryptOaepByHand((replicasOf(v1)[0] as NodeToken).access, v1.fingerprint, encryptedKeyOf(jweV2))).toThrow(/pkcs11-tool --decrypt/);
  });
});
