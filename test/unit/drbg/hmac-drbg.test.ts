import { UserError } from '../../../domain/errors';
import { HmacDrbg, hmacDrbgSelfTest } from '../../../domain/drbg/hmac-drbg';

const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

// CAVS 14.3 HMAC_DRBG.rsp [SHA-256], no reseed, no personalization or additional input, 1024 returned bits.
const CAVS = [
  {
    entropyInput: 'ca851911349384bffe89de1cbdc46e6831e44d34a4fb935ee285dd14b71a7488',
    nonce: '659ba96c601dc69fc902940805ec0ca8',
    returnedBits:
      'e528e9abf2dece54d47c7e75e5fe302149f817ea9fb4bee6f4199697d04d5b89d54fbb978a15b5c443c9ec21036d2460b6f73ebad0dc2aba6e624abf07745bc107694bb7547bb0995f70de25d6b29e2d3011bb19d27676c07162c8b5ccde0668961df86803482cb37ed6d5c0bb8d50cf1f50d476aa0458bdaba806f48be9dcb8',
  },
  {
    entropyInput: '79737479ba4e7642a221fcfd1b820b134e9e3540a35bb48ffae29c20f5418ea3',
    nonce: '3593259c092bef4129bc2c6c9e19f343',
    returnedBits:
      'cf5ad5984f9e43917aa9087380dac46e410ddc8a7731859c84e9d0f31bd43655b924159413e2293b17610f211e09f770f172b8fb693a35b85d3b9e5e63b1dc252ac0e115002e9bedfb4b5b6fd43f33b8e0eafb2d072e1a6fee1f159df9b51e6c8da737e60d5032dd30544ec51558c6f080bdbdab1de8a939e961e06b5f1aca37',
  },
];

describe('HMAC_DRBG (SHA-256)', () => {
  it.each(CAVS)('reproduces CAVS vector $entropyInput on its second generate', ({ entropyInput, nonce, returnedBits }) => {
    const drbg = HmacDrbg.instantiate({ entropyInput: hex(entropyInput), nonce: hex(nonce) });
    const first = drbg.generate(128);
    expect(toHex(drbg.generate(128))).toBe(returnedBits);
    expect(toHex(first)).not.toBe(returnedBits);
    expect(drbg.reseedCounter).toBe(3);
  });

  it('passes its known-answer self-test', () => {
    expect(() => hmacDrbgSelfTest()).not.toThrow();
  });

  it('stops at the reseed interval without an entropy source, and continues after a reseed', () => {
    const drbg = HmacDrbg.instantiate({ entropyInput: hex(CAVS[0]!.entropyInput), nonce: hex(CAVS[0]!.nonce), reseedInterval: 2 });
    drbg.generate(16);
    drbg.generate(16);
    expect(() => drbg.generate(16)).toThrow(/reseed it first/);
    drbg.reseed(new Uint8Array(32).fill(7));
    expect(drbg.reseedCounter).toBe(1);
    expect(drbg.generate(16)).toHaveLength(16);
  });

  it('reseeds itself from the entropy source when the interval is reached', () => {
    const requests: number[] = [];
    const drbg = HmacDrbg.instantiate({
      entropyInput: hex(CAVS[0]!.entropyInput),
      nonce: hex(CAVS[0]!.nonce),
      reseedInterval: 3,
      entropySource: (bits) => {
        requests.push(bits);
        return new Uint8Array(32).fill(requests.length);
      },
    });
    for (let i = 0; i < 7; i++) drbg.generate(32);
    expect(requests).toEqual([256, 256]);
  });

  it('draws fresh entropy for every request with prediction resistance, and only then', () => {
    let draws = 0;
    const drbg = HmacDrbg.instantiate({
      entropyInput: hex(CAVS[0]!.entropyInput),
      nonce: hex(CAVS[0]!.nonce),
      predictionResistance: true,
      entropySource: () => new Uint8Array(32).fill(++draws),
    });
    drbg.generate(32, { predictionResistance: true });
    drbg.generate(32);
    drbg.generate(32, { predictionResistance: true });
    expect(draws).toBe(2);
  });

  it('refuses prediction resistance it was not instantiated for', () => {
    const drbg = HmacDrbg.instantiate({ entropyInput: hex(CAVS[0]!.entropyInput), nonce: hex(CAVS[0]!.nonce) });
    expect(() => drbg.generate(32, { predictionResistance: true })).toThrow(UserError);
  });

  it('refuses entropy input below the security strength, a short nonce and oversized requests', () => {
    const nonce = hex(CAVS[0]!.nonce);
    expect(() => HmacDrbg.instantiate({ entropyInput: new Uint8Array(31), nonce })).toThrow(/at least 32 bytes/);
    expect(() => HmacDrbg.instantiate({ entropyInput: new Uint8Array(32), nonce: new Uint8Array(15) })).toThrow(UserError);
    const drbg = HmacDrbg.instantiate({ entropyInput: new Uint8Array(32), nonce });
    expect(() => drbg.generate(65_537)).toThrow(UserError);
    expect(() => HmacDrbg.instantiate({ entropyInput: new Uint8Array(32), nonce, reseedInterval: 2 ** 48 + 1 })).toThrow(UserError);
  });

  it('makes additional input change the output', () => {
    const make = (): HmacDrbg => HmacDrbg.instantiate({ entropyInput: hex(CAVS[0]!.entropyInput), nonce: hex(CAVS[0]!.nonce) });
    const plain = toHex(make().generate(32));
    const withInput = toHex(make().generate(32, { additionalInput: Uint8Array.of(1) }));
    expect(withInput).not.toBe(plain);
  });
});
