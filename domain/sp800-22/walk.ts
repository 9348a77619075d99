import { packedBits } from './packed';

/**
 * One pass over the ±1 random walk S_k = Σ_{i≤k} (2ε_i − 1) for the three tests built on it (cumulative sums, random
 * excursions and its variant), computed once per sequence and kept in a WeakMap. Far from 0 the walk cannot reach a
 * state the excursion tests count within 8 steps, so there it moves a byte at a time through tables of each byte's
 * sum and extreme prefix sums; near 0 it steps bit by bit.
 */
export interface WalkSummary {
  /** S_n. */
  final: number;
  /** max(0, S_1 … S_n) and min(0, S_1 … S_n). */
  highest: number;
  lowest: number;
  /** Visits to each state x = −9 … 9 over S_1 … S_n, at index x + 9 (index 9: the returns to 0). */
  visits: Float64Array;
  /**
   * classes[k·8 + s]: cycles with k visits (k = 5 meaning ≥ 5) to state (−4, −3, −2, −1, 1, 2, 3, 4)[s], the cycles
   * being cut at the returns to 0, plus a final one when S_n ≠ 0.
   */
  classes: Float64Array;
}

/** States ±4 of the random excursions test, in its order. */
const EXCURSION_STATES = [-4, -3, -2, -1, 1, 2, 3, 4];
/** |S| beyond which 8 steps cannot reach a state |x| ≤ 9. */
const FAR = 17;

const DELTA = new Int8Array(256);
const MAX_PREFIX = new Int8Array(256);
const MIN_PREFIX = new Int8Array(256);
for (let byte = 0; byte < 256; byte++) {
  let sum = 0;
  let high = -9;
  let low = 9;
  for (let j = 7; j >= 0; j--) {
    sum += 2 * ((byte >>> j) & 1) - 1;
    if (sum > high) high = sum;
    if (sum < low) low = sum;
  }
  DELTA[byte] = sum;
  MAX_PREFIX[byte] = high;
  MIN_PREFIX[byte] = low;
}

const cache = new WeakMap<Uint8Array, WalkSummary>();

export function walkSummary(bits: Uint8Array): WalkSummary {
  const cached = cache.get(bits);
  if (cached !== undefined) return cached;
  const n = bits.length;
  const words = packedBits(bits).words;
  const visits = new Float64Array(19);
  const classes = new Float64Array(6 * EXCURSION_STATES.length);
  // Visits to x = −4 … 4 in the current cycle, at x + 4.
  const cycle = new Int32Array(9);
  let walk = 0;
  let highest = 0;
  let lowest = 0;
  const closeCycle = (): void => {
    for (let s = 0; s < EXCURSION_STATES.length; s++) classes[Math.min(cycle[EXCURSION_STATES[s]! + 4]!, 5) * EXCURSION_STATES.length + s]!++;
    cycle.fill(0);
  };
  const step = (bit: number): void => {
    walk += 2 * bit - 1;
    if (walk > highest) highest = walk;
    else if (walk < lowest) lowest = walk;
    if (walk >= -9 && walk <= 9) {
      visits[walk + 9]!++;
      if (walk === 0) closeCycle();
      else if (walk >= -4 && walk <= 4) cycle[walk + 4]!++;
    }
  };
  const wholeBytes = n >>> 3;
  for (let b = 0; b < wholeBytes; b++) {
    const byte = (words[b >>> 2]! >>> (24 - 8 * (b & 3))) & 255;
    if (walk > FAR || walk < -FAR) {
      const high = walk + MAX_PREFIX[byte]!;
      const low = walk + MIN_PREFIX[byte]!;
      if (high > highest) highest = high;
      if (low < lowest) lowest = low;
      walk += DELTA[byte]!;
    } else {
      for (let j = 7; j >= 0; j--) step((byte >>> j) & 1);
    }
  }
  for (let i = wholeBytes * 8; i < n; i++) step(bits[i]!);
  if (walk !== 0) closeCycle();
  const summary = { final: walk, highest, lowest, visits, classes };
  cache.set(bits, summary);
  return summary;
}
