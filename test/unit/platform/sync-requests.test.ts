import { SyncRequests } from '../../../adapters/temporal/sync-requests';

/** An ask that settles when the test says so, with the times it was made. */
function controlledAsk(now: () => number) {
  const made: number[] = [];
  const pending: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  const ask = () => new Promise<void>((resolve, reject) => {
    made.push(now());
    pending.push({ resolve, reject });
  });
  return { ask, made, pending };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
};

describe('SyncRequests (key map sync asks of lifecycle steps)', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('asks at once, folds the requests made while an ask is on its way into one more ask after it and the gap', async () => {
    const { ask, made, pending } = controlledAsk(Date.now);
    const requests = new SyncRequests(ask, { gapMs: 2000, onError: () => undefined });
    requests.request();
    await settle();
    expect(made).toEqual([1_000_000]);
    for (let i = 0; i < 30; i += 1) requests.request();
    await settle();
    expect(made).toHaveLength(1);
    pending[0]?.resolve();
    await settle();
    expect(made).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(2000);
    expect(made).toEqual([1_000_000, 1_002_000]);
    pending[1]?.resolve();
    await jest.advanceTimersByTimeAsync(10_000);
    // Nothing was requested after the second ask began: no third.
    expect(made).toHaveLength(2);
  });

  it('always follows the last request with an ask made after it', async () => {
    const { ask, made, pending } = controlledAsk(Date.now);
    const requests = new SyncRequests(ask, { gapMs: 2000, onError: () => undefined });
    requests.request();
    await settle();
    pending[0]?.resolve();
    await jest.advanceTimersByTimeAsync(500);
    requests.request();
    const lastRequestAt = Date.now();
    await jest.advanceTimersByTimeAsync(2000);
    expect(made).toHaveLength(2);
    expect(made[1]).toBeGreaterThanOrEqual(lastRequestAt);
  });

  it('reports a failed ask and goes on asking for later requests', async () => {
    const { ask, made, pending } = controlledAsk(Date.now);
    const errors: unknown[] = [];
    const requests = new SyncRequests(ask, { gapMs: 0, onError: (error) => errors.push(error) });
    requests.request();
    await settle();
    pending[0]?.reject(new Error('frontend unavailable'));
    await settle();
    expect(errors).toEqual([new Error('frontend unavailable')]);
    requests.request();
    await jest.advanceTimersByTimeAsync(0);
    expect(made).toHaveLength(2);
  });
});
