import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerKat } from '../../../cli/commands/kat';
import { parseDrbgResponseFile, runDrbgVectors } from '../../../domain/drbg/cavp';
import { UserError } from '../../../domain/errors';

const FIXTURE = join(__dirname, 'fixtures', 'hmac-drbg.rsp');
const fixture = readFileSync(FIXTURE, 'utf8');

describe('CAVP response files', () => {
  it('parses every format: no reseed, reseed, additional input, prediction resistance, other hashes', () => {
    const vectors = parseDrbgResponseFile(fixture);
    expect(vectors.map((v) => v.hash)).toEqual(['SHA-1', ...Array<string>(8).fill('SHA-256'), 'SHA-384']);
    const pr = vectors.find((v) => v.predictionResistance)!;
    expect(pr.entropyInputPR).toHaveLength(2);
    expect(pr.returnedBitsLength).toBe(256);
    const reseeded = vectors.filter((v) => v.hash === 'SHA-256' && v.entropyInputReseed);
    expect(reseeded).toHaveLength(2);
    expect(reseeded[1]!.personalizationString).toHaveLength(32);
  });

  it('passes the SHA-256 vectors and skips the others', () => {
    const report = runDrbgVectors(parseDrbgResponseFile(fixture));
    expect(report.passed).toBe(8);
    expect(report.failures).toEqual([]);
    expect(report.skipped).toEqual({ 'SHA-1': 1, 'SHA-384': 1 });
  });

  it('fails a vector whose expected bits were altered', () => {
    const altered = fixture.replace('ReturnedBits = e528e9ab', 'ReturnedBits = e528e9ac');
    const report = runDrbgVectors(parseDrbgResponseFile(altered));
    expect(report.passed).toBe(7);
    expect(report.failures.map((f) => f.vector.count)).toEqual([0]);
  });

  it('names the line of a malformed vector', () => {
    expect(() => parseDrbgResponseFile('[SHA-256]\nCOUNT = 0\nEntropyInput = abc\n')).toThrow(UserError);
    expect(() => parseDrbgResponseFile('[SHA-256]\nCOUNT = 0\nEntropyInput = 00\n')).toThrow(/line 2: COUNT 0 has no/);
  });
});

describe('keyrotor kat drbg', () => {
  let output: string;
  let write: jest.SpyInstance;

  beforeEach(() => {
    output = '';
    write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      output += String(chunk);
      return true;
    });
  });
  afterEach(() => {
    write.mockRestore();
    process.exitCode = undefined;
  });

  async function kat(file: string): Promise<void> {
    const program = new Command().exitOverride();
    registerKat(program);
    await program.parseAsync(['node', 'keyrotor', 'kat', 'drbg', file]);
  }

  it('ends with the pass and fail counts and leaves the exit code alone when all pass', async () => {
    await kat(FIXTURE);
    const lines = output.trimEnd().split('\n');
    expect(lines).toEqual(['2 skipped (not SHA-256: SHA-1 1, SHA-384 1)', '8 passed, 0 failed']);
    expect(process.exitCode).toBeUndefined();
  });

  it('sets a non-zero exit code when a vector fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyrotor-kat-'));
    const altered = join(dir, 'altered.rsp');
    writeFileSync(altered, fixture.replace('ReturnedBits = cf5ad598', 'ReturnedBits = 00000000'));
    try {
      await kat(altered);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(output).toMatch(/^FAIL \[SHA-256\] COUNT = 1 \(line \d+\)/m);
    expect(output.trimEnd().split('\n').at(-1)).toBe('7 passed, 1 failed');
    expect(process.exitCode).toBe(1);
  });
});
