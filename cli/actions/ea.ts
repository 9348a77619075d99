import { readFileSync } from 'node:fs';
import { UserError } from '../../domain/errors';
import {
  assessmentRows,
  assessNonIid,
  ESTIMATORS,
  isEstimate,
  type NonIidAssessment,
  prepareSamples,
} from '../../domain/sp800-90b';

export interface EaOptions {
  bitsPerSample: string;
  json?: boolean;
  truncateBitstring?: boolean;
}

/** `keyrotor ea FILE`: the SP 800-90B non-IID assessment, printed as a table or as JSON. */
export function runEa(file: string, options: EaOptions): void {
  const bitsPerSample = Number(options.bitsPerSample);
  const data = readSamples(file);
  const samples = prepareSamples(data, bitsPerSample, { truncateBitstring: options.truncateBitstring === true });
  const showProgress = process.stderr.isTTY === true && !options.json;
  const assessment = assessNonIid(samples, ({ estimator, track }) => {
    if (showProgress) process.stderr.write(`\r\x1b[K  ${estimator} on the ${track}…`);
  });
  if (showProgress) process.stderr.write('\r\x1b[K');
  process.stdout.write(options.json ? `${JSON.stringify(assessmentRows(assessment), null, 2)}\n` : report(file, assessment));
}

function readSamples(file: string): Uint8Array {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (error) {
    throw new UserError('file_unreadable', `cannot read ${file}: ${(error as Error).message}`);
  }
  if (data.length === 0) throw new UserError('no_samples', `${file} is empty: it should hold one sample per byte`);
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

function report(file: string, assessment: NonIidAssessment): string {
  const { bitsPerSample, sampleCount, alphabetSize, bitstringLength } = assessment;
  const lines = [
    `${file}: ${sampleCount.toLocaleString('en')} samples of ${bitsPerSample} bits, ${alphabetSize} distinct values` +
      (bitstringLength === undefined ? '' : `, bitstring of ${bitstringLength.toLocaleString('en')} bits`),
  ];
  if (alphabetSize < 2) {
    lines.push('every sample has the same value: no entropy is awarded');
  } else {
    const cell = (estimator: string, track: string): string => {
      const result = assessment.results.find((r) => r.estimator === estimator && r.track === track);
      if (!result) return '-';
      return isEstimate(result.outcome) ? result.outcome.minEntropy.toFixed(6) : `n/a (${result.outcome.notApplicable})`;
    };
    const withBitstring = bitstringLength !== undefined;
    lines.push('', `${'estimator'.padEnd(16)} ${'original'.padEnd(14)}${withBitstring ? 'bitstring (per bit)' : ''}`);
    for (const estimator of ESTIMATORS) {
      lines.push(`${estimator.padEnd(16)} ${cell(estimator, 'original').padEnd(14)}${withBitstring ? cell(estimator, 'bitstring') : ''}`.trimEnd());
    }
    lines.push('', `H_original:  ${assessment.hOriginal.toFixed(6)} bits per sample`);
    if (assessment.hBitstring !== undefined) {
      lines.push(`H_bitstring: ${assessment.hBitstring.toFixed(6)} bits per bit`);
      lines.push(`min(H_original, ${bitsPerSample} × H_bitstring): ${assessment.assessed.toFixed(6)} bits per sample`);
    } else {
      lines.push(`assessed:    ${assessment.assessed.toFixed(6)} bits per sample`);
    }
  }
  return `${lines.join('\n')}\n`;
}
