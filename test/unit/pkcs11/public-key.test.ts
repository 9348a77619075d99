import { createHash, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  componentsFromJson,
  componentsFromSpki,
  componentsToJson,
  decodeBase64,
  fingerprintOf,
  keyTypeOfComponents,
  spkiFromComponents,
  spkiToJwk,
  spkiToPem,
  verifySignature,
} from '../../../adapters/pkcs11/public-key';
import { SIGNING_KEY_TYPES as KEY_TYPES, type SigningKeyType as KeyType } from '../../../domain/keys/key-types';

function nodeKeyPair(keyType: KeyType): { publicKey: KeyObject; privateKey: KeyObject } {
  switch (keyType) {
    case 'ec-p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'ec-p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'rsa-2048':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'rsa-3072':
      return generateKeyPairSync('rsa', { modulusLength: 3072 });
  }
}

/** Signs as a JWS signer: raw r||s for ECDSA. */
function nodeSign(keyType: KeyType, privateKey: KeyObject, data: Buffer): Buffer {
  if (keyType === 'ec-p384') return sign('sha384', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  if (keyType === 'ec-p256') return sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return sign('sha256', data, privateKey);
}

describe.each(KEY_TYPES)('public key conversions for %s, against keys made by node:crypto', (keyType) => {
  const { publicKey, privateKey } = nodeKeyPair(keyType);
  const spki = publicKey.export({ type: 'spki', format: 'der' });

  it('turns the SPKI into PKCS#11 components and back into the same DER bytes, so every node derives one fingerprint', () => {
    const components = componentsFromSpki(spki);
    expect(keyTypeOfComponents(components)).toBe(keyType);
    expect(spkiFromComponents(components).equals(spki)).toBe(true);
    expect(spkiFromComponents(componentsFromJson(componentsToJson(components))).equals(spki)).toBe(true);
  });

  it('writes the components as PKCS#11 stores them', () => {
    const components = componentsFromSpki(spki);
    const jwk = publicKey.export({ format: 'jwk' });
    if (keyType.startsWith('ec-')) {
      if (!('ecParams' in components)) throw new Error('EC key without EC components');
      const coordinate = keyType === 'ec-p256' ? 32 : 48;
      expect(components.ecParams.toString('hex')).toBe(keyType === 'ec-p256' ? '06082a8648ce3d030107' : '06052b81040022');
      // DER OCTET STRING (04, length) around the uncompressed point 04 || x || y.
      expect([...components.ecPoint.subarray(0, 3)]).toEqual([0x04, 1 + 2 * coordinate, 0x04]);
      expect(components.ecPoint.subarray(3, 3 + coordinate).toString('base64url')).toBe(jwk.x);
      expect(components.ecPoint.subarray(3 + coordinate).toString('base64url')).toBe(jwk.y);
    } else {
      if (!('modulus' in components)) throw new Error('RSA key without RSA components');
      expect(components.modulus.toString('base64url')).toBe(jwk.n);
      expect(components.publicExponent.toString('hex')).toBe('010001');
    }
  });

  it('gives the fingerprint, JWK and PEM that node:crypto gives', () => {
    expect(fingerprintOf(spki)).toBe(createHash('sha256').update(spki).digest('hex'));
    expect(spkiToJwk(spki)).toEqual(publicKey.export({ format: 'jwk' }));
    expect(spkiToPem(spki)).toBe(publicKey.export({ type: 'spki', format: 'pem' }));
  });

  it('verifies a JWS-form signature of the key, and refuses altered data and another key', () => {
    const data = Buffer.from('eyJhbGciOiJ4In0.eyJzdWIiOiJ0ZXN0In0');
    const signature = nodeSign(keyType, privateKey, data);
    expect(verifySignature(spki, keyType, data, signature)).toBe(true);
    expect(verifySignature(spki, keyType, Buffer.concat([data, Buffer.from('.')]), signature)).toBe(false);
    const other = nodeKeyPair(keyType).publicKey.export({ type: 'spki', format: 'der' });
    expect(verifySignature(other, keyType, data, signature)).toBe(false);
  });
});

describe('published vector: RFC 7515 appendix A.3 (ES256)', () => {
  const jwk = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };
  const signingInput = Buffer.from('eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ');
  const signature = Buffer.from('DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q', 'base64url');

  it('verifies the RFC signature with a public key rebuilt from its PKCS#11 components', () => {
    const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
    const components = { ecParams: Buffer.from('06082a8648ce3d030107', 'hex'), ecPoint: Buffer.concat([Buffer.from([0x04, point.length]), point]) };
    const spki = spkiFromComponents(components);
    expect(spki.equals(createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' }))).toBe(true);
    expect(verifySignature(spki, 'ec-p256', signingInput, signature)).toBe(true);
    const flipped = Buffer.from(signature);
    flipped[10] = (flipped[10] as number) ^ 1;
    expect(verifySignature(spki, 'ec-p256', signingInput, flipped)).toBe(false);
  });
});

describe('components keyrotor refuses', () => {
  const p256 = componentsFromSpki(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));
  if (!('ecPoint' in p256)) throw new Error('EC key without EC components');

  it.each([
    ['a curve it does not manage (P-521)', { ecParams: Buffer.from('06052b81040023', 'hex'), ecPoint: p256.ecPoint }, /neither P-256 nor P-384/],
    ['a raw point without its OCTET STRING', { ecParams: p256.ecParams, ecPoint: p256.ecPoint.subarray(2) }, /CKA_EC_POINT/],
    ['an OCTET STRING whose length lies', { ecParams: p256.ecParams, ecPoint: Buffer.concat([p256.ecPoint, Buffer.from([0])]) }, /claims 65 bytes/],
    ['a point that is not on the curve', { ecParams: p256.ecParams, ecPoint: Buffer.concat([p256.ecPoint.subarray(0, 3), Buffer.alloc(64, 1)]) }, /not a point on P-256/],
    ['an RSA modulus of another size', { modulus: Buffer.alloc(320, 0xff), publicExponent: Buffer.from([1, 0, 1]) }, /2560 bits is neither/],
  ])('%s', (_what, components, message) => {
    expect(() => spkiFromComponents(components)).toThrow(expect.objectContaining({ code: 'invalid_public_key', message: expect.stringMatching(message) }));
  });

  it('reads the RSA size from the modulus, leading zero bytes and all', () => {
    const { modulus } = componentsFromSpki(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' })) as { modulus: Buffer };
    expect(keyTypeOfComponents({ modulus: Buffer.concat([Buffer.alloc(1), modulus]), publicExponent: Buffer.from([1, 0, 1]) })).toBe('rsa-2048');
    expect(() => keyTypeOfComponents({ modulus: Buffer.alloc(512, 0xff), publicExponent: Buffer.from([1, 0, 1]) })).toThrow(/4096 bits/);
  });

  it('takes only strict base64', () => {
    expect(decodeBase64('AAEC', 'x')).toEqual(Buffer.from([0, 1, 2]));
    expect(() => decodeBase64('AA EC', 'field')).toThrow(expect.objectContaining({ code: 'invalid_base64', message: 'field is not base64' }));
    expect(() => decodeBase64('AAE', 'field')).toThrow(/not base64/);
    expect(() => decodeBase64('AAEC_-', 'field')).toThrow(/not base64/);
  });
});
