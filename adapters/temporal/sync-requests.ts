/**
 * Asks for key map syncs on behalf of lifecycle steps without making a step wait for the ask, and without asking more
 * often than a sync can use. Every step of a rotation asks (three per rotation), and a burst of rotations asked for a
 * sync dozens of times a second: each ask was a Temporal RPC in the step's activity (a few hundred ms under load, on the
 * rotation's path), and BUFFER_ONE then ran syncs back to back, each listing every node's objects and writing the
 * signed snapshot to every node through synchronous PKCS#11 calls on the workers' event loop.
 *
 * Here one ask is on its way at a time, asks are at least `gapMs` apart, and a request that comes meanwhile is folded
 * into one more ask after them: the last step of a burst is always followed by an ask, made after its record committed,
 * so a sync that ask starts sees it. An ask that fails is logged; the schedule's own runs catch up, as before.
 */
export class SyncRequests {
  private inFlight = false;
  private wanted = false;
  private lastAskAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly ask: () => Promise<unknown>,
    private readonly options: { gapMs: number; onError: (error: unknown) => void; now?: () => number },
  ) {}

  /** Asks now, or after the ask on its way and the gap; never throws, never waits. */
  request(): void {
    this.wanted = true;
    if (!this.inFlight) this.next();
  }

  private next(): void {
    if (!this.wanted) return;
    const now = (this.options.now ?? Date.now)();
    const wait = this.lastAskAt + this.options.gapMs - now;
    this.inFlight = true;
    if (wait > 0) {
      setTimeout(() => this.send(), wait).unref();
      return;
    }
    this.send();
  }

  private send(): void {
    this.wanted = false;
    this.lastAskAt = (this.options.now ?? Date.now)();
    Promise.resolve()
      .then(() => this.ask())
      .catch((error: unknown) => this.options.onError(error))
      .finally(() => {
        this.inFlight = false;
        this.next();
      });
  }
}
