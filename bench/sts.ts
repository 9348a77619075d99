/**
 * Benchmark of `keyrotor sts` on 1,000,000 bits as a whole process, as a user runs it (the precompiled command, started
 * with node), against the two C implementations of SP 800-22 measured in the same run on the same file:
 * - the optimised STS of Sýs and Říha (`assess <bits> -fast`), path in KEYROTOR_BENCH_OPTIMISED_STS;
 * - NIST STS 2.1.2 (`assess <bits>`), path in KEYROTOR_BENCH_NIST_STS.
 * Both references are interactive: the bench answers their prompts on stdin (input file, all tests, default parameters,
 * one bitstream, binary format) in a fresh working folder holding their `experiments/AlgorithmTesting/<test>` tree and
 * a link to the `templates` folder beside the executable. The rounds alternate the commands, so that a machine busy with
 * other work slows all of them alike. After the timings it compares keyrotor's p-values (`--json`) with each reference's
 * `results.txt` files, which hold them with six decimals. A reference without its path is reported as not run, and no
 * ratio against it is printed.
 *
 *   KEYROTOR_BENCH_OPTIMISED_STS=/path/to/assess-opt KEYROTOR_BENCH_NIST_STS=/path/to/assess npx tsx bench/sts.ts [rounds]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { TEST_NAMES } from '../domain/sp800-22';
import { projectRoot } from '../scripts/tool-paths';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- plain JavaScript of the bootstrap, no types
const { ensureCli, currentCliBundle } = require('../scripts/build-cli.js') as { ensureCli: () => Promise<{ built: boolean }>; currentCliBundle: () => string | undefined };

const BITS = 1_000_000;
/** The references print p-values with six decimals (%f). */
const TOLERANCE = 1e-6;

/**
 * A fixed pseudo-random sequence: SHA-256 chained from a constant seed, as bytes. The seed is one whose walk returns to
 * zero often enough (J ≥ 500) for the random excursion tests to run, so every test is timed.
 */
function fixedBytes(bits: number): Buffer {
  const bytes = Buffer.alloc(Math.ceil(bits / 8));
  let block = createHash('sha256').update('keyrotor sts benchmark 1').digest();
  for (let i = 0; i < bytes.length; i++) {
    if (i > 0 && i % 32 === 0) block = createHash('sha256').update(block).digest();
    bytes[i] = block[i % 32]!;
  }
  return bytes;
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU time (user + system, ms) of this process's waited-for children so far, from /proc/self/stat (cutime, cstime). */
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /, '').split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Contender {
  name: string;
  run: () => void;
  /** The p-values of the last run, in NIST STS's order, numbered within each test; `printed` as the tool printed it. */
  pValues: () => { key: string; pValue: number | null; printed?: string }[];
  wall: number[];
  cpu: number[];
}

/** A C reference: a fresh working folder per run, the prompts answered on stdin, p-values read from results.txt. */
function reference(name: string, tool: string, args: string[], bitsFile: string, folder: string): Contender {
  const work = join(folder, name.replace(/\W+/g, '-'));
  const prepare = (): void => {
    rmSync(work, { recursive: true, force: true });
    for (const test of TEST_NAMES) mkdirSync(join(work, 'experiments', 'AlgorithmTesting', test), { recursive: true });
    symlinkSync(join(dirname(tool), 'templates'), join(work, 'templates'));
  };
  const contender: Contender = {
    name,
    wall: [],
    cpu: [],
    run: () => {
      prepare();
      const started = process.hrtime.bigint();
      const cpuBefore = childrenCpuMs();
      // Generator 0 (input file), the file, 1 = all tests, 0 = keep the parameters, 1 bitstream, 1 = binary.
      const result = spawnSync(tool, [String(BITS), ...args], { cwd: work, input: `0\n${bitsFile}\n1\n0\n1\n1\n`, encoding: 'utf8', maxBuffer: 1 << 26 });
      contender.wall.push(Number(process.hrtime.bigint() - started) / 1e6);
      contender.cpu.push(childrenCpuMs() - cpuBefore);
      // Both return 1 from main when they finish.
      if (result.error || !existsSync(join(work, 'experiments', 'AlgorithmTesting', 'finalAnalysisReport.txt'))) {
        throw new Error(`${name} did not finish (exit ${result.status}):\n${result.stdout.slice(-2000)}\n${result.stderr}`);
      }
    },
    pValues: () => {
      const rows: { key: string; pValue: number | null; printed: string }[] = [];
      for (const test of TEST_NAMES) {
        const file = join(work, 'experiments', 'AlgorithmTesting', test, 'results.txt');
        const lines = readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '');
        lines.forEach((line, i) => rows.push({ key: `${test} #${i + 1}`, pValue: Number(line), printed: line.trim() }));
      }
      return rows;
    },
  };
  return contender;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 5);
  const { built } = await ensureCli();
  if (!currentCliBundle()) throw new Error('the precompiled keyrotor command is not current after building it');
  const folder = mkdtempSync(join(tmpdir(), 'keyrotor-sts-bench-'));
  const bitsFile = join(folder, 'bits.bin');
  writeFileSync(bitsFile, fixedBytes(BITS));
  const keyrotorBin = join(projectRoot, 'bin', 'keyrotor.js');

  let keyrotorOutput = '';
  const keyrotor: Contender = {
    name: 'keyrotor sts',
    wall: [],
    cpu: [],
    run: () => {
      const started = process.hrtime.bigint();
      const cpuBefore = childrenCpuMs();
      const result = spawnSync(process.execPath, [keyrotorBin, 'sts', bitsFile, '--json'], { cwd: projectRoot, encoding: 'utf8', maxBuffer: 1 << 26 });
      keyrotor.wall.push(Number(process.hrtime.bigint() - started) / 1e6);
      keyrotor.cpu.push(childrenCpuMs() - cpuBefore);
      if (result.status !== 0) throw new Error(`keyrotor sts exited ${result.status}:\n${result.stderr}`);
      keyrotorOutput = result.stdout;
    },
    pValues: () => {
      const rows = JSON.parse(keyrotorOutput) as { test: string; subtest: string; pValue: number | null }[];
      const seen = new Map<string, number>();
      return rows.map(({ test, pValue }) => {
        const index = (seen.get(test) ?? 0) + 1;
        seen.set(test, index);
        return { key: `${test} #${index}`, pValue };
      });
    },
  };

  const contenders: Contender[] = [keyrotor];
  const optimisedPath = process.env.KEYROTOR_BENCH_OPTIMISED_STS;
  const nistPath = process.env.KEYROTOR_BENCH_NIST_STS;
  const optimised = optimisedPath ? reference('optimised STS (Sýs–Říha, -fast)', optimisedPath, ['-fast'], bitsFile, folder) : undefined;
  const nist = nistPath ? reference('NIST STS 2.1.2', nistPath, [], bitsFile, folder) : undefined;
  if (optimised) contenders.push(optimised);
  if (nist) contenders.push(nist);

  process.stdout.write(
    `${built ? 'precompiled the keyrotor command first' : 'the precompiled keyrotor command is current'}; ` +
      `${BITS.toLocaleString('en-US')} bits (SHA-256 chain), ${rounds} alternating rounds\n`,
  );
  let failed = false;
  try {
    for (let round = 0; round < rounds; round++) for (const contender of contenders) contender.run();

    const width = Math.max(...contenders.map((c) => c.name.length));
    process.stdout.write(`\n${'command (whole process)'.padEnd(width)}  wall ms  CPU ms  (medians)\n`);
    for (const c of contenders) {
      process.stdout.write(`${c.name.padEnd(width)}  ${median(c.wall).toFixed(0).padStart(7)}  ${median(c.cpu).toFixed(0).padStart(6)}\n`);
    }
    process.stdout.write('\n');
    for (const [ref, envName] of [
      [optimised, 'KEYROTOR_BENCH_OPTIMISED_STS'],
      [nist, 'KEYROTOR_BENCH_NIST_STS'],
    ] as const) {
      if (ref === undefined) {
        process.stdout.write(`no ${envName === 'KEYROTOR_BENCH_NIST_STS' ? 'NIST STS 2.1.2' : 'optimised STS'} reference was run (set ${envName}): no ratio against it\n`);
        continue;
      }
      process.stdout.write(
        `keyrotor / ${ref.name}: wall ${(median(keyrotor.wall) / median(ref.wall)).toFixed(2)}×, CPU ${(median(keyrotor.cpu) / median(ref.cpu)).toFixed(2)}×\n`,
      );
    }

    const ours = keyrotor.pValues();
    for (const ref of [optimised, nist]) {
      if (ref === undefined) continue;
      const theirs = new Map(ref.pValues().map((row) => [row.key, row]));
      const differing: string[] = [];
      const lastDigit: string[] = [];
      let compared = 0;
      for (const { key, pValue } of ours) {
        const other = theirs.get(key);
        if (other === undefined || pValue === null) {
          differing.push(`  ${key}: keyrotor ${pValue === null ? 'n/a' : pValue.toFixed(6)}, ${ref.name} ${other === undefined ? 'none' : other.printed}`);
          continue;
        }
        compared++;
        if (Math.abs(pValue - other.pValue!) > TOLERANCE) differing.push(`  ${key}: keyrotor ${pValue.toFixed(6)}, ${ref.name} ${other.printed}`);
        else if (pValue.toFixed(6) !== other.printed) lastDigit.push(`  ${key}: keyrotor ${pValue.toFixed(8)} (prints ${pValue.toFixed(6)}), ${ref.name} prints ${other.printed}`);
      }
      const extra = theirs.size - ours.length;
      process.stdout.write(
        `\np-values against ${ref.name}: ${compared - differing.length} of ${ours.length} agree to ${TOLERANCE}, ` +
          `${compared - differing.length - lastDigit.length} print the same six decimals` +
          `${extra > 0 ? ` (it printed ${extra} more)` : ''}\n`,
      );
      if (lastDigit.length > 0) process.stdout.write(`in the last printed digit only:\n${lastDigit.join('\n')}\n`);
      if (differing.length > 0) process.stdout.write(`these differ:\n${differing.join('\n')}\n`);
      if (ref === nist && differing.length > 0) failed = true;
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  if (failed) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
