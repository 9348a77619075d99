import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bitsFromAscii,
  linearComplexityTest,
  nonOverlappingTemplateTest,
  rankTest,
  runBattery,
  serialTest,
  universalTest,
  type TestResult,
} from '../../../domain/sp800-22';
import { runSts, type StsJsonRow } from '../../support/commands-in-process';

/**
 * Checks against published results on the binary expansion of e: SP 800-22 rev1a Appendix B through the CLI, and the
 * §2.x.8 examples whose input is e. The digits are computed here, so nothing is read from disk that this test did not
 * write.
 */

/** The first `count` binary digits of e, the leading "10" included: ⌊e·2^(count−2)⌋ from Σ 1/k! by binary splitting. */
function binaryDigitsOfE(count: number): string {
  const fractionBits = count - 2;
  // Enough terms that the tail Σ_{k>K} 1/k! < 2^-(fractionBits + 64).
  let terms = 1;
  let log2Factorial = 0;
  while (log2Factorial < fractionBits + 64) {
    terms++;
    log2Factorial += Math.log2(terms);
  }
  // Σ_{k=a+1..b} a!/k! = p/q.
  const split = (a: number, b: number): [bigint, bigint] => {
    if (b - a === 1) return [1n, BigInt(b)];
    const middle = Math.floor((a + b) / 2);
    const [p1, q1] = split(a, middle);
    const [p2, q2] = split(middle, b);
    return [p1 * q2 + p2, q1 * q2];
  };
  const [p, q] = split(0, terms);
  return (((p + q) << BigInt(fractionBits)) / q).toString(2);
}

function packMostSignificantFirst(digits: string): Buffer {
  const bytes = Buffer.alloc(Math.ceil(digits.length / 8));
  for (let i = 0; i < digits.length; i++) if (digits[i] === '1') bytes[i >>> 3]! |= 0x80 >>> (i & 7);
  return bytes;
}


/** SP 800-22 rev1a Appendix B, the first 1,000,000 binary digits of e. */
const APPENDIX_B: ReadonlyArray<[string, string, number]> = [
  ['Frequency', '-', 0.953749],
  ['BlockFrequency', '-', 0.211072],
  ['CumulativeSums', 'forward', 0.669887],
  ['CumulativeSums', 'reverse', 0.724266],
  ['Runs', '-', 0.561917],
  ['LongestRun', '-', 0.718945],
  ['Rank', '-', 0.306156],
  ['FFT', '-', 0.847187],
  ['NonOverlappingTemplate', '000000001', 0.07879],
  ['OverlappingTemplate', '-', 0.110434],
  ['Universal', '-', 0.282568],
  ['ApproximateEntropy', '-', 0.700073],
  ['RandomExcursions', 'x=1', 0.786868],
  ['RandomExcursionsVariant', 'x=-1', 0.826009],
  ['Serial', 'p1', 0.766182],
  ['Serial', 'p2', 0.462921],
  ['LinearComplexity', '-', 0.826335],
];

function find<T extends { test: string; subtest: string }>(rows: T[], test: string, subtest: string): T {
  const row = rows.find((r) => r.test === test && r.subtest === subtest);
  if (row === undefined) throw new Error(`no result for ${test} ${subtest}`);
  return row;
}

describe('the binary expansion of e', () => {
  let digits = '';
  let e: Uint8Array = new Uint8Array(0);
  let directory = '';
  let asciiFile = '';
  let binaryFile = '';
  let battery: TestResult[] = [];

  beforeAll(async () => {
    digits = binaryDigitsOfE(1_000_000);
    e = bitsFromAscii(Buffer.from(digits));
    directory = await mkdtemp(join(tmpdir(), 'keyrotor-sts-'));
    asciiFile = join(directory, 'e.txt');
    binaryFile = join(directory, 'e.bin');
    // NIST's data.e layout: digits in lines, which the ASCII reader skips.
    await writeFile(asciiFile, (digits.match(/.{1,64}/g) ?? []).join('\n'));
    await writeFile(binaryFile, packMostSignificantFirst(digits));
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('starts 10.1011011111100001010100010110001010001010111011010010101 and has 500,029 ones (§2.11.8)', () => {
    expect(digits).toHaveLength(1_000_000);
    expect(digits.startsWith('101011011111100001010100010110001010001010111011010010101')).toBe(true);
    expect(e.reduce((sum, bit) => sum + bit, 0)).toBe(500029);
  });

  describe('Appendix B through `keyrotor sts FILE --json`', () => {
    let rows: StsJsonRow[] = [];

    beforeAll(async () => {
      rows = JSON.parse(await runSts([asciiFile, '--json'])) as StsJsonRow[];
    });

    it.each(APPENDIX_B)('%s %s = %f', (test, subtest, published) => {
      const row = find(rows, test, subtest);
      expect(row.stream).toBe(1);
      expect(row.pValue).not.toBeNull();
      expect(Math.abs((row.pValue ?? Number.NaN) - published)).toBeLessThanOrEqual(1e-6);
    });

    it('lists every p-value of the battery: 188 for one stream', () => {
      expect(rows).toHaveLength(188);
      expect(rows.filter((r) => r.test === 'NonOverlappingTemplate')).toHaveLength(148);
      expect(rows.every((r) => r.pValue !== null && r.reason === undefined)).toBe(true);
    });

    it('reads the same bits from the binary file, most significant bit first', async () => {
      const binary = JSON.parse(await runSts([binaryFile, '--format', 'bin', '--json'])) as StsJsonRow[];
      expect(binary).toEqual(rows);
    });
  });

  describe('§2.x.8 examples and NIST STS 2.1.2 output on e', () => {
    beforeAll(() => {
      battery = runBattery(e);
    });

    it('2.5.8 rank, first 100,000 bits: χ² = 1.2619656, P = 0.532069', () => {
      const result = rankTest(e.subarray(0, 100_000));
      expect(result.statistic).toBeCloseTo(1.2619656, 6);
      expect(result.pValue).toBeCloseTo(0.532069, 6);
    });

    it('2.8.8 overlapping template: χ² = 8.965859, P = 0.110434', () => {
      const result = find(battery, 'OverlappingTemplate', '-');
      expect(result.statistic).toBeCloseTo(8.965859, 6);
      expect(result.pValue).toBeCloseTo(0.110434, 6);
    });

    it('2.10.8 linear complexity with M = 1000: χ² = 2.700348, P = 0.845406', () => {
      const result = linearComplexityTest(e, 1000);
      expect(result.statistic).toBeCloseTo(2.700348, 6);
      expect(result.pValue).toBeCloseTo(0.845406, 6);
    });

    it('2.11.8 serial with m = 2: ∇ψ² = 0.339764, ∇²ψ² = 0.336400, P1 = 0.843764, P2 = 0.561915', () => {
      const [p1, p2] = serialTest(e, 2);
      expect(p1?.statistic).toBeCloseTo(0.339764, 6);
      expect(p2?.statistic).toBeCloseTo(0.3364, 6);
      expect(p1?.pValue).toBeCloseTo(0.843764, 6);
      expect(p2?.pValue).toBeCloseTo(0.561915, 6);
    });

    it('2.14.8 random excursions, J = 1490: the χ² and P of every state as NIST STS prints them', () => {
      // For x = −4 … −1 these are the §2.14.8 table. For x = +1 … +4 that table disagrees with Appendix B
      // (0.778616 against 0.786868 for x = +1); NIST STS outputs the values below, which agree with Appendix B.
      const expected: Array<[string, number, number]> = [
        ['x=-4', 3.835698, 0.573306],
        ['x=-3', 7.318707, 0.197996],
        ['x=-2', 7.861927, 0.164011],
        ['x=-1', 15.692617, 0.007779],
        ['x=1', 2.430872, 0.786868],
        ['x=2', 4.798906, 0.440912],
        ['x=3', 2.357041, 0.797854],
        ['x=4', 2.488767, 0.778186],
      ];
      for (const [state, chiSquared, pValue] of expected) {
        const result = find(battery, 'RandomExcursions', state);
        expect(result.statistic).toBeCloseTo(chiSquared, 6);
        expect(result.pValue).toBeCloseTo(pValue, 6);
      }
    });

    it('2.15.8 random excursions variant, J = 1490: visits and P for x = −9 … 9', () => {
      const expected: Array<[number, number, number]> = [
        [-9, 1450, 0.858946], [-8, 1435, 0.794755], [-7, 1380, 0.576249], [-6, 1366, 0.493417], [-5, 1412, 0.633873],
        [-4, 1475, 0.917283], [-3, 1480, 0.934708], [-2, 1468, 0.816012], [-1, 1502, 0.826009], [1, 1409, 0.137861],
        [2, 1369, 0.200642], [3, 1396, 0.441254], [4, 1479, 0.939291], [5, 1599, 0.505683], [6, 1628, 0.445935],
        [7, 1619, 0.512207], [8, 1620, 0.538635], [9, 1610, 0.59393],
      ];
      for (const [x, visits, pValue] of expected) {
        const result = find(battery, 'RandomExcursionsVariant', `x=${x}`);
        expect(result.statistic).toBe(visits);
        expect(result.pValue).toBeCloseTo(pValue, 6);
      }
    });

    it('universal on the first 500,000 bits: L = 6, f_n = 5.218604, P = 0.791608 as NIST STS prints them', () => {
      const result = universalTest(e.subarray(0, 500_000));
      expect(result.statistic).toBeCloseTo(5.218604, 6);
      expect(result.pValue).toBeCloseTo(0.791608, 6);
    });

    it('non-overlapping templates on the first 100,000 bits: the 148 p-values NIST STS prints, in its order', () => {
      const expected = [
        0.362582, 0.28464, 0.293561, 0.876118, 0.881916, 0.101036, 0.390028, 0.303711, 0.665796, 0.666907, 0.853051,
        0.542935, 0.229011, 0.189467, 0.871692, 0.687604, 0.221109, 0.397855, 0.308412, 0.523625, 0.626066, 0.205118,
        0.874027, 0.223216, 0.183903, 0.685834, 0.56553, 0.606847, 0.72791, 0.71008, 0.485984, 0.94685, 0.880366,
        0.965457, 0.455804, 0.161975, 0.834957, 0.706421, 0.986959, 0.432738, 0.616595, 0.302839, 0.705469, 0.223583,
        0.192914, 0.953679, 0.35595, 0.350645, 0.108274, 0.765387, 0.328707, 0.921264, 0.456934, 0.052834, 0.097873,
        0.888077, 0.619331, 0.358708, 0.74275, 0.636513, 0.445503, 0.581641, 0.958742, 0.995141, 0.815856, 0.813427,
        0.325298, 0.645559, 0.255446, 0.219017, 0.728199, 0.187691, 0.151682, 0.41203, 0.362582, 0.975536, 0.902346,
        0.308983, 0.258669, 0.739953, 0.411088, 0.676527, 0.6129, 0.737293, 0.447211, 0.005759, 0.273152, 0.53364,
        0.670461, 0.35532, 0.261877, 0.424258, 0.833187, 0.770848, 0.910626, 0.362698, 0.671719, 0.729646, 0.177188,
        0.519032, 0.110846, 0.252208, 0.842028, 0.103053, 0.219097, 0.379184, 0.517481, 0.317279, 0.719708, 0.10137,
        0.090705, 0.452224, 0.85002, 0.266792, 0.248649, 0.904761, 0.233107, 0.702756, 0.159796, 0.870547, 0.648748,
        0.302839, 0.11237, 0.958322, 0.177357, 0.336428, 0.107832, 0.459866, 0.920074, 0.740096, 0.057632, 0.941907,
        0.644372, 0.605888, 0.147728, 0.036999, 0.273866, 0.411904, 0.139917, 0.365258, 0.141055, 0.434032, 0.959988,
        0.393074, 0.63896, 0.75728, 0.863644, 0.41203,
      ];
      const results = nonOverlappingTemplateTest(e.subarray(0, 100_000));
      expect(results.map((r) => Number(r.pValue?.toFixed(6)))).toEqual(expected);
    });
  });
});
