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

function spread(hash: number): number {
  const h = Math.imul(hash ^ (hash >>> 16), 0x45d9f3b);
  return h ^ (h >>> 16);
}

/**
 * The contexts (substrings of one width) a predictor has seen, found by content without building strings, with the
 * counts of the symbols that followed each. A context's prediction is its most frequent follower, ties going to the
 * larger symbol: the rule the reference tool's PostfixDictionary arrives at.
 */
export class ContextTable {
  size = 0;
  private slots: Int32Array;
  private mask: number;
  private start: Int32Array;
  private hashes: Int32Array;
  private best: Int32Array;
  private bestSymbol: Int32Array;
  private followers: FollowerCounts;

  constructor(
    private readonly data: Uint8Array,
    private readonly width: number,
    expectedContexts: number,
  ) {
    const capacity = 1 << Math.max(4, Math.ceil(Math.log2(expectedContexts * 2)));
    this.slots = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.start = new Int32Array(capacity >> 1);
    this.hashes = new Int32Array(capacity >> 1);
    this.best = new Int32Array(capacity >> 1);
    this.bestSymbol = new Int32Array(capacity >> 1);
    this.followers = new FollowerCounts(expectedContexts * 2);
  }

  /** The id of the context data[at .. at+width-1], or -1. */
  find(at: number, hash: number): number {
    const { slots, mask, data, width, start, hashes } = this;
    for (let slot = spread(hash) & mask; ; slot = (slot + 1) & mask) {
      const entry = slots[slot]!;
      if (entry === 0) return -1;
      const id = entry - 1;
      if (hashes[id] !== hash) continue;
      const other = start[id]!;
      let j = 0;
      while (j < width && data[other + j] === data[at + j]) j++;
      if (j === width) return id;
    }
  }

  findOrAdd(at: number, hash: number): number {
    const found = this.find(at, hash);
    if (found >= 0) return found;
    if ((this.size + 1) * 2 > this.slots.length) this.grow();
    const id = this.size++;
    this.start[id] = at;
    this.hashes[id] = hash;
    this.place(id);
    return id;
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
    const result = this.followers.increment(id * 256 + symbol, mayAdd);
    if (result === 0) return false;
    const count = result > 0 ? result : -result;
    if (count > this.best[id]! || (count === this.best[id] && symbol > this.bestSymbol[id]!)) {
      this.best[id] = count;
      this.bestSymbol[id] = symbol;
    }
    return result < 0;
  }

  private place(id: number): void {
    const { slots, mask } = this;
    let slot = spread(this.hashes[id]!) & mask;
    while (slots[slot] !== 0) slot = (slot + 1) & mask;
    slots[slot] = id + 1;
  }

  private grow(): void {
    const capacity = this.slots.length * 2;
    this.slots = new Int32Array(capacity);
    this.mask = capacity - 1;
    const resize = (old: Int32Array): Int32Array => {
      const next = new Int32Array(capacity >> 1);
      next.set(old);
      return next;
    };
    this.start = resize(this.start);
    this.hashes = resize(this.hashes);
    this.best = resize(this.best);
    this.bestSymbol = resize(this.bestSymbol);
    for (let id = 0; id < this.size; id++) this.place(id);
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
