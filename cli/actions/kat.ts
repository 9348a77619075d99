import { readFileSync } from 'node:fs';
import { parseDrbgResponseFile, runDrbgVectors } from '../../domain/drbg/cavp';
import { UserError } from '../../domain/errors';

/** `keyrotor kat drbg FILE`: the NIST CAVP HMAC_DRBG vectors of a response file; exit 1 when one fails or none ran. */
export function runKatDrbg(file: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UserError('file_unreadable', `cannot read ${file}: ${(error as Error).message}`);
  }
  const report = runDrbgVectors(parseDrbgResponseFile(text));
  const out: string[] = [];
  for (const { vector, reason } of report.failures) {
    out.push(`FAIL [${vector.hash}] COUNT = ${vector.count} (line ${vector.line}): ${reason}`);
  }
  const skipped = Object.entries(report.skipped);
  if (skipped.length > 0) {
    const total = skipped.reduce((sum, [, count]) => sum + count, 0);
    out.push(`${total} skipped (not SHA-256: ${skipped.map(([hash, count]) => `${hash} ${count}`).join(', ')})`);
  }
  const ran = report.passed + report.failures.length;
  if (ran === 0) out.push(`no [SHA-256] vectors in ${file}: nothing was checked`);
  out.push(`${report.passed} passed, ${report.failures.length} failed`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (report.failures.length > 0 || ran === 0) process.exitCode = 1;
}
