import { SAME_REQUEST_WINDOW_MS, meaningOfStopSignal } from '../../../domain/stop-signals';

describe('meaningOfStopSignal', () => {
  const first = { signal: 'SIGTERM', atMs: 1_000 };

  it('starts the orderly shutdown on the first signal', () => {
    expect(meaningOfStopSignal(undefined, 'SIGTERM', 1_000)).toBe('stop');
    expect(meaningOfStopSignal(undefined, 'SIGINT', 1_000)).toBe('stop');
  });

  it("takes npm's forwarded copy of the same signal for the same request", () => {
    expect(meaningOfStopSignal(first, 'SIGTERM', 1_000)).toBe('same-request');
    expect(meaningOfStopSignal(first, 'SIGTERM', 1_000 + SAME_REQUEST_WINDOW_MS - 1)).toBe('same-request');
  });

  it('exits at once on the same signal sent again later, or on the other stop signal', () => {
    expect(meaningOfStopSignal(first, 'SIGTERM', 1_000 + SAME_REQUEST_WINDOW_MS)).toBe('stop-now');
    expect(meaningOfStopSignal(first, 'SIGINT', 1_001)).toBe('stop-now');
  });
});
