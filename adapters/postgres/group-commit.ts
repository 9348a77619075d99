/**
 * Group commit: writes that arrive while a batch is being written wait, and go together in the next batch. Every
 * lifecycle step's recording takes the same two global locks (the key map's epoch row, the audit log's append lock)
 * and a commit, one transaction at a time. With 100 keys rotating at once, a rotation's three recordings took 4.8 s
 * one transaction each, 2.5–3.6 s batched (bench/rotation.ts; bench/README.md).
 *
 * A lone write starts at once: it waits for nothing it did not wait for before. A batch that fails is written again
 * one item per transaction, so that an item that cannot be written fails alone and the others are not held back by it.
 */
/** An item and the caller waiting for its result. */
interface Waiting<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit<T, R> {
  private readonly queued: Array<Waiting<T, R>> = [];
  private writing = false;

  /** `write` stores its items in one transaction and answers one result per item, in their order. */
  constructor(
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly maxBatch = 64,
  ) {}

  /** Settles once a transaction that holds `item` has committed (with its result) or failed. */
  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queued.push({ item, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queued.length > 0) await this.writeBatch(this.queued.splice(0, this.maxBatch));
    } finally {
      this.writing = false;
    }
  }

  private async writeBatch(batch: Array<Waiting<T, R>>): Promise<void> {
    if (batch.length === 1) return this.writeAlone(batch[0] as Waiting<T, R>);
    let results: R[];
    try {
      results = await this.write(batch.map((waiting) => waiting.item));
    } catch {
      for (const waiting of batch) await this.writeAlone(waiting);
      return;
    }
    this.answer(batch, results);
  }

  private async writeAlone(waiting: Waiting<T, R>): Promise<void> {
    let results: R[];
    try {
      results = await this.write([waiting.item]);
    } catch (error) {
      waiting.reject(error);
      return;
    }
    this.answer([waiting], results);
  }

  /** A write that committed but answered another number of results is a defect: reported, never written again. */
  private answer(batch: Array<Waiting<T, R>>, results: R[]): void {
    if (results.length !== batch.length) {
      const defect = new Error(`a group commit answered ${results.length} results for ${batch.length} items`);
      for (const waiting of batch) waiting.reject(defect);
      return;
    }
    batch.forEach((waiting, index) => waiting.resolve(results[index] as R));
  }
}
