import { UserError } from '../errors';
import { HmacDrbg } from './hmac-drbg';

/** One HMAC_DRBG test vector from a NIST CAVP response file (DRBGVS format). */
export interface DrbgVector {
  /** The section's hash, as its header names it: SHA-1, SHA-256, ... */
  hash: string;
  predictionResistance: boolean;
  count: number;
  /** Line of the file where the vector starts, for reports. */
  line: number;
  returnedBitsLength: number;
  entropyInput: Uint8Array;
  nonce: Uint8Array;
  personalizationString: Uint8Array;
  entropyInputReseed: Uint8Array | undefined;
  additionalInputReseed: Uint8Array | undefined;
  additionalInput: Uint8Array[];
  entropyInputPR: Uint8Array[];
  returnedBits: Uint8Array;
}

const HASH_HEADER = /^\[(SHA-[0-9/]+)\]$/;
const PARAMETER_HEADER = /^\[([A-Za-z]+)\s*=\s*([^\]]*)\]$/;
const FIELD = /^([A-Za-z]+)\s*=\s*(.*)$/;

/**
 * Parses a DRBGVS response file: `[SHA-256]` opens a section, `[Name = value]` lines set its parameters, and each
 * vector is a COUNT line followed by `Name = hex` fields. Intermediate-value lines (`** GENERATE`, V, Key) that
 * some files carry are ignored.
 */
export function parseDrbgResponseFile(text: string): DrbgVector[] {
  const vectors: DrbgVector[] = [];
  let hash: string | undefined;
  let parameters: Record<string, string> = {};
  let current: { line: number; count: number; fields: [string, string][] } | undefined;
  const fail = (line: number, message: string): never => {
    throw new UserError('invalid_rsp', `line ${line}: ${message}`);
  };
  const finish = (): void => {
    if (!current) return;
    if (!hash) fail(current.line, 'a vector before any [SHA-...] section header');
    vectors.push(buildVector(hash!, parameters, current, fail));
    current = undefined;
  };

  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const content = raw.trim();
    if (content === '' || content.startsWith('#') || content.startsWith('**')) return;
    const hashHeader = HASH_HEADER.exec(content);
    if (hashHeader) {
      finish();
      hash = hashHeader[1]!;
      parameters = {};
      return;
    }
    const parameter = PARAMETER_HEADER.exec(content);
    if (parameter) {
      finish();
      parameters[parameter[1]!] = parameter[2]!.trim();
      return;
    }
    const field = FIELD.exec(content);
    if (!field) fail(line, `cannot read '${content.slice(0, 40)}'`);
    const [, name, value] = field!;
    if (name === 'COUNT') {
      finish();
      const count = Number(value);
      if (!Number.isInteger(count)) fail(line, `COUNT must be an integer, not '${value}'`);
      current = { line, count, fields: [] };
      return;
    }
    if (!current) {
      if (name === 'V' || name === 'Key') return;
      fail(line, `${name} outside a vector (no COUNT line before it)`);
    }
    current!.fields.push([name!, value!.trim()]);
  });
  finish();
  return vectors;
}

function buildVector(
  hash: string,
  parameters: Record<string, string>,
  raw: { line: number; count: number; fields: [string, string][] },
  fail: (line: number, message: string) => never,
): DrbgVector {
  const bytes = (name: string, value: string): Uint8Array => {
    if (value.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(value)) fail(raw.line, `${name} of COUNT ${raw.count} is not hex`);
    return new Uint8Array(Buffer.from(value, 'hex'));
  };
  const all = (name: string): Uint8Array[] => raw.fields.filter(([field]) => field === name).map(([, value]) => bytes(name, value));
  const one = (name: string): Uint8Array | undefined => all(name)[0];
  const required = (name: string): Uint8Array => one(name) ?? fail(raw.line, `COUNT ${raw.count} has no ${name}`);

  const returnedBits = required('ReturnedBits');
  const declared = parameters['ReturnedBitsLen'];
  const returnedBitsLength = declared === undefined ? returnedBits.length * 8 : Number(declared);
  if (!Number.isInteger(returnedBitsLength) || returnedBitsLength !== returnedBits.length * 8) {
    fail(raw.line, `COUNT ${raw.count}: ReturnedBits holds ${returnedBits.length * 8} bits, the section declares ${declared}`);
  }
  const additionalInput = all('AdditionalInput');
  if (additionalInput.length !== 2) fail(raw.line, `COUNT ${raw.count} has ${additionalInput.length} AdditionalInput lines, not 2`);
  const predictionResistance = (parameters['PredictionResistance'] ?? 'False').toLowerCase() === 'true';
  const entropyInputPR = all('EntropyInputPR');
  if (predictionResistance && entropyInputPR.length !== 2) {
    fail(raw.line, `COUNT ${raw.count} has ${entropyInputPR.length} EntropyInputPR lines, prediction resistance needs 2`);
  }
  return {
    hash,
    predictionResistance,
    count: raw.count,
    line: raw.line,
    returnedBitsLength,
    entropyInput: required('EntropyInput'),
    nonce: required('Nonce'),
    personalizationString: one('PersonalizationString') ?? new Uint8Array(0),
    entropyInputReseed: one('EntropyInputReseed'),
    additionalInputReseed: one('AdditionalInputReseed'),
    additionalInput,
    entropyInputPR,
    returnedBits,
  };
}

export interface DrbgVectorFailure {
  vector: DrbgVector;
  reason: string;
}

export interface DrbgRunReport {
  passed: number;
  failures: DrbgVectorFailure[];
  /** Vectors of sections for other hash functions, by hash: this DRBG is SHA-256 only. */
  skipped: Record<string, number>;
}

/**
 * Runs vectors the way DRBGVS defines them: instantiate, reseed when the vector carries reseed input, generate
 * twice (each with its additional input, or reseeding from EntropyInputPR under prediction resistance) and
 * compare the second output.
 */
export function runDrbgVectors(vectors: DrbgVector[]): DrbgRunReport {
  const report: DrbgRunReport = { passed: 0, failures: [], skipped: {} };
  for (const vector of vectors) {
    if (vector.hash !== 'SHA-256') {
      report.skipped[vector.hash] = (report.skipped[vector.hash] ?? 0) + 1;
      continue;
    }
    try {
      const output = runVector(vector);
      if (Buffer.from(output).equals(Buffer.from(vector.returnedBits))) {
        report.passed++;
      } else {
        report.failures.push({ vector, reason: `returned ${Buffer.from(output).toString('hex').slice(0, 32)}…` });
      }
    } catch (error) {
      report.failures.push({ vector, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return report;
}

function runVector(vector: DrbgVector): Uint8Array {
  const prEntropy = [...vector.entropyInputPR];
  const drbg = HmacDrbg.instantiate({
    entropyInput: vector.entropyInput,
    nonce: vector.nonce,
    personalizationString: vector.personalizationString,
    predictionResistance: vector.predictionResistance,
    entropySource: () => {
      const next = prEntropy.shift();
      if (!next) throw new Error('the DRBG asked for more entropy than the vector supplies');
      return next;
    },
  });
  if (vector.entropyInputReseed) drbg.reseed(vector.entropyInputReseed, vector.additionalInputReseed);
  const length = vector.returnedBitsLength / 8;
  const options = (i: number) => ({ additionalInput: vector.additionalInput[i], predictionResistance: vector.predictionResistance });
  drbg.generate(length, options(0));
  return drbg.generate(length, options(1));
}
