/**
 * The ten SP 800-90B non-IID estimators on 1,000,000 fixed pseudo-random 8-bit samples (SHA-256 in counter mode),
 * timed against a baseline measured in the same run: one histogram pass over the same samples. It runs no NIST
 * reference, so it prints no ratio against one.
 *
 *   npx tsx bench/ea.ts [samples]
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { assessNonIid, type EstimatorName, prepareSamples, type Track } from '../domain/sp800-90b';


function counterModeBytes(count: number): Uint8Array {
  const out = new Uint8Array(count);
  const counter = Buffer.alloc(8);
  for (let offset = 0, block = 0; offset < count; block++) {
    counter.writeBigUInt64BE(BigInt(block));
    const digest = createHash('sha256').update('keyrotor bench/ea.ts').update(counter).digest();
    out.set(digest.subarray(0, Math.min(digest.length, count - offset)), offset);
    offset += digest.length;
  }
  return out;
}

function histogramPassMs(data: Uint8Array, repeats: number): number {
  const times: number[] = [];
  const counts = new Float64Array(256);
  for (let r = 0; r < repeats; r++) {
    counts.fill(0);
    const start = performance.now();
    for (let i = 0; i < data.length; i++) counts[data[i]!]!++;
    times.push(performance.now() - start);
  }
  if (counts.reduce((a, b) => a + b, 0) !== data.length) throw new Error('histogram lost samples');
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const sampleCount = Number(process.argv[2] ?? 1_000_000);
const data = counterModeBytes(sampleCount);
const baselineMs = histogramPassMs(data, 51);

const steps: { estimator: EstimatorName; track: Track; at: number }[] = [];
const start = performance.now();
const samples = prepareSamples(data, 8);
const assessment = assessNonIid(samples, (step) => {
  steps.push({ ...step, at: performance.now() });
  process.stderr.write(`  ${step.estimator} (${step.track})\n`);
});
const totalMs = performance.now() - start;

const stepTimes = steps.map((step, i) => ({ ...step, ms: (steps[i + 1]?.at ?? start + totalMs) - step.at }));
console.log(`SP 800-90B non-IID estimators on ${sampleCount.toLocaleString('en')} 8-bit samples`);
for (const { estimator, track, ms } of stepTimes) {
  console.log(`  ${`${estimator}${estimator === 'TTuple' ? '+LRS' : ''} (${track})`.padEnd(28)} ${(ms / 1000).toFixed(2).padStart(6)} s`);
}
console.log(`total:     ${(totalMs / 1000).toFixed(2)} s   (no NIST ea_non_iid reference was run: no ratio against it)`);
console.log(`baseline:  ${baselineMs.toFixed(3)} ms for one histogram pass over the same samples (median of 51)`);
console.log(`ratio:     ${Math.round(totalMs / baselineMs).toLocaleString('en')} histogram passes`);
console.log(
  `result:    H_original ${assessment.hOriginal.toFixed(6)}, H_bitstring ${assessment.hBitstring?.toFixed(6)}, assessed ${assessment.assessed.toFixed(6)} bits per sample`,
);
