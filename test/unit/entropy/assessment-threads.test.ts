import { assessNonIidInThreads, startedHelpers, type JobTiming } from '../../../adapters/entropy/assessment-threads';
import { assessNonIid, prepareSamples } from '../../../domain/sp800-90b';
import { randomBytes } from '../sp800-90b/random-bytes';

describe('the SP 800-90B assessment on several threads', () => {
  const bytes = randomBytes(30_000, 'assessment threads');

  it.each([1, 2, 3])('gives the results of the assessment in one thread, in its order, on %i thread(s)', async (threads) => {
    const samples = prepareSamples(bytes, 8);
    const timings: JobTiming[] = [];
    const assessment = await assessNonIidInThreads(samples, { threads, minWeightForHelpers: 0, onTimings: (all) => timings.push(...all) });
    expect(assessment).toEqual(assessNonIid(samples));
    // Every job ran once (t-Tuple and LRS are one job), on a thread below the count.
    expect(timings).toHaveLength(assessment.results.length - 2);
    expect(new Set(timings.map((t) => `${t.estimator} ${t.track}`)).size).toBe(timings.length);
    for (const { thread } of timings) expect(thread).toBeLessThan(threads);
  });

  it('stays on one thread when the jobs weigh less than a helper is worth', async () => {
    const samples = prepareSamples(bytes, 8);
    const timings: JobTiming[] = [];
    await assessNonIidInThreads(samples, { onTimings: (all) => timings.push(...all) });
    expect(timings.every(({ thread }) => thread === 0)).toBe(true);
  });

  it('keeps a helper for the next assessment', async () => {
    const samples = prepareSamples(bytes, 8);
    await assessNonIidInThreads(samples, { minWeightForHelpers: 0 });
    const started = startedHelpers();
    for (let i = 0; i < 3; i++) expect(await assessNonIidInThreads(samples, { minWeightForHelpers: 0 })).toEqual(assessNonIid(samples));
    expect(startedHelpers()).toBe(started);
  });

  it('assesses binary samples, which have no bitstring', async () => {
    const samples = prepareSamples(bytes.map((b) => b & 1), 1);
    expect(await assessNonIidInThreads(samples, { minWeightForHelpers: 0 })).toEqual(assessNonIid(samples));
  });
});
