import { createHash } from 'node:crypto';

/** SHA-256 in a chain from a fixed seed: the same bytes on every run. */
export function pseudoRandomBytes(count: number, seed: string): Buffer {
  const blocks: Buffer[] = [];
  let block = createHash('sha256').update(seed).digest();
  for (let total = 0; total < count; total += block.length) {
    blocks.push(block);
    block = createHash('sha256').update(block).digest();
  }
  return Buffer.concat(blocks).subarray(0, count);
}
