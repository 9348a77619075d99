import { USAGE_FIELD_BOUNDS, USAGE_OPERATIONS, type UsageOperation } from '../events';
import { isCleanText, parseTimestamp } from '../../input-bounds';
import type { AccessLogCheckpoint, AccessLogParser, LogProblem, ObservedUse, ParsedAccessLog } from './format';

/*
 * The mapping an HSM's own audit export can be turned into: one JSON object per line,
 *
 *   {"ts": "2026-12-06T20:40:36.539Z", "op": "sign", "id": "a1b2c3", "label": "payments", "count": 1, "mechanism": "CKM_ECDSA"}
 *
 * `ts` an ISO 8601 time with its zone; `op` one of sign, verify, encrypt, decrypt, wrap, unwrap; the key by `id` (its
 * CKA_ID in hex) and/or `label`, or by `handle` when the export knows only that; `count` (default 1) and `mechanism`
 * optional. A line that breaks the mapping is reported by number and field, never quoted, and counts nothing.
 */

const FIELDS = new Set(['ts', 'op', 'id', 'label', 'handle', 'count', 'mechanism']);
const MAX_LINE = 4096;

interface NdjsonState {
  version: 1;
  carry: string;
  /** The line being carried is longer than any line of the mapping: the rest of it is dropped. */
  dropRestOfLine: boolean;
  line: number;
}

export class NdjsonAccessLogParser implements AccessLogParser {
  private state: NdjsonState;

  constructor(checkpoint?: AccessLogCheckpoint) {
    if (checkpoint === undefined) {
      this.state = { version: 1, carry: '', dropRestOfLine: false, line: 0 };
      return;
    }
    const state = checkpoint.state as Partial<NdjsonState> | null;
    if (checkpoint.format !== 'ndjson' || typeof state !== 'object' || state === null || state.version !== 1 || typeof state.carry !== 'string' || typeof state.line !== 'number') {
      throw new Error(`the checkpoint is not one of an ndjson parser (format '${String(checkpoint.format)}')`);
    }
    this.state = { version: 1, carry: state.carry, dropRestOfLine: state.dropRestOfLine === true, line: state.line };
  }

  feed(text: string): ParsedAccessLog {
    const uses: ObservedUse[] = [];
    const problems: LogProblem[] = [];
    const lines = (this.state.carry + text).split('\n');
    this.state.carry = lines.pop() as string;
    for (const raw of lines) {
      this.state.line += 1;
      if (this.state.dropRestOfLine) {
        this.state.dropRestOfLine = false;
        problems.push({ line: this.state.line, problem: `longer than ${MAX_LINE} characters` });
        continue;
      }
      const line = raw.replace(/\r$/, '');
      if (line.trim() === '') continue;
      const read = readLine(line);
      if (typeof read === 'string') problems.push({ line: this.state.line, problem: read });
      else uses.push(read);
    }
    if (this.state.carry.length > MAX_LINE) {
      this.state.carry = '';
      this.state.dropRestOfLine = true;
    }
    return { uses, problems };
  }

  restart(): LogProblem[] {
    const cut = this.state.carry.trim() !== '' || this.state.dropRestOfLine;
    this.state.carry = '';
    this.state.dropRestOfLine = false;
    return cut ? [{ line: this.state.line + 1, problem: 'cut off by the end of its file' }] : [];
  }

  checkpoint(): AccessLogCheckpoint {
    return { format: 'ndjson', state: { ...this.state } };
  }
}

/** The use a line maps to, or what is wrong with it (naming fields, never their values). */
function readLine(line: string): ObservedUse | string {
  if (line.length > MAX_LINE) return `longer than ${MAX_LINE} characters`;
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return 'not a JSON object';
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 'not a JSON object';
  const fields = entry as Record<string, unknown>;
  const wrong: string[] = [];
  for (const name of Object.keys(fields)) if (!FIELDS.has(name)) wrong.push(`unknown field (${name.length <= 40 && /^\w+$/.test(name) ? name : 'unnamed'})`);
  const ts = parseTimestamp(fields.ts);
  if (Number.isNaN(ts)) wrong.push('ts must be an ISO 8601 time with its zone');
  if (!(USAGE_OPERATIONS as readonly unknown[]).includes(fields.op)) wrong.push(`op must be one of ${USAGE_OPERATIONS.join(', ')}`);
  const id = fields.id;
  if (id !== undefined && !(typeof id === 'string' && /^(?:[0-9a-fA-F]{2}){1,256}$/.test(id))) wrong.push('id must be the CKA_ID in hex');
  const label = fields.label;
  if (label !== undefined && !isCleanText(label, 256)) wrong.push('label must be text (1–256 characters, no control characters)');
  const handle = fields.handle;
  if (handle !== undefined && !(typeof handle === 'string' && /^0x[0-9a-fA-F]{1,16}$/.test(handle))) wrong.push('handle must be a hex number (0x…)');
  if (id === undefined && label === undefined && handle === undefined) wrong.push('give id, label or handle');
  const count = fields.count ?? 1;
  if (!(Number.isInteger(count) && (count as number) > 0 && (count as number) <= USAGE_FIELD_BOUNDS.maxCount)) wrong.push('count must be a whole number from 1 to 1,000,000,000');
  const mechanism = fields.mechanism;
  if (mechanism !== undefined && !(typeof mechanism === 'string' && /^\w{1,64}$/.test(mechanism))) wrong.push('mechanism must be a mechanism name (CKM_…)');
  if (wrong.length > 0) return wrong.join('; ');
  const named = id !== undefined || label !== undefined;
  return {
    ts: new Date(ts).toISOString(),
    op: fields.op as UsageOperation,
    count: count as number,
    key: named ? { resolved: true, id: typeof id === 'string' ? id.toLowerCase() : null, label: (label as string | undefined) ?? null } : { resolved: false, handle: (handle as string).toLowerCase() },
    mechanism: (mechanism as string | undefined) ?? null,
  };
}
