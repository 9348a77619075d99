/**
 * The SP 800-90B non-IID assessment on 1,000,000 fixed pseudo-random samples (SHA-256 in counter mode, each byte's
 * low `bits-per-sample` bits), timed against NIST's ea_non_iid on the same samples in the same run.
 *
 *   KEYROTOR_BENCH_NIST_EA=/path/to/ea_non_iid npx tsx bench/ea.ts [bits-per-sample=8] [samples=1000000] [rounds=3] [threads=2]
 *
 * keyrotor runs as the harvester runs it: assessNonIidInThreads (adapters/entropy/assessment-threads.ts), which
 * spreads the estimators over `threads` threads when the input is large enough to repay a helper's start-up.
 * The two alternate (NIST, keyrotor, NIST, keyrotor, …) so that a change in the machine's load hits both; the bench
 * reports medians and checks that every estimate agrees with NIST's to 1e-6. NIST runs with -a (the whole
 * bitstring, keyrotor's default) and -o, whose JSON carries its estimates to full precision; its time is the whole
 * process (start, reading the file, the estimators), keyrotor's is the assessment alone (a helper thread's start
 * included). Without KEYROTOR_BENCH_NIST_EA there is no reference: the bench says so and prints no ratio.
 * bench/README.md says how to build the tool.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { assessNonIidInThreads } from '../adapters/entropy/assessment-threads';
import {
  type EstimatorName,
  ESTIMATORS,
  isEstimate,
  type NonIidAssessment,
  prepareSamples,
  type Track,
} from '../domain/sp800-90b';
import { integerArgument } from './arguments';

const TOLERANCE = 1e-6;

function counterModeBytes(count: number, mask: number): Uint8Array {
  const out = new Uint8Array(count);
  const counter = Buffer.alloc(8);
  for (let offset = 0, block = 0; offset < count; block++) {
    counter.writeBigUInt64BE(BigInt(block));
    const digest = createHash('sha256').update('keyrotor bench/ea.ts').update(counter).digest();
    for (let j = 0; j < digest.length && offset < count; j++) out[offset++] = digest[j]! & mask;
  }
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2).padStart(6)} s`;

/** One estimate NIST's JSON reports, keyed as keyrotor names it. */
type Reference = Map<string, number>;
const key = (estimator: string, track: Track | 'assessed'): string => `${estimator} (${track})`;

/** ea_non_iid's testCases, in its order; TTuple and LRS carry their own fields. */
const NIST_CASES: { estimator: EstimatorName; original: string; bitstring: string }[] = [
  { estimator: 'MostCommonValue', original: 'hOriginal', bitstring: 'hBitstring' },
  { estimator: 'Collision', original: 'hOriginal', bitstring: 'hBitstring' },
  { estimator: 'Markov', original: 'hOriginal', bitstring: 'hBitstring' },
  { estimator: 'Compression', original: 'hOriginal', bitstring: 'hBitstring' },
  { estimator: 'TTuple', original: 'tTupleRes', bitstring: 'binTTupleRes' },
  { estimator: 'LRS', original: 'lrsRes', bitstring: 'binLrsRes' },
  { estimator: 'MultiMCW', original: 'hOriginal', bitstring: 'hBitstring' },
  { estimator: 'Lag', original: 'hOriginal', bitstring: 'hBitstring' },
  { estimator: 'MultiMMC', original: 'hOriginal', bitstring: 'hBitstring' },
  { estimator: 'LZ78Y', original: 'hOriginal', bitstring: 'hBitstring' },
];

function runNist(tool: string, directory: string, bitsPerSample: number): { ms: number; reference: Reference } {
  const output = join(directory, 'nist.json');
  const start = performance.now();
  const run = spawnSync(tool, ['-a', '-v', '-o', output, 'samples.bin', String(bitsPerSample)], {
    cwd: directory,
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const ms = performance.now() - start;
  if (run.status !== 0) throw new Error(`${tool} exited with ${run.status ?? run.signal}: ${run.stdout}${run.stderr}`);
  const json = JSON.parse(readFileSync(output, 'utf8')) as { testCases: Record<string, number | string>[] };
  const reference: Reference = new Map();
  const cases = json.testCases;
  NIST_CASES.forEach(({ estimator, original, bitstring }, i) => {
    const found = cases[i];
    if (found === undefined) throw new Error(`${tool} reported ${cases.length} test cases`);
    for (const [track, field] of [['original', original], ['bitstring', bitstring]] as const) {
      const value = found[field];
      if (typeof value === 'number') reference.set(key(estimator, track), value);
    }
  });
  const overall = cases[NIST_CASES.length]!;
  if (typeof overall.hAssessed === 'number') reference.set(key('Overall', 'assessed'), overall.hAssessed);
  return { ms, reference };
}

interface KeyrotorRun {
  ms: number;
  stepMs: Map<string, number>;
  assessment: NonIidAssessment;
}

async function runKeyrotor(data: Uint8Array, bitsPerSample: number, threads: number): Promise<KeyrotorRun> {
  const stepMs = new Map<string, number>();
  const start = performance.now();
  const samples = prepareSamples(data, bitsPerSample);
  stepMs.set('prepare samples', performance.now() - start);
  const assessment = await assessNonIidInThreads(samples, {
    threads,
    onTimings: (timings) => {
      // In the order of the results, each with the thread that ran it.
      for (const { estimator, track } of ESTIMATOR_ORDER) {
        const found = timings.find((t) => t.estimator === estimator && t.track === track);
        if (found) stepMs.set(`${key(estimator === 'TTuple' ? 'TTuple+LRS' : estimator, track)} [${found.thread}]`, found.ms);
      }
    },
  });
  return { ms: performance.now() - start, stepMs, assessment };
}

const ESTIMATOR_ORDER = (['original', 'bitstring'] as const).flatMap((track) => ESTIMATORS.map((estimator) => ({ estimator, track })));

/** keyrotor's estimates keyed as the reference is; an estimator that could not run has none. */
function estimatesOf(assessment: NonIidAssessment): Reference {
  const out: Reference = new Map();
  for (const { estimator, track, outcome } of assessment.results) {
    if (isEstimate(outcome)) out.set(key(estimator, track), outcome.minEntropy);
  }
  out.set(key('Overall', 'assessed'), assessment.assessed);
  return out;
}

/** The estimates that differ by more than the tolerance, or that only one side has. */
function disagreements(ours: Reference, reference: Reference): string[] {
  const out: string[] = [];
  for (const name of new Set([...ours.keys(), ...reference.keys()])) {
    const a = ours.get(name);
    const b = reference.get(name);
    if (a === undefined || b === undefined || Math.abs(a - b) > TOLERANCE) {
      out.push(`${name}: keyrotor ${a ?? 'none'}, NIST ${b ?? 'none'}`);
    }
  }
  return out;
}

const USAGE = 'usage: [KEYROTOR_BENCH_NIST_EA=/path/to/ea_non_iid] npx tsx bench/ea.ts [bits-per-sample=8] [samples=1000000] [rounds=3] [threads=2]';

const argument = (index: number, fallback: number, low: number, high: number): number => integerArgument(USAGE, index, fallback, low, high);

const bitsPerSample = argument(2, 8, 1, 8);
const sampleCount = argument(3, 1_000_000, 1, 2 ** 30);
const rounds = argument(4, 3, 1, 1000);
const threads = argument(5, 2, 1, 64);
const tool = process.env.KEYROTOR_BENCH_NIST_EA;
const data = counterModeBytes(sampleCount, (1 << bitsPerSample) - 1);

async function main(): Promise<void> {
  let directory: string | undefined;
  if (tool) {
    directory = mkdtempSync(join(tmpdir(), 'keyrotor-bench-ea-'));
    writeFileSync(join(directory, 'samples.bin'), data);
  }
  try {
    const nistMs: number[] = [];
    const ours: KeyrotorRun[] = [];
    let reference: Reference | undefined;
    for (let round = 0; round < rounds; round++) {
      if (tool && directory) {
        process.stderr.write(`  round ${round + 1}/${rounds}: NIST ea_non_iid…\n`);
        const nist = runNist(tool, directory, bitsPerSample);
        nistMs.push(nist.ms);
        reference = nist.reference;
      }
      process.stderr.write(`  round ${round + 1}/${rounds}: keyrotor…\n`);
      ours.push(await runKeyrotor(data, bitsPerSample, threads));
    }

    const oursMs = median(ours.map((run) => run.ms));
    console.log(
      `SP 800-90B non-IID assessment of ${sampleCount.toLocaleString('en')} ${bitsPerSample}-bit samples, median of ${rounds} rounds`,
    );
    console.log(`keyrotor on ${threads} thread${threads === 1 ? '' : 's'}; time per estimator (thread that ran it, in the last round):`);
    const lastSteps = ours[ours.length - 1]!.stepMs;
    for (const [name, ms] of lastSteps) console.log(`  ${name.padEnd(34)} ${seconds(ms)}`);
    console.log(`keyrotor:  ${seconds(oursMs)}   (rounds: ${ours.map((run) => (run.ms / 1000).toFixed(2)).join(', ')} s)`);
    const last = ours[ours.length - 1]!.assessment;
    console.log(
      `result:    H_original ${last.hOriginal.toFixed(6)}, H_bitstring ${last.hBitstring?.toFixed(6) ?? '-'}, assessed ${last.assessed.toFixed(6)} bits per sample`,
    );
    if (!reference) {
      console.log('NIST:      no reference: set KEYROTOR_BENCH_NIST_EA to the path of ea_non_iid (bench/README.md); no ratio');
    } else {
      const nistMedian = median(nistMs);
      console.log(`NIST:      ${seconds(nistMedian)}   (ea_non_iid -a, rounds: ${nistMs.map((ms) => (ms / 1000).toFixed(2)).join(', ')} s)`);
      console.log(`ratio:     keyrotor / NIST = ${(oursMs / nistMedian).toFixed(3)}`);
      const wrong = ours.flatMap((run) => disagreements(estimatesOf(run.assessment), reference));
      if (wrong.length > 0) {
        console.log(`agreement: FAILED, ${wrong.length} estimates differ from NIST's by more than ${TOLERANCE}:`);
        for (const line of wrong) console.log(`  ${line}`);
        process.exitCode = 1;
      } else {
        console.log(`agreement: all ${reference.size} estimates equal NIST's to ${TOLERANCE} in every round`);
      }
    }
  } finally {
    if (directory) rmSync(directory, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
