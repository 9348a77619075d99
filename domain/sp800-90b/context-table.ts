const HASH_MULTIPLIER = 0x01000193;

/**
 * Powers of the hash multiplier, so that the hash of a context grows one symbol to the left at a time:
 * hash(c · x) = c · M^|x| + hash(x) (mod 2^32).
 */
export const contextHashPowers: Int32Array = (() => {
  const powers = new Int32Array(32);
  powers[0] = 1;
  for (let i = 1; i < powers.length; i++) powers[i] = Math.imul(powers[i - 1]!, HASH_MULTIPLIER);
  return powers;
})();

export function extendContextHash(hash: number, symbol: number, width: number): number {
  return (Math.imul(symbol + 1, contextHashPowers[width]!) + hash) | 0;
}

/** One more than the largest symbol: the base in which a ContextTable numbers contexts densely. */
export function symbolRadix(data: Uint8Array): number {
  let max = 0;
  for (let i = 0; i < data.length; i++) if (data[i]! > max) max = data[i]!;
  return max + 1;
}

/**
 * The most a ContextTable's slots are filled before they double. Linear probing past 0.5 costs a few more probes, but
 * they are neighbours in one or two cache lines, and 14 tables of contexts at 0.38 (the next power of two over twice
 * 100,000) did not fit in the cache together.
 */
const MAX_LOAD = 0.8;

function spread(hash: number): number {
  const h = Math.imul(hash ^ (hash >>> 16), 0x45d9f3b);
  return h ^ (h >>> 16);
}

/**
 * The contexts (substrings of one width) a predictor has seen, found by content without building strings, with the
 * counts of the symbols that followed each. A context's prediction is its most frequent follower, ties going to the
 * larger symbol: the rule the reference tool's PostfixDictionary arrives at.
 *
 * Laid out for the cache: a slot holds the hash next to the id, so a probe reads one line, and a context's first
 * follower is counted in the context's own best/bestSymbol; the table of (context, follower) counts is needed only
 * for a context that has had two different followers, which in data of high entropy few of the longer ones get.
 */
export class ContextTable {
  size = 0;
  /** Pairs (hash, id + 1); id + 1 = 0 marks an empty slot. */
  private slots: Int32Array;
  private mask: number;
  private start: Int32Array;
  private best: Int32Array;
  private bestSymbol: Int32Array;
  /** 1 when the context has had followers other than bestSymbol, whose counts are then all in `followers`. */
  private spilled: Uint8Array;
  private readonly followers = new FollowerCounts(16);
  /**
   * When the alphabet is small enough that every context of this width fits in 2^16 entries: id + 1 of each context
   * by its value (its symbols as digits base alphabetSize), which replaces the hash table.
   */
  private readonly dense: Int32Array | undefined;
  /** With dense contexts and few enough (context, follower) pairs: every pair's count, at id × radix + follower. */
  private readonly denseFollowers: Int32Array | undefined;

  constructor(
    private readonly data: Uint8Array,
    private readonly width: number,
    expectedContexts: number,
    private readonly alphabetSize = 256,
  ) {
    const contexts = alphabetSize ** width;
    if (contexts <= 1 << 16) {
      this.dense = new Int32Array(contexts);
      expectedContexts = Math.min(expectedContexts, contexts);
      if (contexts * alphabetSize <= 1 << 18) this.denseFollowers = new Int32Array(contexts * alphabetSize);
    }
    const slotCount = 1 << Math.max(4, Math.ceil(Math.log2(expectedContexts / MAX_LOAD)));
    this.slots = new Int32Array(this.dense ? 0 : 2 * slotCount);
    this.mask = slotCount - 1;
    const ids = Math.max(16, expectedContexts);
    this.start = new Int32Array(ids);
    this.best = new Int32Array(ids);
    this.bestSymbol = new Int32Array(ids);
    this.spilled = new Uint8Array(ids);
  }

  /** The id of the context data[at .. at+width-1], or -1. */
  find(at: number, hash: number): number {
    const { slots, mask, data, width, start, dense } = this;
    if (dense) return dense[this.denseCode(at)]! - 1;
    for (let slot = spread(hash) & mask; ; slot = (slot + 1) & mask) {
      const entry = slots[2 * slot + 1]!;
      if (entry === 0) return -1;
      if (slots[2 * slot] !== hash) continue;
      const id = entry - 1;
      const other = start[id]!;
      let j = 0;
      while (j < width && data[other + j] === data[at + j]) j++;
      if (j === width) return id;
    }
  }

  findOrAdd(at: number, hash: number): number {
    // Room for one more first (growing changes no id), so that one probe finds the context or the slot for it.
    if (this.size + 1 > this.start.length || (!this.dense && this.size + 1 > MAX_LOAD * (this.mask + 1))) this.grow();
    const { dense, data, width, start } = this;
    if (dense) {
      const code = this.denseCode(at);
      if (dense[code] !== 0) return dense[code]! - 1;
      const id = this.size++;
      start[id] = at;
      dense[code] = id + 1;
      return id;
    }
    const { slots, mask } = this;
    for (let slot = spread(hash) & mask; ; slot = (slot + 1) & mask) {
      const entry = slots[2 * slot + 1]!;
      if (entry === 0) {
        const id = this.size++;
        start[id] = at;
        slots[2 * slot] = hash;
        slots[2 * slot + 1] = id + 1;
        return id;
      }
      if (slots[2 * slot] !== hash) continue;
      const other = start[entry - 1]!;
      let j = 0;
      while (j < width && data[other + j] === data[at + j]) j++;
      if (j === width) return entry - 1;
    }
  }

  private denseCode(at: number): number {
    const { data, width, alphabetSize } = this;
    let code = 0;
    for (let j = 0; j < width; j++) code = code * alphabetSize + data[at + j]!;
    return code;
  }

  /** Where context `id` was first seen: it is data[start .. start + width - 1]. */
  contextStart(id: number): number {
    return this.start[id]!;
  }

  /** The follower context `id` predicts. */
  predictedSymbol(id: number): number {
    return this.bestSymbol[id]!;
  }

  /** How often the predicted follower followed context `id`. */
  bestCount(id: number): number {
    return this.best[id]!;
  }

  /**
   * Counts `symbol` after context `id`. A follower not seen before is added only if `mayAdd`; returns whether it was.
   */
  countFollower(id: number, symbol: number, mayAdd: boolean): boolean {
    const best = this.best[id]!;
    const denseFollowers = this.denseFollowers;
    if (denseFollowers) {
      const at = id * this.alphabetSize + symbol;
      const count = denseFollowers[at]!;
      if (count === 0 && !mayAdd) return false;
      denseFollowers[at] = count + 1;
      if (count + 1 > best || (count + 1 === best && symbol > this.bestSymbol[id]!)) {
        this.best[id] = count + 1;
        this.bestSymbol[id] = symbol;
      }
      return count === 0;
    }
    if (this.spilled[id] === 0) {
      if (best === 0 || symbol === this.bestSymbol[id]) {
        if (best === 0 && !mayAdd) return false;
        this.best[id] = best + 1;
        this.bestSymbol[id] = symbol;
        return best === 0;
      }
      if (!mayAdd) return false;
      // A second follower: from now on every count of this context is kept in the table.
      this.spilled[id] = 1;
      this.followers.set(id * 256 + this.bestSymbol[id]!, best);
    }
    const result = this.followers.increment(id * 256 + symbol, mayAdd);
    if (result === 0) return false;
    const count = result > 0 ? result : -result;
    if (count > best || (count === best && symbol > this.bestSymbol[id]!)) {
      this.best[id] = count;
      this.bestSymbol[id] = symbol;
    }
    return result < 0;
  }

  private place(id: number, hash: number): void {
    const { slots, mask } = this;
    let slot = spread(hash) & mask;
    while (slots[2 * slot + 1] !== 0) slot = (slot + 1) & mask;
    slots[2 * slot] = hash;
    slots[2 * slot + 1] = id + 1;
  }

  private grow(): void {
    if (this.size + 1 > this.start.length) {
      const length = 2 * this.start.length;
      const resize = <T extends Int32Array | Uint8Array>(array: T): T => {
        const next = new (array.constructor as new (length: number) => T)(length);
        next.set(array);
        return next;
      };
      this.start = resize(this.start);
      this.best = resize(this.best);
      this.bestSymbol = resize(this.bestSymbol);
      this.spilled = resize(this.spilled);
    }
    if (this.dense || this.size + 1 <= MAX_LOAD * (this.mask + 1)) return;
    const old = this.slots;
    const slotCount = 2 * (this.mask + 1);
    this.mask = slotCount - 1;
    this.slots = new Int32Array(2 * slotCount);
    for (let slot = 0; slot < old.length; slot += 2) if (old[slot + 1] !== 0) this.place(old[slot + 1]! - 1, old[slot]!);
  }
}

/** Counts keyed by non-negative integers, in open addressing with linear probing. */
class FollowerCounts {
  private keys: Int32Array;
  private counts: Int32Array;
  private mask: number;
  private size = 0;

  constructor(expected: number) {
    const capacity = 1 << Math.max(4, Math.ceil(Math.log2(expected * 2)));
    this.keys = new Int32Array(capacity).fill(-1);
    this.counts = new Int32Array(capacity);
    this.mask = capacity - 1;
  }

  /** Stores `count` for a key that is not in the table yet. */
  set(key: number, count: number): void {
    if (this.increment(key, true) !== -1) throw new Error(`follower key ${key} is counted already`);
    const { keys, mask } = this;
    let slot = spread(key) & mask;
    while (keys[slot] !== key) slot = (slot + 1) & mask;
    this.counts[slot] = count;
  }

  /** The new count, negated when the key was added now; 0 when the key is absent and `mayAdd` is false. */
  increment(key: number, mayAdd: boolean): number {
    const { keys, mask } = this;
    let slot = spread(key) & mask;
    for (;;) {
      const k = keys[slot]!;
      if (k === key) return ++this.counts[slot]!;
      if (k === -1) break;
      slot = (slot + 1) & mask;
    }
    if (!mayAdd) return 0;
    if ((this.size + 1) * 2 > keys.length) {
      this.grow();
      return this.increment(key, mayAdd);
    }
    keys[slot] = key;
    this.counts[slot] = 1;
    this.size++;
    return -1;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldCounts = this.counts;
    const capacity = oldKeys.length * 2;
    this.keys = new Int32Array(capacity).fill(-1);
    this.counts = new Int32Array(capacity);
    this.mask = capacity - 1;
    for (let i = 0; i < oldKeys.length; i++) {
      const key = oldKeys[i]!;
      if (key === -1) continue;
      let slot = spread(key) & this.mask;
      while (this.keys[slot] !== -1) slot = (slot + 1) & this.mask;
      this.keys[slot] = key;
      this.counts[slot] = oldCounts[i]!;
    }
  }
}
