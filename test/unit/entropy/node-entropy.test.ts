import type { EntropyConfig } from '../../../domain/config';
import { EntropyHoldError, NodeEntropy, type NoiseSource } from '../../../domain/entropy/node-entropy';
import { bitsFromBytes, runBattery } from '../../../domain/sp800-22';
import { assessmentRows, assessNonIid, prepareSamples } from '../../../domain/sp800-90b';
import { randomBytes } from '../sp800-90b/random-bytes';

const config: EntropyConfig = {
  harvestIntervalSeconds: 60,
  samplesPerSource: 4096,
  assessmentSamples: 20_000,
  assessmentIntervalHours: 24,
  minimumCreditedBits: 512,
  batteryBits: 20_000,
};

/** A source whose next collections are set by the test: fixed pseudo-random bytes, or a stuck value. */
function scriptedSource(name: string, credit: 'assessed' | 'none' = 'assessed'): NoiseSource & { stuck: boolean } {
  let round = 0;
  const source = {
    name,
    bitsPerSample: 8,
    credit,
    stuck: false,
    collect: (count: number) => Promise.resolve(source.stuck ? new Uint8Array(count).fill(0x42) : randomBytes(count, `${name} ${round++}`)),
  };
  return source;
}

function nodeEntropy(sources: NoiseSource[], clock: { ms: number }): NodeEntropy {
  return new NodeEntropy('hsm-1', sources, config, {
    now: () => new Date(clock.ms),
    nonce: () => new Uint8Array(16).fill(7),
    // The real SP 800-90B assessment and SP 800-22 battery, run inline.
    assess: ({ samples, bitsPerSample }) => Promise.resolve(assessmentRows(assessNonIid(prepareSamples(samples, bitsPerSample)))),
    battery: ({ bytes, bits }) => Promise.resolve(runBattery(bitsFromBytes(bytes).subarray(0, bits))),
  });
}

describe('a node\'s entropy pool', () => {
  it('assesses a source once, credits its healthy samples, seeds the DRBG and tests its output', async () => {
    const clock = { ms: Date.parse('2026-01-01T00:00:00Z') };
    const entropy = nodeEntropy([scriptedSource('rng'), scriptedSource('os', 'none')], clock);
    expect(() => entropy.seedForKeyGeneration('hold')).toThrow(EntropyHoldError);
    expect(entropy.seedForKeyGeneration('hsm-only')).toMatchObject({ seed: null, provenance: { mode: 'hsm-only', healthy: false } });

    const first = await entropy.harvest();
    expect(first.assessedNow).toEqual(['rng']);
    const rng = first.sources.find((source) => source.name === 'rng');
    expect(rng).toMatchObject({ state: 'healthy', error: null, lastHealth: { verdict: 'pass' } });
    expect(rng?.assessment?.minEntropy).toBeGreaterThan(5);
    expect(first.sources.find((source) => source.name === 'os')).toMatchObject({ state: 'healthy', assessment: null, creditedBitsLastHarvest: 0 });
    expect(first.snapshot.drbg).toMatchObject({ instantiated: true, reseeds: 1 });
    expect(first.snapshot.battery?.bits).toBe(20_000);

    clock.ms += 3_600_000;
    const second = await entropy.harvest();
    expect(second.assessedNow).toEqual([]);
    expect(second.snapshot.drbg.reseeds).toBe(2);
  });

  it('quarantines a source whose samples fail the health tests, credits nothing from it, and takes it back after a passing batch', async () => {
    const clock = { ms: Date.parse('2026-01-01T00:00:00Z') };
    const rng = scriptedSource('rng');
    const entropy = nodeEntropy([rng], clock);
    await entropy.harvest();

    rng.stuck = true;
    const stuck = await entropy.harvest();
    expect(stuck.sources[0]).toMatchObject({ state: 'quarantined', creditedBitsLastHarvest: 0, lastHealth: { verdict: 'failure' } });
    expect(stuck.snapshot.sources[0]).toMatchObject({ name: 'rng', state: 'quarantined' });

    rng.stuck = false;
    const back = await entropy.harvest();
    expect(back.sources[0]).toMatchObject({ state: 'healthy', lastHealth: { verdict: 'pass' } });
    expect(back.sources[0]?.creditedBitsLastHarvest).toBeGreaterThan(0);
  });

  it('records a source that cannot be read as its error and goes on with the others; a healthy pool seeds key generation', async () => {
    const clock = { ms: Date.parse('2026-01-01T00:00:00Z') };
    const unplugged: NoiseSource = { name: 'device:/dev/hwrng', bitsPerSample: 8, credit: 'assessed', collect: () => Promise.reject(new Error('/dev/hwrng: no such device')) };
    const entropy = nodeEntropy([unplugged, scriptedSource('rng')], clock);
    const report = await entropy.harvest();
    expect(report.sources[0]).toMatchObject({ state: 'unassessed', error: '/dev/hwrng: no such device', assessment: null });
    expect(report.sources[1]).toMatchObject({ state: 'healthy', error: null });
    expect(report.snapshot.healthy).toBe(true);
    const seeding = entropy.seedForKeyGeneration('hold');
    expect(seeding.seed).toHaveLength(48);
    expect(seeding.provenance).toMatchObject({ mode: 'pool', healthy: true, nodeId: 'hsm-1', drbg: { reseeds: 2 } });
  });
});
