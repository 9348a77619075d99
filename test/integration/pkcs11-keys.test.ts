import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as pkcs11js from 'pkcs11js';
import { ObjectClass, template } from '../../adapters/pkcs11/attributes';
import * as keys from '../../adapters/pkcs11/keys';
import { inspectNode } from '../../adapters/pkcs11/keymap-objects';
import { provisionCluster } from '../../adapters/pkcs11/provision';
import { spkiToPem } from '../../adapters/pkcs11/public-key';
import { TokenSessionPool } from '../../adapters/pkcs11/session-pool';
import { findObjects } from '../../adapters/pkcs11/token';
import { readSecret } from '../../adapters/secrets';
import type { HsmNodeConfig } from '../../domain/config';
import { ARCHIVE_KEK_LABEL, CLUSTER_KEK_LABEL } from '../../domain/identifiers';
import { JWS_ALGORITHM, SIGNING_KEY_TYPES as KEY_TYPES, type SigningKeyType as KeyType } from '../../domain/keys/key-types';
import { deleteObject, listTokenObjects, readPublicKeyDer, type TokenAccess, type TokenObject } from '../support/pkcs11-listing';
import { testConfig } from '../support/system';

const projectRoot = resolve(__dirname, '../..');

/**
 * Verifies a compact JWS with jose in a separate Node process, as an application would. jose 6 is ESM only and
 * Jest's CommonJS runtime on Node 20 cannot load it (`Must use import to load ES Module`).
 */
function joseVerify(jws: string, pem: string, alg: string): { payload: string; alg: string } {
  const script = `import { compactVerify, importSPKI } from 'jose';
let input = '';
for await (const chunk of process.stdin) input += chunk;
const { jws, pem, alg } = JSON.parse(input);
const { payload, protectedHeader } = await compactVerify(jws, await importSPKI(pem, alg));
process.stdout.write(JSON.stringify({ payload: new TextDecoder().decode(payload), alg: protectedHeader.alg }));`;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: projectRoot, input: JSON.stringify({ jws, pem, alg }), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  return JSON.parse(output) as { payload: string; alg: string };
}

const base64url = (text: string): string => Buffer.from(text).toString('base64url');

/** The folder of SoftHSM's file store that holds the token with this label (its token.object carries the label). */
function softHsmTokenFolder(tokenLabel: string): string {
  const conf = readFileSync(process.env.SOFTHSM2_CONF as string, 'utf8');
  const tokenDir = (/^directories\.tokendir\s*=\s*(.+)$/m.exec(conf)?.[1] ?? '').trim();
  const label = Buffer.from(`${tokenLabel}\0`);
  const folder = readdirSync(tokenDir).find((entry) => readFileSync(join(tokenDir, entry, 'token.object')).includes(label));
  if (!folder) throw new Error(`no SoftHSM token folder holds the label '${tokenLabel}'`);
  return join(tokenDir, folder);
}

/** The key objects' files in a token folder, each with its lock file (SoftHSM writes both, and removes both). */
const objectFiles = (folder: string): string[] => readdirSync(folder).filter((name) => /\.(object|lock)$/.test(name) && !name.startsWith('token.'));
const sha256Hex = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** An SPKI of another key of the same type, made by node:crypto. */
function otherSpki(keyType: KeyType): string {
  const pair = keyType.startsWith('ec-')
    ? generateKeyPairSync('ec', { namedCurve: keyType === 'ec-p256' ? 'P-256' : 'P-384' })
    : generateKeyPairSync('rsa', { modulusLength: keyType === 'rsa-2048' ? 2048 : 3072 });
  return pair.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
}

/** Checks a JWS-form signature with node:crypto alone. */
function nodeVerifies(spki: string, keyType: KeyType, data: Buffer, signature: string): boolean {
  const key = createPublicKey({ key: Buffer.from(spki, 'base64'), format: 'der', type: 'spki' });
  const hash = keyType === 'ec-p384' ? 'sha384' : 'sha256';
  return verify(hash, data, keyType.startsWith('ec-') ? { key, dsaEncoding: 'ieee-p1363' } : key, Buffer.from(signature, 'base64'));
}

describe('PKCS#11 key operations on three SoftHSM tokens, with pkcs11-tool as the independent witness', () => {
  let nodes: HsmNodeConfig[] = [];
  let pools: TokenSessionPool[] = [];

  const pool = (index: number): TokenSessionPool => pools[index] as TokenSessionPool;
  const access = (index: number): TokenAccess => {
    const node = nodes[index] as HsmNodeConfig;
    return { modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, `node ${node.id}: PIN`) };
  };
  const objects = (index: number): TokenObject[] => listTokenObjects(access(index));
  /** [class, CKA_ID] of the objects with this ID (or label), sorted. */
  const withId = (index: number, fingerprint: string): Array<[string, string | null]> =>
    objects(index).filter((object) => object.idHex === fingerprint).map((object): [string, string | null] => [object.class, object.idHex]).sort();
  const withLabel = (index: number, label: string): Array<[string, string | null]> =>
    objects(index).filter((object) => object.label === label).map((object): [string, string | null] => [object.class, object.idHex]).sort();
  /** The public key the token holds, made into SPKI DER without keyrotor's code: by OpenSC, or by node:crypto from the listed EC_POINT. */
  const tokenSpki = (index: number, fingerprint: string, keyType: KeyType): Buffer => {
    if (keyType !== 'ec-p384') return readPublicKeyDer(access(index), fingerprint);
    const listed = objects(index).find((object) => object.idHex === fingerprint && object.class === 'pubkey');
    expect(listed?.ecParamsHex).toBe('06052b81040022');
    // DER OCTET STRING header (04 61), then the uncompressed point 04 || x || y.
    const point = Buffer.from(listed?.ecPointHex ?? '', 'hex');
    expect([...point.subarray(0, 3)]).toEqual([0x04, 0x61, 0x04]);
    const jwk = { kty: 'EC', crv: 'P-384', x: point.subarray(3, 51).toString('base64url'), y: point.subarray(51).toString('base64url') };
    return createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' });
  };
  const sessionObjects = async (index: number): Promise<keys.KeyObjectListing[]> => (await keys.listKeyObjects(pool(index))).filter((object) => !object.token);

  const replicaInput = (key: keys.GenerateKeyPairResult, wrapped: keys.WrapPrivateKeyResult): keys.ImportReplicaInput => ({
    fingerprint: key.fingerprint,
    label: wrapped.label,
    keyType: wrapped.keyType,
    wrapped: wrapped.wrapped,
    unwrappingKeyLabel: CLUSTER_KEK_LABEL,
    publicKey: wrapped.publicKey,
  });

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

  describe.each(KEY_TYPES)('%s', (keyType) => {
    const label = `keyrotor:test-${keyType}:v1`;
    let key: keys.GenerateKeyPairResult;
    let wrapped: keys.WrapPrivateKeyResult;
    const imports: keys.ImportReplicaResult[] = [];

    beforeAll(async () => {
      key = await keys.generateKeyPair(pool(0), { keyType, label });
      wrapped = await keys.wrapPrivateKey(pool(0), { fingerprint: key.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL });
      for (const index of [1, 2]) imports.push(await keys.importReplica(pool(index), replicaInput(key, wrapped)));
    });

    it('generates on node 1 once: a repeat returns the same pair, and the token holds one private and one public object', async () => {
      expect(key.created).toBe(true);
      const spki = Buffer.from(key.spki, 'base64');
      expect(key.fingerprint).toBe(sha256Hex(spki));
      const details = createPublicKey({ key: spki, format: 'der', type: 'spki' }).asymmetricKeyDetails;
      expect(details).toMatchObject(
        { 'ec-p256': { namedCurve: 'prime256v1' }, 'ec-p384': { namedCurve: 'secp384r1' }, 'rsa-2048': { modulusLength: 2048, publicExponent: 65537n }, 'rsa-3072': { modulusLength: 3072, publicExponent: 65537n } }[keyType],
      );

      expect(await keys.generateKeyPair(pool(0), { keyType, label })).toEqual({ ...key, created: false });
      const mine = objects(0).filter((object) => object.label === label);
      expect(mine.map((object) => [object.class, object.idHex]).sort()).toEqual([['privkey', key.fingerprint], ['pubkey', key.fingerprint]]);
      // Only the usages asked for: SoftHSM would have added decrypt/unwrap and encrypt/wrap.
      expect(mine.find((object) => object.class === 'privkey')?.usage).toEqual(['sign']);
      expect(mine.find((object) => object.class === 'pubkey')?.usage).toEqual(['verify']);
      // The public key the token holds, read by another client, is the SPKI the fingerprint was made from.
      expect(tokenSpki(0, key.fingerprint, keyType).equals(spki)).toBe(true);
    });

    it('replicates to nodes 2 and 3 by wrapping under the cluster KEK, once', async () => {
      expect(wrapped).toMatchObject({ keyType, label });
      expect(imports).toEqual([{ created: true }, { created: true }]);
      for (const index of [1, 2]) {
        expect(await keys.importReplica(pool(index), replicaInput(key, wrapped))).toEqual({ created: false });
        expect(withLabel(index, label)).toEqual([['privkey', key.fingerprint], ['pubkey', key.fingerprint]]);
        expect(objects(index).find((object) => object.idHex === key.fingerprint && object.class === 'privkey')?.usage).toEqual(['sign']);
        expect(tokenSpki(index, key.fingerprint, keyType).equals(Buffer.from(key.spki, 'base64'))).toBe(true);
        expect(await keys.describeKey(pool(index), { fingerprint: key.fingerprint })).toEqual({ privateKey: true, publicKey: true, secretKey: false, canSign: true, label });
      }
    });

    it('signs on node 3 a JWS that jose verifies with the public key from node 1', async () => {
      const alg = JWS_ALGORITHM[keyType];
      const payload = JSON.stringify({ sub: 'payments', amount: 42 });
      const signingInput = `${base64url(JSON.stringify({ alg, kid: key.fingerprint }))}.${base64url(payload)}`;
      const signed = await keys.signDigest(pool(2), { fingerprint: key.fingerprint, data: Buffer.from(signingInput).toString('base64') });
      expect(signed.alg).toBe(alg);
      const signature = Buffer.from(signed.signature, 'base64').toString('base64url');
      const pem = spkiToPem(Buffer.from(key.spki, 'base64'));
      expect(joseVerify(`${signingInput}.${signature}`, pem, alg)).toEqual({ payload, alg });
      const forged = `${signingInput.split('.')[0]}.${base64url(JSON.stringify({ sub: 'payments', amount: 4200 }))}`;
      expect(() => joseVerify(`${forged}.${signature}`, pem, alg)).toThrow(/signature verification failed/);
    });

    it('setSigning(false) stops signing on that node only, and setSigning(true) restores it', async () => {
      const data = Buffer.from(`challenge for ${keyType}`);
      const request = { fingerprint: key.fingerprint, data: data.toString('base64') };
      expect(await keys.setSigning(pool(1), { fingerprint: key.fingerprint, enabled: false })).toEqual({ changed: true });
      try {
        expect(await keys.setSigning(pool(1), { fingerprint: key.fingerprint, enabled: false })).toEqual({ changed: false });
        await expect(keys.signDigest(pool(1), request)).rejects.toMatchObject({
          code: 'hsm_key_function_not_permitted',
          retryable: false,
          message: expect.stringContaining('signing turned off'),
        });
        expect(objects(1).find((object) => object.idHex === key.fingerprint && object.class === 'privkey')?.usage).toEqual([]);
        expect(await keys.describeKey(pool(1), { fingerprint: key.fingerprint })).toMatchObject({ canSign: false });
        const elsewhere = await keys.signDigest(pool(0), request);
        expect(nodeVerifies(key.spki, keyType, data, elsewhere.signature)).toBe(true);
      } finally {
        expect(await keys.setSigning(pool(1), { fingerprint: key.fingerprint, enabled: true })).toEqual({ changed: true });
      }
      const restored = await keys.signDigest(pool(1), request);
      expect(nodeVerifies(key.spki, keyType, data, restored.signature)).toBe(true);
    });

    it('verifyArchivedBlob proves an archive blob against the right SPKI only, and leaves no session object', async () => {
      const archived = await keys.wrapPrivateKey(pool(0), { fingerprint: key.fingerprint, wrappingKeyLabel: ARCHIVE_KEK_LABEL });
      const tokenObjectsBefore = objects(1).length;
      const check = { wrapped: archived.wrapped, keyType, unwrappingKeyLabel: ARCHIVE_KEK_LABEL };
      expect(await keys.verifyArchivedBlob(pool(1), { ...check, spki: key.spki })).toEqual({ matches: true });
      expect(await keys.verifyArchivedBlob(pool(1), { ...check, spki: otherSpki(keyType) })).toEqual({ matches: false });
      // The archive key is not the cluster key: an archive blob cannot be replayed as a replica.
      await expect(keys.verifyArchivedBlob(pool(1), { ...check, unwrappingKeyLabel: CLUSTER_KEK_LABEL, spki: key.spki })).rejects.toMatchObject({ retryable: false, ckr: 'CKR_GENERAL_ERROR' });
      expect(await sessionObjects(1)).toEqual([]);
      expect(objects(1)).toHaveLength(tokenObjectsBefore);
    });

    it('destroyKeyObjects removes the objects for good; a replica missing its private key is completed, not duplicated', async () => {
      const fingerprint = key.fingerprint;
      expect(await keys.destroyKeyObjects(pool(1), { fingerprint, privateKey: true, publicKey: false })).toEqual({ destroyed: 1, residue: 0 });
      expect(withId(1, fingerprint)).toEqual([['pubkey', fingerprint]]);
      expect(await keys.describeKey(pool(1), { fingerprint })).toEqual({ privateKey: false, publicKey: true, secretKey: false, canSign: null, label });
      await expect(keys.signDigest(pool(1), { fingerprint, data: 'AA==' })).rejects.toMatchObject({ code: 'hsm_key_not_found', retryable: false });

      expect(await keys.importReplica(pool(1), replicaInput(key, wrapped))).toEqual({ created: true });
      expect(withId(1, fingerprint)).toEqual([['privkey', fingerprint], ['pubkey', fingerprint]]);

      expect(await keys.destroyKeyObjects(pool(1), { fingerprint, privateKey: true, publicKey: true })).toEqual({ destroyed: 2, residue: 0 });
      expect(await keys.destroyKeyObjects(pool(1), { fingerprint, privateKey: true, publicKey: true })).toEqual({ destroyed: 0, residue: 0 });
      expect(withId(1, fingerprint)).toEqual([]);
      expect(await keys.describeKey(pool(1), { fingerprint })).toEqual({ privateKey: false, publicKey: false, secretKey: false, canSign: null, label: null });

      // Put the replica back so that the other tests of this key type do not depend on running before this one.
      expect(await keys.importReplica(pool(1), replicaInput(key, wrapped))).toEqual({ created: true });
    });
  });

  describe('replicas that fail their check', () => {
    it('a corrupted blob is refused without retry and leaves no object', async () => {
      const key = await keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label: 'keyrotor:corrupted:v1' });
      const wrapped = await keys.wrapPrivateKey(pool(0), { fingerprint: key.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL });
      const blob = Buffer.from(wrapped.wrapped, 'base64');
      blob[20] = (blob[20] as number) ^ 0x01;
      await expect(keys.importReplica(pool(1), { ...replicaInput(key, wrapped), wrapped: blob.toString('base64') })).rejects.toMatchObject({
        ckr: 'CKR_GENERAL_ERROR',
        retryable: false,
        message: expect.stringContaining('does not unwrap'),
      });
      expect(withId(1, key.fingerprint)).toEqual([]);
      expect(await sessionObjects(1)).toEqual([]);
      // The intact blob imports: the refusal came from the damage.
      expect(await keys.importReplica(pool(1), replicaInput(key, wrapped))).toEqual({ created: true });
    });

    it('a blob of another key, or the public key of another key, fails the check and what the call made is destroyed', async () => {
      const a = await keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label: 'keyrotor:check-a:v1' });
      const b = await keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label: 'keyrotor:check-b:v1' });
      const wrappedA = await keys.wrapPrivateKey(pool(0), { fingerprint: a.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL });
      const wrappedB = await keys.wrapPrivateKey(pool(0), { fingerprint: b.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL });

      await expect(keys.importReplica(pool(1), { ...replicaInput(a, wrappedA), wrapped: wrappedB.wrapped })).rejects.toMatchObject({
        retryable: false,
        message: expect.stringContaining('does not sign for public key'),
      });
      await expect(keys.importReplica(pool(1), { ...replicaInput(a, wrappedA), publicKey: wrappedB.publicKey })).rejects.toMatchObject({
        retryable: false,
        message: expect.stringContaining(`has fingerprint ${b.fingerprint}, not ${a.fingerprint}`),
      });
      expect(withId(1, a.fingerprint)).toEqual([]);
      expect(withId(1, b.fingerprint)).toEqual([]);
      expect(withLabel(1, 'keyrotor:check-a:v1')).toEqual([]);
    });
  });

  describe('half-made pairs are completed or cleaned up, never duplicated', () => {
    /** What a crash between C_GenerateKeyPair and naming the pair leaves: objects with the label and an empty CKA_ID. */
    const clearIds = (label: string, classes: number[]): Promise<void> =>
      pool(0).withSession('test: clearing CKA_ID', ({ pkcs11, session }) => {
        for (const keyClass of classes) {
          for (const handle of findObjects(pkcs11, session, template({ class: keyClass, label }))) {
            pkcs11.C_SetAttributeValue(session, handle, template({ id: Buffer.alloc(0) }));
          }
        }
      });

    it('an interrupted EC generation (private key without ID, no public key) is removed and generated anew', async () => {
      const label = 'keyrotor:interrupted-ec:v1';
      const first = await keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label });
      // What a crash right after C_GenerateKeyPair leaves once the public object is lost: a private key not yet named.
      await keys.destroyKeyObjects(pool(0), { fingerprint: first.fingerprint, privateKey: false, publicKey: true });
      await clearIds(label, [ObjectClass.privateKey]);
      expect(withLabel(0, label)).toEqual([['privkey', null]]);

      const second = await keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label });
      expect(second.created).toBe(true);
      expect(second.fingerprint).not.toBe(first.fingerprint);
      expect(withLabel(0, label)).toEqual([['privkey', second.fingerprint], ['pubkey', second.fingerprint]]);
    });

    it('an interrupted generation that named neither object gets its IDs', async () => {
      const label = 'keyrotor:unnamed:v1';
      const first = await keys.generateKeyPair(pool(0), { keyType: 'ec-p384', label });
      await clearIds(label, [ObjectClass.privateKey, ObjectClass.publicKey]);
      expect(await keys.generateKeyPair(pool(0), { keyType: 'ec-p384', label })).toEqual({ ...first, created: false });
      expect(withLabel(0, label)).toEqual([['privkey', first.fingerprint], ['pubkey', first.fingerprint]]);
    });

    it('a generation killed between naming its public and its private key is completed: the retry adopts the pair', async () => {
      const label = 'keyrotor:half-named:v1';
      const first = await keys.generateKeyPair(pool(0), { keyType: 'rsa-2048', label });
      // The public key carries its CKA_ID, the private one not yet: the two C_SetAttributeValue calls straddled the crash.
      await clearIds(label, [ObjectClass.privateKey]);
      expect(withLabel(0, label)).toEqual([['privkey', null], ['pubkey', first.fingerprint]]);
      expect(await keys.generateKeyPair(pool(0), { keyType: 'rsa-2048', label })).toEqual({ ...first, created: false });
      expect(withLabel(0, label)).toEqual([['privkey', first.fingerprint], ['pubkey', first.fingerprint]]);
    });

    it('a creation killed inside the library (a key object with neither label nor ID) is destroyed by the first creation of the next process, not by a running one\'s', async () => {
      // A half-named object (a label, no ID) is a retry's to settle, not debris.
      const halfNamed = await keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label: 'keyrotor:half-named-kept:v1' });
      await clearIds('keyrotor:half-named-kept:v1', [ObjectClass.privateKey]);
      // What SoftHSM leaves when its process dies between writing a new object and applying the template: the
      // library's defaults, no CKA_LABEL and no CKA_ID (seen after SIGKILLs of npm start).
      const debris = await keys.generateKeyPair(pool(0), { keyType: 'rsa-2048', label: 'keyrotor:debris:v1' });
      await keys.destroyKeyObjects(pool(0), { fingerprint: debris.fingerprint, privateKey: false, publicKey: true });
      await pool(0).withSession('test: unnaming a private key', ({ pkcs11, session }) => {
        for (const handle of findObjects(pkcs11, session, template({ class: ObjectClass.privateKey, label: 'keyrotor:debris:v1' }))) {
          pkcs11.C_SetAttributeValue(session, handle, template({ id: Buffer.alloc(0), label: '' }));
        }
      });
      const nameless = (): TokenObject[] => listTokenObjects(access(0)).filter((object) => object.class === 'privkey' && object.idHex === null && !object.label);
      expect(nameless()).toHaveLength(1);

      // A pool that has created already does not search the whole token again before each creation: a process that
      // runs leaves no such object of its own (one is left only by a process killed inside the library).
      const next = await keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label: 'keyrotor:after-debris:v1' });
      expect(next.created).toBe(true);
      expect(nameless()).toHaveLength(1);

      // The process that comes after the killed one: its pool sweeps before its first creation.
      const node = nodes[0] as HsmNodeConfig;
      const restarted = TokenSessionPool.open({ nodeId: node.id, modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, `node ${node.id}: PIN`), size: 1 });
      try {
        const first = await keys.generateKeyPair(restarted, { keyType: 'ec-p256', label: 'keyrotor:after-restart:v1' });
        expect(first.created).toBe(true);
      } finally {
        await restarted.close();
      }
      expect(nameless()).toEqual([]);
      expect(withLabel(0, 'keyrotor:half-named-kept:v1')).toEqual([['privkey', null], ['pubkey', halfNamed.fingerprint]]);
    });

    it('an EC private key that lost its public key is kept and refused: its public point cannot be recovered', async () => {
      const label = 'keyrotor:lost-public-ec:v1';
      const first = await keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label });
      await keys.destroyKeyObjects(pool(0), { fingerprint: first.fingerprint, privateKey: false, publicKey: true });
      await expect(keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label })).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('lost its public key') });
      expect(withLabel(0, label)).toEqual([['privkey', first.fingerprint]]);
    });

    it('an RSA private key that lost its public key gets it back, with the same fingerprint', async () => {
      const label = 'keyrotor:lost-public-rsa:v1';
      const first = await keys.generateKeyPair(pool(0), { keyType: 'rsa-2048', label });
      await keys.destroyKeyObjects(pool(0), { fingerprint: first.fingerprint, privateKey: false, publicKey: true });
      expect(await keys.generateKeyPair(pool(0), { keyType: 'rsa-2048', label })).toEqual({ ...first, created: false });
      expect(withLabel(0, label)).toEqual([['privkey', first.fingerprint], ['pubkey', first.fingerprint]]);
      expect(readPublicKeyDer(access(0), first.fingerprint).equals(Buffer.from(first.spki, 'base64'))).toBe(true);
    });

    it('an unnamed public key left alone is removed and a new pair takes the label', async () => {
      const label = 'keyrotor:lost-private:v1';
      const first = await keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label });
      await keys.destroyKeyObjects(pool(0), { fingerprint: first.fingerprint, privateKey: true, publicKey: false });
      await clearIds(label, [ObjectClass.publicKey]);
      expect(withLabel(0, label)).toEqual([['pubkey', null]]);
      const second = await keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label });
      expect(second.created).toBe(true);
      expect(withLabel(0, label)).toEqual([['privkey', second.fingerprint], ['pubkey', second.fingerprint]]);
    });

    it('the public key an archived key leaves behind is kept, and its label is refused for a new pair', async () => {
      const label = 'keyrotor:archived:v1';
      const first = await keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label });
      await keys.destroyKeyObjects(pool(0), { fingerprint: first.fingerprint, privateKey: true, publicKey: false });
      await expect(keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label })).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('whose private key is gone') });
      expect(withLabel(0, label)).toEqual([['pubkey', first.fingerprint]]);
    });

    it('a label already used by another key type is refused', async () => {
      const label = 'keyrotor:typed:v1';
      await keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label });
      await expect(keys.generateKeyPair(pool(0), { keyType: 'ec-p384', label })).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('already names a ec-p256 key') });
    });

    it('two overlapping calls with one label make one pair', async () => {
      const label = 'keyrotor:overlap:v1';
      const results = await Promise.all([keys.generateKeyPair(pool(0), { keyType: 'rsa-2048', label }), keys.generateKeyPair(pool(0), { keyType: 'rsa-2048', label })]);
      expect(results.map((result) => result.created).sort()).toEqual([false, true]);
      expect(results[0]?.fingerprint).toBe(results[1]?.fingerprint);
      expect(withLabel(0, label)).toEqual([['privkey', results[0]?.fingerprint], ['pubkey', results[0]?.fingerprint]]);
    });
  });

  describe('the handles a pool keeps', () => {
    it('a key another process destroyed is missing at once, and what is made again under its ID is found', async () => {
      const key = await keys.generateKeyPair(pool(2), { keyType: 'ec-p256', label: 'keyrotor:destroyed-elsewhere:v1' });
      const data = randomBytes(32).toString('base64');
      // The pool holds the pair's handles from the generation; signing uses them.
      expect((await keys.signDigest(pool(2), { fingerprint: key.fingerprint, data })).alg).toBe('ES256');

      // pkcs11-tool, another process, destroys the private key: the pool's handle no longer names it.
      deleteObject(access(2), 'privkey', { idHex: key.fingerprint });
      await expect(keys.signDigest(pool(2), { fingerprint: key.fingerprint, data })).rejects.toBeInstanceOf(keys.KeyNotFoundError);
      await expect(keys.setSigning(pool(2), { fingerprint: key.fingerprint, enabled: false })).rejects.toBeInstanceOf(keys.KeyNotFoundError);
      await expect(keys.wrapPrivateKey(pool(2), { fingerprint: key.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL })).rejects.toBeInstanceOf(keys.KeyNotFoundError);

      // A replica of another key imported under the same node is found by its own ID, not through a stale handle.
      const other = await keys.generateKeyPair(pool(0), { keyType: 'ec-p256', label: 'keyrotor:made-elsewhere:v1' });
      const wrapped = await keys.wrapPrivateKey(pool(0), { fingerprint: other.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL });
      expect(await keys.importReplica(pool(2), replicaInput(other, wrapped))).toEqual({ created: true });
      const signed = await keys.signDigest(pool(2), { fingerprint: other.fingerprint, data });
      expect(nodeVerifies(other.spki, 'ec-p256', Buffer.from(data, 'base64'), signed.signature)).toBe(true);
      // An import again is answered from the handles the pool knows, and changes nothing.
      expect(await keys.importReplica(pool(2), replicaInput(other, wrapped))).toEqual({ created: false });
      expect(withId(2, other.fingerprint)).toEqual([['privkey', other.fingerprint], ['pubkey', other.fingerprint]]);
    });

    it('a wrapping key another process replaced is found again by its label', async () => {
      const label = 'keyrotor-test-kek-replaced';
      const makeKek = (): Promise<void> => pool(1).withSession('test: a wrapping key', ({ pkcs11, session }) => {
        pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, template({
          class: ObjectClass.secretKey, token: true, valueLen: 32, wrap: true, unwrap: true, extractable: false, sensitive: true, label,
        }));
      });
      const lookUp = (): Promise<string> => pool(1).withSession('test: the wrapping key', (session) => keys.findWrappingKey(session, label).toString('hex'));
      await makeKek();
      const first = await lookUp();
      expect(await lookUp()).toBe(first);
      deleteObject(access(1), 'secrkey', { label });
      await expect(lookUp()).rejects.toMatchObject({ retryable: false, message: expect.stringContaining(`no wrapping key labelled '${label}'`) });
      await makeKek();
      const second = await lookUp();
      expect(second).not.toBe(first);
      // Two of them are refused, as on the first search: the handle kept for one does not hide the other.
      deleteObject(access(1), 'secrkey', { label });
      await makeKek();
      await makeKek();
      await expect(lookUp()).rejects.toMatchObject({ message: expect.stringContaining(`2 secret keys are labelled '${label}'`) });
      deleteObject(access(1), 'secrkey', { label });
      deleteObject(access(1), 'secrkey', { label });
    });
  });

  describe('token-wide operations', () => {
    it('the key map inspection destroys unfinished key objects (no label, no ID) and leaves a named stranger', async () => {
      const unnamed = await keys.generateKeyPair(pool(1), { keyType: 'ec-p256', label: 'keyrotor:cut-off:v1' });
      const stranger = await keys.generateKeyPair(pool(1), { keyType: 'ec-p256', label: 'someone-else' });
      // What a creation cut off inside the library leaves: an object without label and ID.
      await pool(1).withSession('test: unnaming a private key', ({ pkcs11, session }) => {
        for (const handle of findObjects(pkcs11, session, template({ class: ObjectClass.privateKey, label: 'keyrotor:cut-off:v1' }))) {
          pkcs11.C_SetAttributeValue(session, handle, template({ id: Buffer.alloc(0), label: '' }));
        }
      });
      const unnamedNow = (): TokenObject[] => objects(1).filter((object) => object.class === 'privkey' && object.idHex === null && (object.label ?? '') === '');
      expect(unnamedNow()).toHaveLength(1);
      const inspection = await inspectNode(pool(1), { expected: { digest: '', epoch: 0 }, current: null, signingKey: null });
      expect(inspection.reachable).toBe(true);
      expect(unnamedNow()).toEqual([]);
      expect(withId(1, unnamed.fingerprint)).toEqual([['pubkey', unnamed.fingerprint]]);
      expect(withLabel(1, 'someone-else')).toEqual([['privkey', stranger.fingerprint], ['pubkey', stranger.fingerprint]]);
    });

    it('a destruction is confirmed by a fresh module instance, which destroys what the token kept but this process no longer lists', async () => {
      const folder = softHsmTokenFolder((nodes[1] as HsmNodeConfig).tokenLabel);
      const before = new Set(objectFiles(folder));
      const key = await keys.generateKeyPair(pool(1), { keyType: 'ec-p256', label: 'keyrotor:kept-by-the-token:v1' });
      const files = objectFiles(folder).filter((name) => !before.has(name)).map((name) => ({ name, bytes: readFileSync(join(folder, name)) }));
      expect(files.map(({ name }) => name.replace(/^.*\./, '')).sort()).toEqual(['lock', 'lock', 'object', 'object']);

      // A destruction the token carries out: nothing is left for the fresh instance.
      expect(await keys.destroyKeyObjects(pool(1), { fingerprint: key.fingerprint, privateKey: true, publicKey: true })).toEqual({ destroyed: 2, residue: 0 });
      expect(withId(1, key.fingerprint)).toEqual([]);

      // The object files back on disk, as a stale writer leaves them (SoftHSMv2 #903). Any other process sees the key
      // again; this process's module never will, since it already knows the files' names.
      for (const { name, bytes } of files) writeFileSync(join(folder, name), bytes);
      expect(withId(1, key.fingerprint)).toEqual([['privkey', key.fingerprint], ['pubkey', key.fingerprint]]);
      expect(await keys.describeKey(pool(1), { fingerprint: key.fingerprint })).toMatchObject({ privateKey: false, publicKey: false });

      expect(await keys.destroyKeyObjects(pool(1), { fingerprint: key.fingerprint, privateKey: true, publicKey: true })).toEqual({ destroyed: 2, residue: 2 });
      expect(withId(1, key.fingerprint)).toEqual([]);
      expect(objectFiles(folder).filter((name) => files.some((file) => file.name === name))).toEqual([]);
    });

    it('listKeyObjects names every key object, the wrapping keys included', async () => {
      const key = await keys.generateKeyPair(pool(2), { keyType: 'rsa-3072', label: 'keyrotor:listed:v1' });
      const listing = await keys.listKeyObjects(pool(2));
      expect(listing).toEqual(expect.arrayContaining([
        { class: 'privateKey', idHex: key.fingerprint, label: 'keyrotor:listed:v1', keyType: 'rsa-3072', canSign: true, token: true },
        { class: 'publicKey', idHex: key.fingerprint, label: 'keyrotor:listed:v1', keyType: 'rsa-3072', canSign: null, token: true },
        { class: 'secretKey', idHex: Buffer.from(CLUSTER_KEK_LABEL).toString('hex'), label: CLUSTER_KEK_LABEL, keyType: 'aes-256', canSign: false, token: true },
        { class: 'secretKey', idHex: Buffer.from(ARCHIVE_KEK_LABEL).toString('hex'), label: ARCHIVE_KEK_LABEL, keyType: 'aes-256', canSign: false, token: true },
      ]));
      // The same objects pkcs11-tool sees (it lists the token objects; there are no session objects here).
      const seen = objects(2).map((object) => `${object.class}:${object.idHex}`).sort();
      expect(listing.map((object) => `${{ privateKey: 'privkey', publicKey: 'pubkey', secretKey: 'secrkey' }[object.class]}:${object.idHex}`).sort()).toEqual(seen);
    });

    it('listKeyObjects shows session objects made on another session, so a leaked temporary key would be seen', async () => {
      const made = await pool(2).withSession('test: a session key', ({ pkcs11, session }) =>
        pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, template({ token: false, valueLen: 16, label: 'test-session-key', sign: false })));
      try {
        expect(await sessionObjects(2)).toEqual([expect.objectContaining({ class: 'secretKey', label: 'test-session-key', keyType: 'aes-128', token: false })]);
      } finally {
        await pool(2).withSession('test: removing the session key', ({ pkcs11, session }) => pkcs11.C_DestroyObject(session, made));
      }
      expect(await sessionObjects(2)).toEqual([]);
    });

    it('seedRandom takes entropy without complaint and refuses an empty seed', async () => {
      expect(await keys.seedRandom(pool(0), { seed: randomBytes(48).toString('base64') })).toEqual({});
      await expect(keys.seedRandom(pool(0), { seed: '' })).rejects.toMatchObject({ code: 'invalid_base64', retryable: false });
    });

    it('a key the node does not hold is described as absent and refused for signing and wrapping', async () => {
      const fingerprint = sha256Hex(randomBytes(16));
      expect(await keys.describeKey(pool(0), { fingerprint })).toEqual({ privateKey: false, publicKey: false, secretKey: false, canSign: null, label: null });
      await expect(keys.signDigest(pool(0), { fingerprint, data: 'AA==' })).rejects.toMatchObject({ code: 'hsm_key_not_found', retryable: false });
      await expect(keys.wrapPrivateKey(pool(0), { fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL })).rejects.toMatchObject({ code: 'hsm_key_not_found' });
      await expect(keys.describeKey(pool(0), { fingerprint: 'ABC' })).rejects.toMatchObject({ code: 'invalid_fingerprint', retryable: false });
    });
  });
});
