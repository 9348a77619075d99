/**
 * The cost of tailing a PKCS#11 spy log, against reading the same file alone, in the same run:
 *   (a) the baseline: the file read from start to end in the tailer's chunk size, nothing done with the bytes;
 *   (b) `readLogFrom` from the start to the end, as a restarted source would (a new parser from the stored position,
 *       stored as JSON, at every call): the read, the parse, the resolution of handles and the checkpoints.
 * The log is the recorded fixture (test/fixtures/spy-log) repeated until it holds about SIZE MiB: each copy is two
 * processes, each with its banner, its login and its finds, so the mix of calls is a real one. Medians of ROUNDS rounds.
 *
 *   npx tsx bench/spy-log-tail.ts [SIZE_MIB=64] [ROUNDS=3]
 */
import { open, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readLogFrom, type LogPosition } from '../adapters/usage/log-tailer';

const CHUNK = 4 * 1024 * 1024;
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

async function readAlone(path: string): Promise<number> {
  const handle = await open(path, 'r');
  const buffer = Buffer.alloc(CHUNK);
  let total = 0;
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, total);
      if (bytesRead === 0) return total;
      total += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

async function tailAll(path: string): Promise<number> {
  let stored: string | null = null;
  let uses = 0;
  for (;;) {
    const result = await readLogFrom(path, 'pkcs11-spy', stored === null ? null : (JSON.parse(stored) as LogPosition), { maxBytes: CHUNK });
    uses += result.uses.length;
    stored = JSON.stringify(result.position);
    if (!result.more) return uses;
  }
}

async function main(): Promise<void> {
  const sizeMiB = Number(process.argv[2] ?? 64);
  const rounds = Number(process.argv[3] ?? 3);
  const fixture = readFileSync(join(__dirname, '../test/fixtures/spy-log/softhsm-two-processes.log'), 'utf8');
  const copies = Math.max(1, Math.round((sizeMiB * 1024 * 1024) / Buffer.byteLength(fixture)));
  const dir = await mkdtemp(join(tmpdir(), 'keyrotor-bench-spy-'));
  const path = join(dir, 'spy.log');
  await writeFile(path, fixture.repeat(copies));
  try {
    const baseline: number[] = [];
    const tailing: number[] = [];
    const ratios: number[] = [];
    let uses = 0;
    for (let round = 0; round < rounds; round += 1) {
      let started = performance.now();
      const bytes = await readAlone(path);
      const readMs = performance.now() - started;
      started = performance.now();
      uses = await tailAll(path);
      const tailMs = performance.now() - started;
      baseline.push(bytes / 1024 / 1024 / (readMs / 1000));
      tailing.push(uses / (tailMs / 1000));
      ratios.push(tailMs / readMs);
      process.stderr.write(`round ${round + 1}: read ${readMs.toFixed(0)} ms, tail ${tailMs.toFixed(0)} ms\n`);
    }
    const mib = Buffer.byteLength(fixture) * copies / 1024 / 1024;
    process.stdout.write(
      `${JSON.stringify({ logMiB: Number(mib.toFixed(1)), uses, readAloneMiBPerSecond: Math.round(median(baseline)), tailUsesPerSecond: Math.round(median(tailing)), tailMiBPerSecond: Number((median(tailing) * mib / uses).toFixed(1)), tailTimeOverReadTime: Number(median(ratios).toFixed(1)) })}\n`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

void main();
