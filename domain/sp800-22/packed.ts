/**
 * The same bit sequence packed 32 bits to a word, most significant bit first: bit i of the sequence is bit 31 − (i mod
 * 32) of word ⌊i/32⌋. The tests that look at many bits at once (rank rows, template windows, Berlekamp–Massey blocks,
 * the DFT's input) read it instead of the one-bit-per-byte array. It is computed once per sequence and kept in a
 * WeakMap, so that runBattery's fifteen tests share it and the exported tests keep their Uint8Array signature.
 */
export interface PackedBits {
  /** The bit count n. */
  length: number;
  /** ⌈n/32⌉ + 1 words; the bits after n and the last word are zero, so a 32-bit window may start at any i < n. */
  words: Int32Array;
}

const cache = new WeakMap<Uint8Array, PackedBits>();

/** The packed form of `bits` (one bit per byte, 0 or 1), computed on first use. */
export function packedBits(bits: Uint8Array): PackedBits {
  let packed = cache.get(bits);
  if (packed === undefined) {
    const n = bits.length;
    const words = new Int32Array((n >>> 5) + 2);
    const whole = n >>> 5;
    for (let w = 0, i = 0; w < whole; w++, i += 32) {
      let word = 0;
      for (let j = 0; j < 32; j++) word = (word << 1) | bits[i + j]!;
      words[w] = word;
    }
    for (let i = whole * 32; i < n; i++) words[whole]! |= bits[i]! << (31 - (i & 31));
    packed = { length: n, words };
    cache.set(bits, packed);
  }
  return packed;
}

/** Registers the packed form of `bits` when the caller already has it (from bytes), so that it is not packed again. */
export function rememberPacked(bits: Uint8Array, packed: PackedBits): void {
  cache.set(bits, packed);
}

/** The 32-bit window and the popcount are the binary SP 800-90B estimators' (same packing, most significant bit first). */
export { popcount, window32 } from '../sp800-90b/packed-bits';

/** The 32-bit word with its bits in the opposite order. */
export function reverse32(word: number): number {
  let x = word;
  x = ((x >>> 1) & 0x55555555) | ((x & 0x55555555) << 1);
  x = ((x >>> 2) & 0x33333333) | ((x & 0x33333333) << 2);
  x = ((x >>> 4) & 0x0f0f0f0f) | ((x & 0x0f0f0f0f) << 4);
  x = ((x >>> 8) & 0x00ff00ff) | ((x & 0x00ff00ff) << 8);
  return (x >>> 16) | (x << 16);
}
