import { JWS_ALGORITHM, KEY_TYPES, VERSION_STATES, validateKeyType, type VersionState } from '../../../domain/keys/key-model';
import { encryptionUsageFor, usageByObject, type EncryptionUsage } from '../../../domain/keys/encryption-usage';
import { DEFINED_KEY_TYPES, ENCRYPTION_KEY_TYPES, KEY_TYPE_PROFILES, SIGNING_KEY_TYPES, publishedJweAlgorithm } from '../../../domain/keys/key-types';

const usage = (flags: string): EncryptionUsage => ({ encrypt: flags[0] === 'E', wrap: flags[1] === 'W', decrypt: flags[2] === 'D', unwrap: flags[3] === 'U' });

describe('key types: one definition', () => {
  it('splits the defined types into the signing and the encryption family, and the lifecycle manages both', () => {
    expect(SIGNING_KEY_TYPES).toEqual(['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072']);
    expect(ENCRYPTION_KEY_TYPES).toEqual(['aes-256', 'rsa-oaep-2048', 'rsa-oaep-3072']);
    expect([...SIGNING_KEY_TYPES, ...ENCRYPTION_KEY_TYPES].sort()).toEqual([...DEFINED_KEY_TYPES].sort());
    expect(KEY_TYPES).toEqual(DEFINED_KEY_TYPES);
    expect(JWS_ALGORITHM).toEqual({ 'ec-p256': 'ES256', 'ec-p384': 'ES384', 'rsa-2048': 'RS256', 'rsa-3072': 'RS256' });
  });

  it('gives each type its objects, generation mechanism and publication', () => {
    expect(KEY_TYPE_PROFILES['aes-256']).toMatchObject({ keyKind: 'aes', generation: 'CKM_AES_KEY_GEN', size: { valueBytes: 32 }, mechanisms: ['CKM_AES_KEY_WRAP_PAD', 'CKM_AES_GCM'], objects: { secretKey: ['encrypt', 'decrypt', 'wrap', 'unwrap'] }, publication: null });
    expect(KEY_TYPE_PROFILES['rsa-oaep-3072']).toMatchObject({
      keyKind: 'rsa', generation: 'CKM_RSA_PKCS_KEY_PAIR_GEN', size: { modulusBits: 3072 }, mechanisms: ['CKM_RSA_PKCS_OAEP'],
      objects: { privateKey: ['decrypt', 'unwrap'], publicKey: ['encrypt', 'wrap'] },
      publication: { use: 'enc' },
    });
    expect(KEY_TYPE_PROFILES['ec-p384']).toMatchObject({ objects: { privateKey: ['sign'], publicKey: ['verify'] }, publication: { use: 'sig', alg: 'ES384' } });
  });

  it('publishes RSA-OAEP-256 where the module decrypts with SHA-256 OAEP, RSA-OAEP where it does SHA-1 only (SoftHSM 2.6)', () => {
    expect(publishedJweAlgorithm('rsa-oaep-2048', ['sha1', 'sha256'])).toBe('RSA-OAEP-256');
    expect(publishedJweAlgorithm('rsa-oaep-2048', ['sha1'])).toBe('RSA-OAEP');
    expect(publishedJweAlgorithm('rsa-oaep-3072', [])).toBeNull();
    expect(publishedJweAlgorithm('aes-256', ['sha1', 'sha256'])).toBeNull();
  });

  it('accepts every defined type at the API, the encryption types included, and nothing else', () => {
    for (const type of DEFINED_KEY_TYPES) expect(validateKeyType(type)).toBe(type);
    expect(() => validateKeyType('aes-128')).toThrow(expect.objectContaining({ code: 'invalid_key_type' }));
  });
});

describe('encryption usage by version state', () => {
  // E: encrypt, W: wrap, D: decrypt, U: unwrap; '-' for off.
  const table: Array<[VersionState, boolean, string]> = [
    ['pending', true, '--DU'],
    ['pending', false, '--DU'],
    ['active', true, 'EWDU'],
    ['active', false, 'EWDU'],
    ['retiring', true, '--DU'],
    ['retiring', false, '--DU'],
    ['compromised', true, '--DU'],
    ['compromised', false, '----'],
    ['archived', true, '----'],
    ['archived', false, '----'],
    ['purged', true, '----'],
    ['purged', false, '----'],
  ];

  it.each(table)('%s with decrypt after compromise %s: %s', (state, decryptAfterCompromise, flags) => {
    expect(encryptionUsageFor({ state, decryptAfterCompromise })).toEqual(usage(flags));
  });

  it('covers every version state, and only the active version encrypts or wraps', () => {
    expect(new Set(table.map(([state]) => state))).toEqual(new Set(VERSION_STATES));
    for (const state of VERSION_STATES) {
      for (const decryptAfterCompromise of [true, false]) {
        const { encrypt, wrap } = encryptionUsageFor({ state, decryptAfterCompromise });
        expect(encrypt || wrap).toBe(state === 'active');
      }
    }
  });

  it('an emergency switches encrypt and wrap off at once; the policy alone decides whether decrypt stays', () => {
    const before = encryptionUsageFor({ state: 'active', decryptAfterCompromise: false });
    const kept = encryptionUsageFor({ state: 'compromised', decryptAfterCompromise: true });
    const revoked = encryptionUsageFor({ state: 'compromised', decryptAfterCompromise: false });
    expect(before).toEqual(usage('EWDU'));
    expect(kept).toEqual(usage('--DU'));
    expect(revoked).toEqual(usage('----'));
  });

  it('puts each usage on the object that carries it', () => {
    const decryptOnly = usage('--DU');
    expect(usageByObject('aes-256', decryptOnly)).toEqual({ secretKey: { encrypt: false, wrap: false, decrypt: true, unwrap: true } });
    expect(usageByObject('rsa-oaep-2048', decryptOnly)).toEqual({ privateKey: { decrypt: true, unwrap: true }, publicKey: { encrypt: false, wrap: false } });
    expect(usageByObject('rsa-oaep-3072', usage('EWDU'))).toEqual({ privateKey: { decrypt: true, unwrap: true }, publicKey: { encrypt: true, wrap: true } });
  });

  it('returns a fresh object each time: a caller that edits one cannot change the table', () => {
    const first = encryptionUsageFor({ state: 'retiring', decryptAfterCompromise: true });
    first.encrypt = true;
    expect(encryptionUsageFor({ state: 'retiring', decryptAfterCompromise: true })).toEqual(usage('--DU'));
  });
});
