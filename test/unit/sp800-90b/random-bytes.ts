import { createHash } from 'node:crypto';

/** Fixed pseudo-random bytes (SHA-256 in counter mode), the same on every run. */
export function randomBytes(count: number, label = 'keyrotor sp800-90b tests'): Uint8Array {
  const out = new Uint8Array(count);
  const counter = Buffer.alloc(8);
  for (let offset = 0, block = 0; offset < count; block++, offset += 32) {
    counter.writeBigUInt64BE(BigInt(block));
    const digest = createHash('sha256').update(label).update(counter).digest();
    out.set(digest.subarray(0, Math.min(32, count - offset)), offset);
  }
  return out;
}

/** Random symbols below `alphabetSize`, each drawn with the weights given (uniform by default). */
export function randomSymbols(count: number, alphabetSize: number, label?: string): Uint8Array {
  const bytes = randomBytes(count, label);
  return bytes.map((byte) => byte % alphabetSize);
}
