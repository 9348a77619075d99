import { randomBytes } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { createTransportKey, type TransportKey } from '../../adapters/crypto/transport-key';
import * as envelope from '../../adapters/pkcs11/envelope';
import { generateEncryptionKey, setEncryptionUsage } from '../../adapters/pkcs11/encryption-keys';
import { provisionCluster } from '../../adapters/pkcs11/provision';
import { TokenSessionPool } from '../../adapters/pkcs11/session-pool';
import { readSecret } from '../../adapters/secrets';
import { formatCiphertext, parseCiphertext } from '../../domain/keys/ciphertext';
import { encryptionUsageFor } from '../../domain/keys/encryption-usage';
import type { VersionState } from '../../domain/keys/key-model';
import { testConfig } from '../support/system';

/**
 * Envelope encryption on a real SoftHSM token: data keys made, opened and rewrapped under aes-256 KEK versions whose
 * usage follows their state, and the plaintext seen only through the transport key. After every call, failed ones
 * included, the token holds no session object.
 */

describe('envelope encryption on a SoftHSM token: data keys under KEK versions, opened only through the transport key', () => {
  let pool: TokenSessionPool;
  let transport: TransportKey;
  let v1: string;
  let v2: string;
  let v1DataKey: { wrapped: string; plaintext: Buffer };

  const setState = (fingerprint: string, state: VersionState, decryptAfterCompromise = true): Promise<unknown> =>
    setEncryptionUsage(pool, { keyType: 'aes-256', fingerprint, usage: encryptionUsageFor({ state, decryptAfterCompromise }) });

  /** The session objects this process's sessions can see, counted with raw calls. */
  const sessionObjects = (): Promise<number> =>
    pool.withSession('test: counting session objects', ({ pkcs11, session }) => {
      pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_TOKEN, value: false }]);
      try {
        return pkcs11.C_FindObjects(session, 1000).length;
      } finally {
        pkcs11.C_FindObjectsFinal(session);
      }
    });

  const refusedWith = (code: string, status: number): Error => expect.objectContaining({ code, status }) as Error;

  beforeAll(async () => {
    const config = await testConfig();
    await provisionCluster(config, () => undefined);
    const node = config.hsm.nodes[0];
    if (!node) throw new Error('the test configuration has no HSM node');
    pool = TokenSessionPool.open({ nodeId: node.id, modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, `node ${node.id}: PIN`), size: 3 });
    transport = await createTransportKey();
    v1 = (await generateEncryptionKey(pool, { keyType: 'aes-256', label: 'keyrotor:envelope-kek:v1' })).fingerprint;
    v2 = (await generateEncryptionKey(pool, { keyType: 'aes-256', label: 'keyrotor:envelope-kek:v2' })).fingerprint;
    await setState(v1, 'active');
  });

  afterAll(async () => {
    await pool?.close();
  });

  afterEach(async () => {
    expect(await sessionObjects()).toBe(0);
  });

  it('v1 active: makes data keys of 16, 24 and 32 bytes, wrapped under v1 and sealed to the transport key only', async () => {
    for (const bytes of [16, 24, 32] as const) {
      const made = await envelope.generateDataKey(pool, { kekFingerprint: v1, bytes, transportKey: transport.spki });
      expect(Buffer.from(made.wrapped, 'base64')).toHaveLength(bytes + 8);
      const plaintext = transport.open(made.plaintextForTransport as string);
      expect(plaintext).toHaveLength(bytes);
      if (bytes === 32) v1DataKey = { wrapped: made.wrapped, plaintext };
    }
    const withoutTransport = await envelope.generateDataKey(pool, { kekFingerprint: v1, bytes: 32, transportKey: null });
    expect(withoutTransport.plaintextForTransport).toBeNull();
    expect(Buffer.from(withoutTransport.wrapped, 'base64')).toHaveLength(40);
    // Two data keys are two keys: the HSM made them, nothing here chose them.
    expect(withoutTransport.wrapped).not.toBe(v1DataKey.wrapped);
  });

  it('unwrapDataKey gives back, sealed to the transport key, the plaintext generateDataKey gave', async () => {
    const opened = await envelope.unwrapDataKey(pool, { kekFingerprint: v1, wrapped: v1DataKey.wrapped, transportKey: transport.spki });
    expect(transport.open(opened.plaintextForTransport)).toEqual(v1DataKey.plaintext);
    // The text form carries the blob unchanged.
    const text = formatCiphertext({ key: 'invoices', version: 1, blob: Buffer.from(v1DataKey.wrapped, 'base64') });
    const again = await envelope.unwrapDataKey(pool, { kekFingerprint: v1, wrapped: parseCiphertext(text, 'invoices').blob.toString('base64'), transportKey: transport.spki });
    expect(transport.open(again.plaintextForTransport)).toEqual(v1DataKey.plaintext);
  });

  it('v2 active and v1 retiring: v1 wraps nothing (version_cannot_wrap, 409) but still unwraps', async () => {
    await setState(v2, 'active');
    await setState(v1, 'retiring');
    await expect(envelope.generateDataKey(pool, { kekFingerprint: v1, bytes: 32, transportKey: transport.spki })).rejects.toThrow(refusedWith('version_cannot_wrap', 409));
    const opened = await envelope.unwrapDataKey(pool, { kekFingerprint: v1, wrapped: v1DataKey.wrapped, transportKey: transport.spki });
    expect(transport.open(opened.plaintextForTransport)).toEqual(v1DataKey.plaintext);
  });

  it('rewrapDataKeys moves v1 blobs to v2 inside the HSM; bad items are answered one by one and the rest go on', async () => {
    const v2DataKey = await envelope.generateDataKey(pool, { kekFingerprint: v2, bytes: 32, transportKey: null });
    const tampered = Buffer.from(v1DataKey.wrapped, 'base64');
    tampered[17] = (tampered[17] as number) ^ 0x01;
    const missing = randomBytes(32).toString('hex');
    const result = await envelope.rewrapDataKeys(pool, {
      toFingerprint: v2,
      items: [
        { fromFingerprint: v1, wrapped: v1DataKey.wrapped },
        { fromFingerprint: v1, wrapped: tampered.toString('base64') },
        // A blob of another KEK, presented as v1's.
        { fromFingerprint: v1, wrapped: v2DataKey.wrapped },
        { fromFingerprint: v1, wrapped: Buffer.from(v1DataKey.wrapped, 'base64').subarray(0, 36).toString('base64') },
        { fromFingerprint: v1, wrapped: 'not base64!' },
        { fromFingerprint: missing, wrapped: v1DataKey.wrapped },
        { fromFingerprint: 'V1', wrapped: v1DataKey.wrapped },
        { fromFingerprint: v1, wrapped: v1DataKey.wrapped },
      ],
    });
    expect(result.items.map((item) => (item.ok ? 'ok' : item.code))).toEqual([
      'ok', 'invalid_ciphertext', 'invalid_ciphertext', 'invalid_ciphertext', 'invalid_ciphertext', 'hsm_key_not_found', 'invalid_fingerprint', 'ok',
    ]);
    expect(result.items[1]).toMatchObject({ message: expect.stringContaining('CKR_GENERAL_ERROR') });
    expect(result.items[3]).toMatchObject({ message: expect.stringContaining('36 bytes') });

    for (const item of [result.items[0], result.items[7]]) {
      if (!item?.ok) throw new Error('expected a rewrapped item');
      expect(item.wrapped).not.toBe(v1DataKey.wrapped);
      const opened = await envelope.unwrapDataKey(pool, { kekFingerprint: v2, wrapped: item.wrapped, transportKey: transport.spki });
      expect(transport.open(opened.plaintextForTransport)).toEqual(v1DataKey.plaintext);
      // Under v2 only: v1 does not open it.
      await expect(envelope.unwrapDataKey(pool, { kekFingerprint: v1, wrapped: item.wrapped, transportKey: transport.spki })).rejects.toThrow(refusedWith('invalid_ciphertext', 400));
    }
  });

  it('rewrap to the decrypt-only v1 fails the whole batch with version_cannot_wrap', async () => {
    await expect(envelope.rewrapDataKeys(pool, { toFingerprint: v1, items: [{ fromFingerprint: v1, wrapped: v1DataKey.wrapped }] }))
      .rejects.toThrow(refusedWith('version_cannot_wrap', 409));
  });

  it('a damaged or foreign blob is invalid_ciphertext (400) for unwrapDataKey too, and a missing KEK is hsm_key_not_found', async () => {
    const tampered = Buffer.from(v1DataKey.wrapped, 'base64');
    tampered[0] = (tampered[0] as number) ^ 0x80;
    await expect(envelope.unwrapDataKey(pool, { kekFingerprint: v1, wrapped: tampered.toString('base64'), transportKey: transport.spki })).rejects.toThrow(refusedWith('invalid_ciphertext', 400));
    await expect(envelope.unwrapDataKey(pool, { kekFingerprint: v2, wrapped: v1DataKey.wrapped, transportKey: transport.spki })).rejects.toThrow(refusedWith('invalid_ciphertext', 400));
    const missing = randomBytes(32).toString('hex');
    await expect(envelope.generateDataKey(pool, { kekFingerprint: missing, bytes: 16, transportKey: null })).rejects.toThrow(expect.objectContaining({ code: 'hsm_key_not_found', retryable: false }) as Error);
    await expect(envelope.unwrapDataKey(pool, { kekFingerprint: missing, wrapped: v1DataKey.wrapped, transportKey: transport.spki })).rejects.toThrow(expect.objectContaining({ code: 'hsm_key_not_found' }) as Error);
  });

  it('v1 switched fully off (compromised, no decrypt after compromise): unwrap fails with version_cannot_unwrap, per item in a rewrap', async () => {
    await setState(v1, 'compromised', false);
    await expect(envelope.unwrapDataKey(pool, { kekFingerprint: v1, wrapped: v1DataKey.wrapped, transportKey: transport.spki })).rejects.toThrow(refusedWith('version_cannot_unwrap', 409));
    const v2DataKey = await envelope.generateDataKey(pool, { kekFingerprint: v2, bytes: 16, transportKey: null });
    const result = await envelope.rewrapDataKeys(pool, { toFingerprint: v2, items: [{ fromFingerprint: v1, wrapped: v1DataKey.wrapped }, { fromFingerprint: v2, wrapped: v2DataKey.wrapped }] });
    expect(result.items.map((item) => (item.ok ? 'ok' : item.code))).toEqual(['version_cannot_unwrap', 'ok']);
  });

  it('refuses malformed requests before they reach the token, and no message holds key material', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    for (const transportKey of [ec, small, 'not base64', Buffer.from('not DER').toString('base64')]) {
      await expect(envelope.unwrapDataKey(pool, { kekFingerprint: v2, wrapped: v1DataKey.wrapped, transportKey })).rejects.toThrow(refusedWith('invalid_transport_key', 400));
    }
    await expect(envelope.generateDataKey(pool, { kekFingerprint: v2, bytes: 20 as 16, transportKey: null })).rejects.toThrow(refusedWith('invalid_data_key_size', 400));
    await expect(envelope.rewrapDataKeys(pool, { toFingerprint: v2, items: [] })).rejects.toThrow(refusedWith('invalid_batch', 400));
    const errors = await Promise.all([
      envelope.unwrapDataKey(pool, { kekFingerprint: v2, wrapped: v1DataKey.wrapped, transportKey: transport.spki }).catch((error: Error) => error.message),
      envelope.generateDataKey(pool, { kekFingerprint: v1, bytes: 32, transportKey: transport.spki }).catch((error: Error) => error.message),
    ]);
    for (const message of errors) {
      expect(message).not.toContain(v1DataKey.wrapped);
      expect(message).not.toContain(v1DataKey.plaintext.toString('base64'));
      expect(message).not.toContain(v1DataKey.plaintext.toString('hex'));
    }
  });
});
