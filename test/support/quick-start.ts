/**
 * The README's quick start as data: the lines a reader types, and the output recorded under each command. The
 * quick-start test runs the commands as written and compares what they print with the recording by shape
 * (outputShape), so that neither the commands nor their output can drift from the product.
 */

export interface QuickStartStep {
  /** What follows `$ ` in a code block, as a reader types it. */
  command: string;
  /** The lines recorded under it, up to the next command or the end of the block. */
  recorded: string[];
}

export interface QuickStart {
  /** The `export` and `source` lines a reader runs first, in the order the README gives them. */
  setup: string[];
  steps: QuickStartStep[];
}

const SECTION = /^## Quick start\b/;
const FENCE = /^```/;

/** Reads the section `## Quick start…` of a README: every code block's `$ ` commands with their output, and the setup. */
export function readQuickStart(markdown: string): QuickStart {
  const lines = markdown.split('\n');
  const from = lines.findIndex((line) => SECTION.test(line));
  if (from < 0) throw new Error('the README has no "## Quick start" section');
  const to = lines.findIndex((line, index) => index > from && line.startsWith('## '));
  const setup: string[] = [];
  const steps: QuickStartStep[] = [];
  let inBlock = false;
  let current: QuickStartStep | undefined;
  for (const line of lines.slice(from + 1, to < 0 ? undefined : to)) {
    if (FENCE.test(line)) {
      inBlock = !inBlock;
      current = undefined;
      continue;
    }
    if (!inBlock) continue;
    if (line.startsWith('$ ')) {
      current = { command: line.slice(2), recorded: [] };
      steps.push(current);
    } else if (current) {
      current.recorded.push(line);
    } else if (/^(export|source) /.test(line)) {
      setup.push(line);
    } else if (line.trim() !== '') {
      throw new Error(`a quick-start code block line that is neither a command, its output, nor an export/source line: ${line}`);
    }
  }
  return { setup, steps };
}

/** `--wait` progress: `HH:MM:SS  what happened`. */
const PROGRESS = /^\d{2}:\d{2}:\d{2} {2}(.*)$/;
const VERSION_STATE = /^v(\d+) (\w+)(?: → (\w+))?$/;

/**
 * What differs from run to run, each with what it becomes: dates, kids' fingerprint part, fingerprints and hashes, ids,
 * a JWT's issue time, and the audit log's seq numbers and entry count (other work of the system, such as anchoring,
 * adds entries too). Everything else must match.
 */
const VARYING: Array<[RegExp, string]> = [
  [/\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z\b/g, '<date>'],
  [/\b([a-z0-9][a-z0-9-]*\.v\d+)\.[0-9a-f]{8}\b/g, '$1.<fingerprint>'],
  [/\b[0-9a-f]{64}\b/g, '<hash>'],
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, '<id>'],
  [/"iat":\d+/g, '"iat":<time>'],
  // audit list: SEQ AT …; audit verify: entries, seq range, each node's anchor seq.
  [/^\d+(?= +<date>)/, '<seq>'],
  [/^(entries: +)\d+$/, '$1<seq>'],
  [/^(seq: +)\d+\.\.\d+$/, '$1<seq>..<seq>'],
  [/^(\S+ +)\d+(?= +\w+ +(?:true|false)$)/, '$1<seq>'],
];

function normalise(line: string): string {
  let result = line;
  for (const [pattern, replacement] of VARYING) result = result.replace(pattern, replacement);
  // Table columns are as wide as their widest value, which may be a normalised one.
  return result.replace(/\s+/g, ' ').trim();
}

/**
 * A command's output as the quick-start test compares it. Output lines (fields, tables, replies) are compared line by
 * line, normalised. `--wait` progress is polled twice a second, so a step shorter than a poll may or may not show:
 * its `working:`/`done:` lines are left out, and its version states are gathered per version, in order (`v2: pending →
 * active`), as they come first in the output (compare them with `seenAsRecorded`); a hold is compared as it is.
 */
export function outputShape(lines: string[]): string[] {
  const trimmed = [...lines];
  while (trimmed.length > 0 && trimmed.at(-1)!.trim() === '') trimmed.pop();
  const states = new Map<number, string[]>();
  const held: string[] = [];
  const rest: string[] = [];
  for (const line of trimmed) {
    const progress = PROGRESS.exec(line)?.[1];
    if (progress === undefined) {
      rest.push(normalise(line));
      continue;
    }
    const version = VERSION_STATE.exec(progress);
    if (version) {
      const seen = states.get(Number(version[1])) ?? [];
      if (seen.length === 0 || version[3] === undefined) seen.push(version[2]!);
      if (version[3] !== undefined) seen.push(version[3]);
      states.set(Number(version[1]), seen);
    } else if (progress.startsWith('HELD ')) {
      held.push(normalise(progress));
    }
  }
  const progress = [...states.entries()].sort(([a], [b]) => a - b).map(([version, seen]) => `progress: v${version} ${seen.join(' → ')}`);
  return [...progress, ...held.map((line) => `progress: ${line}`), ...rest];
}

const VERSION_PROGRESS = /^progress: v(\d+) (.*)$/;

/**
 * A run's output shape with each version's states put as recorded where the run saw those states in part: a state
 * shorter than a poll (v3 pending for under half a second in an emergency rotation) may not show. The states the run
 * saw must come in the recorded order, none of them new, and end in the same state; anything else stays as seen.
 */
export function seenAsRecorded(recorded: string[], seen: string[]): string[] {
  const statesOf = (shape: string[]): Map<string, string[]> => new Map(shape.flatMap((line) => {
    const match = VERSION_PROGRESS.exec(line);
    return match ? [[match[1]!, match[2]!.split(' → ')] as [string, string[]]] : [];
  }));
  const recordedStates = statesOf(recorded);
  return seen.map((line) => {
    const match = VERSION_PROGRESS.exec(line);
    const expected = match ? recordedStates.get(match[1]!) : undefined;
    if (!match || !expected) return line;
    const states = match[2]!.split(' → ');
    let at = 0;
    const inOrder = states.every((state) => {
      while (at < expected.length && expected[at] !== state) at++;
      return at++ < expected.length;
    });
    return inOrder && states.at(-1) === expected.at(-1) ? `progress: v${match[1]!} ${expected.join(' → ')}` : line;
  });
}
