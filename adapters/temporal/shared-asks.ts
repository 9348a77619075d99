/**
 * Lets concurrent callers share one ask (a key map sync request) while each still waits for an ask made after its
 * call. Every lifecycle step asks for a sync once its record has committed (three per rotation), and BUFFER_ONE makes
 * one more sync follow whatever is running, however many asks arrive: a burst of rotations made dozens of schedule
 * triggers a second, each a Temporal RPC on the step's path and all of them updates of one schedule, served one at a time.
 *
 * Here one ask is on its way at a time. A call made while none is starts one and waits for it; a call made while one
 * is waits for the next, which starts when that one settles and serves every call that came meanwhile. So each caller
 * still waits until an ask begun after its call has been answered (a sync started by it sees the caller's record), as
 * when each made its own; a lone caller waits exactly as long as before. A failed ask fails every call it serves.
 */
export class SharedAsks {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(private readonly ask: () => Promise<unknown>) {}

  /** Settles when an ask begun after this call has been answered; rejects if that ask failed. */
  request(): Promise<void> {
    if (this.running === null) return this.start();
    // Every call made while an ask is on its way joins the one ask after it.
    this.next ??= this.running.then(() => this.start(), () => this.start());
    return this.next;
  }

  private start(): Promise<void> {
    this.next = null;
    const current = Promise.resolve().then(() => this.ask()).then(() => undefined);
    this.running = current;
    const done = (): void => {
      if (this.running === current) this.running = null;
    };
    current.then(done, done);
    return current;
  }
}
