import { packedBits } from './packed';
import { computed, formatCount, notApplicable, requireIntegerParameter, type TestResult } from './result';
import { igamc } from './special-functions';

export const DEFAULT_TEMPLATE_LENGTH = 9;
/** N, fixed at 8 blocks by NIST STS 2.1.2. */
export const DEFAULT_TEMPLATE_BLOCKS = 8;

/** True when no proper shift of the m-bit template (read most significant bit first) overlaps itself. */
function isAperiodic(template: number, m: number): boolean {
  for (let shift = 1; shift < m; shift++) {
    const overlap = m - shift;
    const mask = 2 ** overlap - 1;
    // The last `overlap` bits against the first `overlap` bits.
    if ((template & mask) === template >>> shift) return false;
  }
  return true;
}

/**
 * Every aperiodic template of length m in increasing order, the order of NIST STS's template files (148 for m = 9).
 */
export function aperiodicTemplates(m: number): number[] {
  const templates: number[] = [];
  for (let template = 0; template < 2 ** m; template++) if (isAperiodic(template, m)) templates.push(template);
  return templates;
}

export function templateBits(template: number, m: number): string {
  return template.toString(2).padStart(m, '0');
}

export interface NonOverlappingTemplateOptions {
  /** m, the template length; default 9. */
  templateLength?: number;
  /** N, the number of blocks; default 8. */
  blocks?: number;
  /** Which templates to test (m-bit values); default every aperiodic template of length m. */
  templates?: number[];
}

/**
 * SP 800-22 §2.7, the non-overlapping template matching test, one result per template (subtest = its bits).
 * Statistic: χ²(obs) over the N blocks.
 *
 * Rather than sliding every template along the sequence, the windows of every block are counted by value once, read
 * from the packed sequence. An aperiodic template's count is its window count; a periodic one (only when passed in
 * `templates`) walks the positions of its windows, counting a match when it starts at or after the end of the previous
 * one (the reference's skip of m−1 bits after a match).
 */
export function nonOverlappingTemplateTest(bits: Uint8Array, options: NonOverlappingTemplateOptions = {}): TestResult[] {
  const m = requireIntegerParameter('NonOverlappingTemplate template length m', options.templateLength ?? DEFAULT_TEMPLATE_LENGTH, 2, 21);
  const blocks = requireIntegerParameter('NonOverlappingTemplate block count N', options.blocks ?? DEFAULT_TEMPLATE_BLOCKS, 1, 1e6);
  const templates = options.templates ?? aperiodicTemplates(m);
  for (const template of templates) requireIntegerParameter(`a template of length ${m}`, template, 0, 2 ** m - 1);
  const n = bits.length;
  const blockLength = Math.floor(n / blocks);
  const lambda = (blockLength - m + 1) / 2 ** m;
  if (!(lambda > 0)) {
    const reason = `needs ${blocks} blocks of at least ${m} bits; the sequence has ${formatCount(n)}`;
    return templates.map((template) => notApplicable('NonOverlappingTemplate', templateBits(template, m), reason));
  }
  const variance = blockLength * (1 / 2 ** m - (2 * m - 1) / 2 ** (2 * m));

  const windowsPerBlock = blockLength - m + 1;
  const values = 2 ** m;
  const words = packedBits(bits).words;
  // An aperiodic template cannot overlap itself, so the reference's scan (skip m − 1 bits after a match) counts every
  // occurrence of it: its count is the number of windows with its value. Only a periodic template, which a caller may
  // pass in `templates`, needs the positions of its windows.
  const periodic = templates.some((template) => !isAperiodic(template, m));
  const counts = new Int32Array(values);
  const bucketStart = new Uint32Array(values + 1);
  const positions = periodic ? new Uint32Array(windowsPerBlock) : null;
  const window = periodic ? new Uint32Array(windowsPerBlock) : null;
  // matches[t * blocks + i]: non-overlapping occurrences of templates[t] in block i.
  const matches = new Float64Array(templates.length * blocks);
  const shift = 32 - m;
  for (let block = 0; block < blocks; block++) {
    const base = block * blockLength;
    counts.fill(0);
    for (let j = 0; j < windowsPerBlock; j++) {
      const position = base + j;
      const w = position >>> 5;
      const offset = position & 31;
      const word = offset === 0 ? words[w]! : (words[w]! << offset) | (words[w + 1]! >>> (32 - offset));
      const value = word >>> shift;
      counts[value]!++;
      if (window !== null) window[j] = value;
    }
    if (positions !== null && window !== null) {
      bucketStart[0] = 0;
      for (let v = 0; v < values; v++) bucketStart[v + 1] = bucketStart[v]! + counts[v]!;
      const fill = bucketStart.slice(0, values);
      for (let j = 0; j < windowsPerBlock; j++) positions[fill[window[j]!]!++] = j;
    }
    templates.forEach((template, t) => {
      if (positions === null || isAperiodic(template, m)) {
        matches[t * blocks + block] = counts[template]!;
        return;
      }
      let count = 0;
      let nextFree = 0;
      for (let k = bucketStart[template]!, end = bucketStart[template + 1]!; k < end; k++) {
        const at = positions[k]!;
        if (at >= nextFree) {
          count++;
          nextFree = at + m;
        }
      }
      matches[t * blocks + block] = count;
    });
  }

  return templates.map((template, t) => {
    let chiSquared = 0;
    for (let i = 0; i < blocks; i++) {
      const z = (matches[t * blocks + i]! - lambda) / Math.sqrt(variance);
      chiSquared += z * z;
    }
    return computed('NonOverlappingTemplate', templateBits(template, m), igamc(blocks / 2, chiSquared / 2), chiSquared);
  });
}
