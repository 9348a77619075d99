/**
 * Benchmark of the SP 800-22 battery: all fifteen tests on 1,000,000 bits, against a baseline measured in the same run
 * (one plain pass counting the ones of the same bits), reported as a ratio. It runs no NIST STS reference, so it prints
 * no ratio against one.
 *
 *   npx tsx bench/sts.ts
 */
import { createHash } from 'node:crypto';
import { runBattery } from '../domain/sp800-22';

const BITS = 1_000_000;
/** Timed runs after the first, whose median is reported; the first (JIT warm-up) is reported on its own. */
const BATTERY_RUNS = 11;
const BASELINE_RUNS = 201;

/**
 * A fixed pseudo-random sequence: SHA-256 chained from a constant seed, read most significant bit first. The seed is
 * one whose walk returns to zero often enough (J ≥ 500) for the random excursion tests to run, so every test is timed.
 */
function fixedSequence(count: number): Uint8Array {
  const bits = new Uint8Array(count);
  let block = createHash('sha256').update('keyrotor sts benchmark 1').digest();
  for (let i = 0; i < count; i++) {
    if (i > 0 && i % 256 === 0) block = createHash('sha256').update(block).digest();
    const bit = i % 256;
    bits[i] = (block[bit >>> 3]! >>> (7 - (bit & 7))) & 1;
  }
  return bits;
}

function countOnes(bits: Uint8Array): number {
  let ones = 0;
  for (let i = 0; i < bits.length; i++) ones += bits[i]!;
  return ones;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function time<T>(run: () => T): [number, T] {
  const start = process.hrtime.bigint();
  const result = run();
  return [Number(process.hrtime.bigint() - start) / 1e6, result];
}

const bits = fixedSequence(BITS);
const [coldMs, results] = time(() => runBattery(bits));
const batteryMs: number[] = [];
for (let i = 0; i < BATTERY_RUNS; i++) batteryMs.push(time(() => runBattery(bits))[0]);

let ones = 0;
const baselineMs: number[] = [];
for (let i = 0; i < BASELINE_RUNS; i++) {
  const [ms, count] = time(() => countOnes(bits));
  baselineMs.push(ms);
  ones = count;
}

const battery = median(batteryMs);
const baseline = median(baselineMs);
const failed = results.filter((r) => r.pValue !== null && r.pValue < 0.01).length;
const notApplicable = results.filter((r) => r.pValue === null).length;
console.log(`SP 800-22 battery on ${BITS.toLocaleString('en-US')} bits (SHA-256 chain, ${ones.toLocaleString('en-US')} ones)`);
console.log(`  ${results.length} p-values, ${failed} below 0.01, ${notApplicable} not applicable`);
console.log(`  battery:  ${battery.toFixed(1)} ms median of ${BATTERY_RUNS} runs after a first run of ${coldMs.toFixed(1)} ms`);
console.log(`  baseline: ${(baseline * 1000).toFixed(0)} µs median of ${BASELINE_RUNS} passes counting the ones`);
console.log(`  ratio:    battery = ${(battery / baseline).toFixed(0)} × baseline`);
console.log('  no NIST STS reference was run: no ratio against it');
