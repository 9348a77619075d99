import { SharedAsks } from '../../../adapters/temporal/shared-asks';

/** An ask that settles when the test says so, with the order of calls and asks. */
function controlledAsk(trace: string[]) {
  const pending: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  const ask = () => new Promise<void>((resolve, reject) => {
    trace.push(`ask ${pending.length + 1}`);
    pending.push({ resolve, reject });
  });
  return { ask, pending };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i += 1) await Promise.resolve();
};

describe('SharedAsks (key map sync asks of lifecycle steps)', () => {
  it('asks at once for a lone call, and the call waits for that ask', async () => {
    const trace: string[] = [];
    const { ask, pending } = controlledAsk(trace);
    const asks = new SharedAsks(ask);
    let answered = false;
    const call = asks.request().then(() => { answered = true; });
    await settle();
    expect(trace).toEqual(['ask 1']);
    expect(answered).toBe(false);
    pending[0]?.resolve();
    await call;
    expect(answered).toBe(true);
  });

  it('serves every call made while an ask is on its way with one ask begun after that one, and none earlier', async () => {
    const trace: string[] = [];
    const { ask, pending } = controlledAsk(trace);
    const asks = new SharedAsks(ask);
    const first = asks.request().then(() => trace.push('first answered'));
    await settle();
    const later = Array.from({ length: 30 }, (_, i) => asks.request().then(() => trace.push(`later ${i} answered`)));
    await settle();
    expect(trace).toEqual(['ask 1']);
    pending[0]?.resolve();
    await first;
    await settle();
    // The later calls came after ask 1 began: it does not answer them; ask 2 does.
    expect(trace).toEqual(['ask 1', 'first answered', 'ask 2']);
    pending[1]?.resolve();
    await Promise.all(later);
    expect(trace.filter((line) => line.startsWith('ask'))).toEqual(['ask 1', 'ask 2']);
    expect(trace.filter((line) => line.startsWith('later'))).toHaveLength(30);
  });

  it('fails the calls a failed ask served, and asks again for later calls', async () => {
    const trace: string[] = [];
    const { ask, pending } = controlledAsk(trace);
    const asks = new SharedAsks(ask);
    const first = asks.request();
    await settle();
    const joined = asks.request();
    pending[0]?.reject(new Error('frontend unavailable'));
    await expect(first).rejects.toThrow('frontend unavailable');
    await settle();
    pending[1]?.reject(new Error('still unavailable'));
    await expect(joined).rejects.toThrow('still unavailable');
    const after = asks.request();
    await settle();
    expect(trace).toEqual(['ask 1', 'ask 2', 'ask 3']);
    pending[2]?.resolve();
    await expect(after).resolves.toBeUndefined();
  });
});
