import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerEa } from '../../../cli/commands/ea';
import { UserError } from '../../../domain/errors';
import { assessNonIid, isEstimate, prepareSamples } from '../../../domain/sp800-90b';
import { randomBytes } from './random-bytes';

describe('samples (section 3.1.3)', () => {
  it('reads the low bits of each byte and spells the bitstring most significant bit first', () => {
    const samples = prepareSamples(Uint8Array.of(0xf5, 0x02, 0x07, 0x05), 3);
    expect(Array.from(samples.bitstring!)).toEqual([1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 0, 1]);
    // values 5, 2, 7, 5 rank as 1, 0, 2, 1 among the three present
    expect(Array.from(samples.symbols)).toEqual([1, 0, 2, 1]);
    expect(samples.alphabetSize).toBe(3);
  });

  it('treats a two-valued source as binary: no bitstring, as the reference tool does', () => {
    const samples = prepareSamples(Uint8Array.of(0x10, 0xf0, 0xf0, 0x10), 8);
    expect(samples.bitstring).toBeUndefined();
    expect(Array.from(samples.symbols)).toEqual([0, 1, 1, 0]);
  });

  it('truncates the bitstring to 1,000,000 bits only when asked', () => {
    const data = randomBytes(200_000);
    expect(prepareSamples(data, 8).bitstring!.length).toBe(1_600_000);
    expect(prepareSamples(data, 8, { truncateBitstring: true }).bitstring!.length).toBe(1_000_000);
  });

  it('refuses a sample width outside 1 to 8 bits', () => {
    expect(() => prepareSamples(Uint8Array.of(1), 9)).toThrow(UserError);
  });
});

describe('the non-IID assessment', () => {
  const data = randomBytes(60_000, 'full entropy');
  const assessment = assessNonIid(prepareSamples(data, 8));
  const value = (estimator: string, track: string): number => {
    const result = assessment.results.find((r) => r.estimator === estimator && r.track === track);
    if (!result || !isEstimate(result.outcome)) throw new Error(`${estimator} on ${track} gave no estimate`);
    return result.outcome.minEntropy;
  };

  it('rates uniform random bytes near 8 bits on the original track', () => {
    // 60,000 samples bound a probability of 1/256 no tighter than about 1/190: 7.5 bits and more.
    for (const estimator of ['MostCommonValue', 'TTuple', 'LRS', 'MultiMCW', 'Lag', 'MultiMMC', 'LZ78Y']) {
      expect(value(estimator, 'original')).toBeGreaterThan(7.45);
      expect(value(estimator, 'original')).toBeLessThanOrEqual(8);
    }
  });

  it('runs the binary-only estimators on the bitstring alone for 8-bit samples', () => {
    for (const estimator of ['Collision', 'Markov', 'Compression']) {
      expect(assessment.results.filter((r) => r.estimator === estimator).map((r) => r.track)).toEqual(['bitstring']);
    }
    expect(assessment.results.filter((r) => r.track === 'original')).toHaveLength(7);
    expect(assessment.results.filter((r) => r.track === 'bitstring')).toHaveLength(10);
  });

  it('assesses the minimum over both tracks, lower than the per-sample figures (as ea_non_iid does)', () => {
    const original = Math.min(...assessment.results.filter((r) => r.track === 'original').map((r) => value(r.estimator, 'original')));
    const bitstring = Math.min(...assessment.results.filter((r) => r.track === 'bitstring').map((r) => value(r.estimator, 'bitstring')));
    expect(assessment.hOriginal).toBe(original);
    expect(assessment.hBitstring).toBe(bitstring);
    expect(assessment.assessed).toBe(Math.min(original, 8 * bitstring));
    // The compression estimate dominates: 8 × H_bitstring falls well below H_original on random data.
    expect(assessment.assessed).toBeLessThan(7);
    expect(value('MostCommonValue', 'original') - assessment.assessed).toBeGreaterThan(0.5);
  });

  it('awards no entropy to a constant source', () => {
    const constant = assessNonIid(prepareSamples(new Uint8Array(5000).fill(7), 8));
    expect(constant.assessed).toBe(0);
    expect(constant.results).toHaveLength(0);
  });

  it('finds little entropy in a source that repeats a short pattern', () => {
    const pattern = Uint8Array.from({ length: 20_000 }, (_, i) => [3, 141, 59, 26, 5][i % 5]!);
    expect(assessNonIid(prepareSamples(pattern, 8)).assessed).toBeLessThan(0.05);
  });
});

describe('keyrotor ea', () => {
  let dir: string;
  let output: string;
  let write: jest.SpyInstance;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'keyrotor-ea-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    output = '';
    write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      output += String(chunk);
      return true;
    });
  });
  afterEach(() => write.mockRestore());

  async function ea(...args: string[]): Promise<void> {
    const program = new Command().exitOverride();
    registerEa(program);
    await program.parseAsync(['node', 'keyrotor', 'ea', ...args]);
  }

  it('prints one row per estimator and track, and the overall figures, with --json', async () => {
    const file = join(dir, 'samples.bin');
    writeFileSync(file, randomBytes(20_000, 'cli'));
    await ea(file, '--bits-per-sample', '8', '--json');
    const rows = JSON.parse(output) as { estimator: string; track: string; minEntropy: number }[];
    expect(rows.filter((r) => r.track === 'bitstring' && r.estimator !== 'Overall')).toHaveLength(10);
    expect(rows.filter((r) => r.track === 'original' && r.estimator !== 'Overall')).toHaveLength(7);
    const overall = rows.filter((r) => r.estimator === 'Overall');
    expect(overall.map((r) => r.track)).toEqual(['original', 'bitstring', 'assessed']);
    expect(overall[2]!.minEntropy).toBe(Math.min(overall[0]!.minEntropy, 8 * overall[1]!.minEntropy));
    for (const row of rows) expect(row.minEntropy).toBeGreaterThan(0);
  });

  it('explains what to fix when the file cannot be read', async () => {
    await expect(ea(join(dir, 'missing.bin'), '--bits-per-sample', '8')).rejects.toThrow(/cannot read/);
  });
});
