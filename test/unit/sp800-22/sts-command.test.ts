import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { UserError } from '../../../domain/errors';
import { bitsFromBytes, frequencyTest, runBattery } from '../../../domain/sp800-22';
import { runSts, type StsJsonRow } from '../../support/commands-in-process';
import { pseudoRandomBytes } from '../../support/pseudo-random';


async function runJson(args: string[]): Promise<StsJsonRow[]> {
  return JSON.parse(await runSts([...args, '--json'])) as StsJsonRow[];
}

describe('keyrotor sts', () => {
  let directory = '';
  let data: Buffer = Buffer.alloc(0);
  let binaryFile = '';
  let asciiFile = '';

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'keyrotor-sts-cli-'));
    data = pseudoRandomBytes(5_000, 'keyrotor sts command');
    binaryFile = join(directory, 'random.bin');
    asciiFile = join(directory, 'random.txt');
    await writeFile(binaryFile, data);
    const digits = Array.from(bitsFromBytes(data)).join('');
    await writeFile(asciiFile, `${(digits.match(/.{1,80}/g) ?? []).join(' \r\n')}\n`);
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('prints every p-value of the battery as JSON, with a reason where a test does not apply', async () => {
    const rows = await runJson([binaryFile]);
    const expected = runBattery(bitsFromBytes(data));
    expect(rows).toHaveLength(expected.length);
    rows.forEach((row, i) => {
      const { test, subtest, pValue, reason } = expected[i]!;
      expect(row).toEqual({ stream: 1, test, subtest, pValue, ...(reason === undefined ? {} : { reason }) });
    });
    expect(rows.find((r) => r.test === 'Universal')).toEqual({
      stream: 1,
      test: 'Universal',
      subtest: '-',
      pValue: null,
      reason: 'needs at least 387,840 bits; the sequence has 40,000',
    });
    expect(rows.filter((r) => r.test === 'RandomExcursionsVariant' && r.pValue === null)).toHaveLength(18);
    expect(rows.filter((r) => r.pValue !== null).every((r) => r.reason === undefined)).toBe(true);
  });

  it('reads an ASCII file the same as the binary one, skipping the characters that are not 0 or 1', async () => {
    const ascii = await runJson([asciiFile, '--format', 'ascii']);
    expect(ascii).toEqual(await runJson([binaryFile, '--format', 'bin']));
    const annotated = join(directory, 'annotated.txt');
    await writeFile(annotated, 'bits: 0110-1101\tthen 1100_0101\n');
    const [frequency] = await runJson([annotated, '--format', 'ascii']);
    expect(frequency?.pValue).toBe(frequencyTest(Uint8Array.from('0110110111000101', Number)).pValue);
  });

  it('takes a file of only 0, 1 and whitespace for ASCII when --format is not given', async () => {
    const digitsOnly = join(directory, 'digits.txt');
    await writeFile(digitsOnly, '0110 1101\n1100 0101\n');
    const [frequency] = await runJson([digitsOnly]);
    expect(frequency?.pValue).toBeCloseTo(frequencyTest(Uint8Array.from('0110110111000101', Number)).pValue ?? Number.NaN, 15);
  });

  it('cuts consecutive ASCII streams of --bits bits', async () => {
    const rows = await runJson([asciiFile, '--bits', '10000', '--streams', '3']);
    const bits = bitsFromBytes(data);
    for (const stream of [1, 2, 3]) {
      const frequency = rows.find((r) => r.stream === stream && r.test === 'Frequency');
      expect(frequency?.pValue).toBe(frequencyTest(bits.subarray((stream - 1) * 10_000, stream * 10_000)).pValue);
    }
    expect(rows.filter((r) => r.stream === 4)).toHaveLength(0);
  });

  it('starts binary streams on 32-bit boundaries, as NIST STS does', async () => {
    const rows = await runJson([binaryFile, '--bits', '1000', '--streams', '2']);
    const second = rows.find((r) => r.stream === 2 && r.test === 'Frequency');
    expect(second?.pValue).toBe(frequencyTest(bitsFromBytes(data, 1024, 1000)).pValue);
  });

  it('splits the input evenly when only --streams is given', async () => {
    const rows = await runJson([asciiFile, '--streams', '4']);
    const first = rows.find((r) => r.stream === 1 && r.test === 'Frequency');
    expect(first?.pValue).toBe(frequencyTest(bitsFromBytes(data).subarray(0, 10_000)).pValue);
    expect(new Set(rows.map((r) => r.stream))).toEqual(new Set([1, 2, 3, 4]));
  });

  it('prints a table per stream and the section 4.2 summary for several streams', async () => {
    const output = await runSts([asciiFile, '--streams', '2']);
    expect(output).toContain('2 stream(s) of 20,000 bits');
    expect(output).toMatch(/\n {2}Frequency {16}- +\d+\.\d{6} +\d\.\d{6} {2}(pass|FAIL)\n/);
    expect(output).toMatch(/\n {2}Universal +- +n\/a {2}needs at least 387,840 bits; the sequence has 20,000\n/);
    expect(output).toContain('Section 4.2 over 2 streams');
    expect(output).toContain('NonOverlappingTemplate 111111110');
  });

  it('prints no section 4.2 summary for a single stream', async () => {
    expect(await runSts([binaryFile])).not.toContain('Section 4.2');
  });

  it('says what to change when the file is too short for the streams asked for', async () => {
    const attempt = runSts([binaryFile, '--bits', '30000', '--streams', '2']);
    await expect(attempt).rejects.toThrow(UserError);
    await expect(runSts([binaryFile, '--bits', '30000', '--streams', '2'])).rejects.toThrow(
      'holds 40,000 bits; 2 stream(s) of 30,000 bits need 60,016 (binary streams start on 32-bit boundaries); pass a smaller --bits or --streams',
    );
    await expect(runSts([asciiFile, '--bits', '30000', '--streams', '2'])).rejects.toThrow(
      'holds 40,000 bits; 2 stream(s) of 30,000 bits need 60,000; pass a smaller --bits or --streams',
    );
    await expect(runSts([binaryFile, '--streams', '2000'])).rejects.toThrow('holds 40,000 bits, too few for 2,000 streams; pass a smaller --streams');
  });

  it('names a file it cannot read', async () => {
    const missing = join(directory, 'missing.bin');
    await expect(runSts([missing])).rejects.toMatchObject({ code: 'sts_input_unreadable', message: expect.stringContaining(missing) as unknown });
  });

  it('rejects a --bits that is not a positive whole number', async () => {
    await expect(runSts([binaryFile, '--bits', '12.5'])).rejects.toBeInstanceOf(CommanderError);
    await expect(runSts([binaryFile, '--streams', '0'])).rejects.toMatchObject({ code: 'commander.invalidArgument' });
  });
});
