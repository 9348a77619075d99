import { createDecipheriv } from 'node:crypto';
import {
  MAX_CIPHERTEXT_LENGTH,
  checkWrappedDataKey,
  decodeWrappedDataKey,
  formatCiphertext,
  parseCiphertext,
} from '../../../domain/keys/ciphertext';

/**
 * The ciphertext text form, with fixed vectors. The RFC 5649 §6 example (a 20-octet key wrapped under a 192-bit KEK)
 * is a real AES-KWP blob: Node's own id-aes192-wrap-pad opens it, so the format is shown to carry RFC 5649 output byte
 * for byte.
 */

const RFC5649_KEK = Buffer.from('5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8', 'hex');
const RFC5649_KEY = Buffer.from('c37b7e6492584340bed12207808941155068f738', 'hex');
const RFC5649_WRAPPED = Buffer.from('138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a', 'hex');
const RFC5649_TEXT = 'keyrotor:invoices:v3:E4veqpuPp_xh-XdC5yJI7lrmrlNg0a5qX1Tzc_pUO2o';

/** 40 bytes 00..27: the length of a wrapped 32-byte data key. */
const BLOB_40 = Buffer.from(Array.from({ length: 40 }, (_, i) => i));
const TEXT_40 = 'keyrotor:orders.eu-1:v2147483647:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJw';
/** 24 bytes a0..b7: a wrapped 16-byte data key. */
const BLOB_24 = Buffer.from('a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7', 'hex');
const TEXT_24 = 'keyrotor:k:v1:oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3';

const refusal = (reason: string): Error => expect.objectContaining({ code: 'invalid_ciphertext', status: 400, details: { reason } }) as Error;

function messageOf(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('ciphertext text form: keyrotor:<key>:v<version>:<base64url AES-KWP blob>', () => {
  it('formats and parses the fixed vectors', () => {
    expect(formatCiphertext({ key: 'invoices', version: 3, blob: RFC5649_WRAPPED })).toBe(RFC5649_TEXT);
    expect(formatCiphertext({ key: 'orders.eu-1', version: 2 ** 31 - 1, blob: BLOB_40 })).toBe(TEXT_40);
    expect(formatCiphertext({ key: 'k', version: 1, blob: BLOB_24 })).toBe(TEXT_24);
    expect(parseCiphertext(RFC5649_TEXT, 'invoices')).toEqual({ key: 'invoices', version: 3, blob: RFC5649_WRAPPED });
    expect(parseCiphertext(TEXT_40, 'orders.eu-1')).toEqual({ key: 'orders.eu-1', version: 2147483647, blob: BLOB_40 });
    expect(parseCiphertext(TEXT_24, 'k')).toEqual({ key: 'k', version: 1, blob: BLOB_24 });
  });

  it('carries an RFC 5649 blob unchanged: the parsed blob opens under the RFC\'s KEK with Node\'s own AES-KWP', () => {
    const { blob } = parseCiphertext(RFC5649_TEXT, 'invoices');
    const decipher = createDecipheriv('id-aes192-wrap-pad', RFC5649_KEK, Buffer.from('a65959a6', 'hex'));
    expect(Buffer.concat([decipher.update(blob), decipher.final()])).toEqual(RFC5649_KEY);
  });

  it('refuses a ciphertext for another key and says which key it is for', () => {
    expect(() => parseCiphertext(RFC5649_TEXT, 'payroll')).toThrow(expect.objectContaining({
      code: 'ciphertext_for_other_key', status: 400, message: "the ciphertext is for key 'invoices', not 'payroll'", details: { key: 'invoices' },
    }));
  });

  it.each([
    ['another prefix', 'vault:invoices:v3:E4veqpuPp_xh-XdC5yJI7lrmrlNg0a5qX1Tzc_pUO2o'],
    ['a tampered prefix', 'keyr0tor:invoices:v3:E4veqpuPp_xh-XdC5yJI7lrmrlNg0a5qX1Tzc_pUO2o'],
    ['an upper-case prefix', 'KEYROTOR:invoices:v3:E4veqpuPp_xh-XdC5yJI7lrmrlNg0a5qX1Tzc_pUO2o'],
    ['no version part', 'keyrotor:invoices:E4veqpuPp_xh-XdC5yJI7lrmrlNg0a5qX1Tzc_pUO2o'],
    ['an extra part', 'keyrotor:invoices:v3:v3:E4veqpuPp_xh-XdC5yJI7lrmrlNg0a5qX1Tzc_pUO2o'],
    ['an invalid key name', 'keyrotor:Invoices:v3:E4veqpuPp_xh-XdC5yJI7lrmrlNg0a5qX1Tzc_pUO2o'],
    ['an empty key name', 'keyrotor::v3:E4veqpuPp_xh-XdC5yJI7lrmrlNg0a5qX1Tzc_pUO2o'],
    ['the empty string', ''],
    ['a leading space', ` ${RFC5649_TEXT}`],
    ['a trailing newline', `${RFC5649_TEXT}\n`],
    ['a NUL byte inside', `keyrotor:invoices:v3:E4veqpuPp_xh\u0000-XdC5yJI7lrmrlNg0a5qX1Tzc_pUO2o`],
    ['a NUL byte at the end', `${RFC5649_TEXT}\u0000`],
    ['base64 padding', `${TEXT_24.slice(0, -2)}==`],
    ['standard base64 characters', 'keyrotor:invoices:v3:E4veqpuPp/xh+XdC5yJI7lrmrlNg0a5qX1Tzc/pUO2o'],
  ])('refuses %s as malformed', (_, text) => {
    expect(() => parseCiphertext(text, 'invoices')).toThrow(refusal('malformed'));
  });

  it.each([
    ['v0', 'v0'],
    ['a leading zero', 'v03'],
    ['no digits', 'v'],
    ['upper-case V', 'V3'],
    ['2^31', 'v2147483648'],
    ['eleven digits', 'v99999999999'],
    ['a fraction', 'v1.5'],
    ['an exponent', 'v1e3'],
  ])('refuses a version with %s', (_, version) => {
    expect(() => parseCiphertext(`keyrotor:invoices:${version}:E4veqpuPp_xh-XdC5yJI7lrmrlNg0a5qX1Tzc_pUO2o`, 'invoices')).toThrow(refusal('version'));
  });

  it.each([
    ['an empty blob', 'keyrotor:k:v1:'],
    ['a 4n+1-character blob', `${TEXT_24}A`],
    ['non-zero unused bits (not canonical)', `${TEXT_40.slice(0, -1)}x`],
    ['a ciphertext truncated by one character', TEXT_40.slice(0, -1)],
  ])('refuses %s as not canonical base64url', (_, text) => {
    expect(() => parseCiphertext(text, text.startsWith('keyrotor:k:') ? 'k' : 'orders.eu-1')).toThrow(refusal('encoding'));
  });

  it.each([
    ['truncated to 39 bytes', `keyrotor:orders.eu-1:v1:${BLOB_40.subarray(0, 39).toString('base64url')}`, 'orders.eu-1'],
    ['truncated to 16 bytes', `keyrotor:k:v1:${BLOB_24.subarray(0, 16).toString('base64url')}`, 'k'],
    ['8 bytes', `keyrotor:k:v1:${BLOB_24.subarray(0, 8).toString('base64url')}`, 'k'],
    ['48 bytes (a multiple of 8, beyond a 32-byte data key)', `keyrotor:k:v1:${Buffer.alloc(48, 1).toString('base64url')}`, 'k'],
    ['not a multiple of 8', `keyrotor:k:v1:${Buffer.alloc(30, 1).toString('base64url')}`, 'k'],
  ])('refuses a blob %s as of the wrong length', (_, text, key) => {
    expect(() => parseCiphertext(text, key)).toThrow(refusal('length'));
  });

  it('refuses a huge input by its length alone, quoting none of it', () => {
    const huge = `keyrotor:invoices:v3:${'A'.repeat(10_000_000)}`;
    const started = process.hrtime.bigint();
    expect(() => parseCiphertext(huge, 'invoices')).toThrow(refusal('too_long'));
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(50);
    expect(messageOf(() => parseCiphertext(huge, 'invoices'))).toBe(`the ciphertext is 10000021 characters; a keyrotor ciphertext has at most ${MAX_CIPHERTEXT_LENGTH}`);
    // The longest real one: a 64-character name, the highest version, a 40-byte blob.
    const longest = formatCiphertext({ key: `a${'b'.repeat(63)}`, version: 2 ** 31 - 1, blob: BLOB_40 });
    expect(longest).toHaveLength(MAX_CIPHERTEXT_LENGTH);
    expect(() => parseCiphertext(`${longest}A`, `a${'b'.repeat(63)}`)).toThrow(refusal('too_long'));
  });

  it('quotes at most 16 sanitised characters of a refused input and never the blob', () => {
    const hostile = `keyrotor:\u0000\u001b[31m<script>${'x'.repeat(40)}`;
    const message = messageOf(() => parseCiphertext(hostile, 'invoices'));
    expect(message).toContain("'keyrotor:???31m?…'");
    expect([...message].filter((character) => character.charCodeAt(0) < 0x20)).toEqual([]);
    expect(message).not.toContain('<script');
    for (const text of [TEXT_40.slice(0, -1), `${TEXT_40.slice(0, -1)}x`, `keyrotor:orders.eu-1:v03:${TEXT_40.split(':')[3]}`, `vault:${TEXT_40}`]) {
      const refused = messageOf(() => parseCiphertext(text, 'orders.eu-1'));
      expect(refused).not.toContain('AAECAwQF');
      expect(refused.length).toBeLessThan(200);
    }
  });

  it('refuses to format what it would not parse', () => {
    expect(() => formatCiphertext({ key: 'Invoices', version: 1, blob: BLOB_24 })).toThrow(expect.objectContaining({ code: 'invalid_key_name' }));
    expect(() => formatCiphertext({ key: 'k', version: 0, blob: BLOB_24 })).toThrow(refusal('version'));
    expect(() => formatCiphertext({ key: 'k', version: 2 ** 31, blob: BLOB_24 })).toThrow(refusal('version'));
    expect(() => formatCiphertext({ key: 'k', version: 1.5, blob: BLOB_24 })).toThrow(refusal('version'));
    expect(() => formatCiphertext({ key: 'k', version: 1, blob: Buffer.alloc(16) })).toThrow(refusal('length'));
    expect(() => parseCiphertext(TEXT_24, 'Not A Key')).toThrow(expect.objectContaining({ code: 'invalid_key_name' }));
  });

  it('checks a wrapped data key as activity data carries it: strict base64, then the length', () => {
    expect(decodeWrappedDataKey(BLOB_40.toString('base64'))).toEqual(BLOB_40);
    expect(checkWrappedDataKey(BLOB_24)).toBe(BLOB_24);
    expect(() => decodeWrappedDataKey(BLOB_40.toString('base64url'))).toThrow(refusal('encoding'));
    expect(() => decodeWrappedDataKey(` ${BLOB_40.toString('base64')}`)).toThrow(refusal('encoding'));
    expect(() => decodeWrappedDataKey(Buffer.alloc(4096).toString('base64'))).toThrow(refusal('encoding'));
    expect(() => decodeWrappedDataKey('')).toThrow(refusal('length'));
    expect(() => decodeWrappedDataKey(Buffer.alloc(36).toString('base64'))).toThrow(refusal('length'));
  });
});
