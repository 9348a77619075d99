/**
 * Bits packed 32 to a word, most significant first: a million bits in 125 kB, so the binary estimators read them
 * from a core's cache and compare 32 positions in one operation.
 */

/** Packs `bits` (0 or 1 each) with zero words after the end, enough that a window read up to `overrun` bits past it sees zeros. */
export function packBits(bits: Uint8Array, overrun = 0): Int32Array {
  const words = new Int32Array((bits.length >> 5) + 3 + (overrun >> 5));
  const whole = bits.length >> 5;
  for (let k = 0, i = 0; k < whole; k++) {
    let word = 0;
    for (const end = i + 32; i < end; i++) word = (word << 1) | (bits[i]! & 1);
    words[k] = word;
  }
  for (let i = whole << 5; i < bits.length; i++) words[i >> 5]! |= (bits[i]! & 1) << (31 - (i & 31));
  return words;
}

/** The 32 bits from bit `p` on, bit p the most significant, as a signed word. */
export function window32(words: Int32Array, p: number): number {
  const k = p >> 5;
  const offset = p & 31;
  return offset === 0 ? words[k]! : (words[k]! << offset) | (words[k + 1]! >>> (32 - offset));
}

/** The number of set bits, without Math.imul, which some embeddings (Jest's module sandbox) do not inline. */
export function popcount(word: number): number {
  let x = word - ((word >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  x += x >>> 8;
  x += x >>> 16;
  return x & 0x3f;
}

/**
 * The contexts of positions from, from + 1, … (as many as `out` holds): out[j] has the 16 bits before position
 * from + j, the most recent lowest, zeros for positions before the start.
 */
export function contextWindows(bits: Uint8Array, from: number, out: Int32Array): void {
  let window = 0;
  for (let p = Math.max(0, from - 16); p < from; p++) window = ((window << 1) | bits[p]!) & 0xffff;
  const count = Math.min(out.length, bits.length - from);
  for (let j = 0; j < count; j++) {
    out[j] = window;
    window = ((window << 1) | bits[from + j]!) & 0xffff;
  }
}
