import type { UsageOperation } from '../events';
import type { AccessLogCheckpoint, AccessLogParser, AccessLogParserOptions, LogProblem, ObservedKey, ObservedUse, ParsedAccessLog } from './format';
import { wallTimeToIso } from './local-time';

/*
 * The log of OpenSC's PKCS#11 spy (pkcs11-spy.so, OpenSC 0.23). Every call is one record:
 *
 *   12: C_SignInit                      the process's call counter and the function
 *   2026-12-06 20:40:36.539             local time, no zone
 *   [in] hSession = 0x1                 parameters; buffers and templates follow on indented lines
 *   [in] hKey = 0x2
 *   Returned:  0 CKR_OK                 the return value closes the record
 *
 * A process that loads the spy first writes a banner. The spy does not write the process id: handles are scoped to the
 * run of calls that follows a banner and continues its counter (0, 1, 2, …). Records of two processes appending to one
 * file interleave whole, so a record belongs to the process whose counter it continues; when two could continue (both
 * at the same count), neither is trusted again and their uses stay unresolved, unless all but one of them have been
 * silent for PRESUMED_GONE_MS. A process whose banner this parser never saw (the log was read from its middle) counts
 * its uses but never resolves them.
 *
 * Secrets: the spy prints PINs (C_Login, C_InitPIN, C_SetPIN, C_InitToken) and data, plaintext and key material as
 * indented hex dumps. This parser reads indented lines only inside the templates of C_FindObjectsInit and
 * C_GetAttributeValue, and there only the values of CKA_ID and CKA_LABEL; every other indented line is dropped as it
 * arrives, also when a chunk ends in its middle, so neither the uses, the problems nor the checkpoint hold it.
 *
 * What counts: one use per completed operation, when the HSM answered CKR_OK. A single-part call (C_Sign, C_Verify,
 * C_Encrypt, C_Decrypt) or the Final of a multi-part one (C_SignUpdate… C_SignFinal) completes it; an Init or Update
 * alone does not. A length query (output buffer NULL) and CKR_BUFFER_TOO_SMALL leave the operation open, any other
 * error ends it unused. C_WrapKey counts a `wrap` of the wrapping key, C_UnwrapKey an `unwrap` of the unwrapping key.
 */

const CKR_OK = 0;
const CKR_ATTRIBUTE_SENSITIVE = 0x11;
const CKR_ATTRIBUTE_TYPE_INVALID = 0x12;
const CKR_BUFFER_TOO_SMALL = 0x150;

type Family = 'sign' | 'verify' | 'encrypt' | 'decrypt';
const FAMILY_OPERATION: Record<Family, UsageOperation> = { sign: 'sign', verify: 'verify', encrypt: 'encrypt', decrypt: 'decrypt' };
const CALLS: Record<string, { family: Family; step: 'init' | 'single' | 'update' | 'final' }> = {};
for (const [family, name] of [['sign', 'Sign'], ['verify', 'Verify'], ['encrypt', 'Encrypt'], ['decrypt', 'Decrypt']] as const) {
  CALLS[`C_${name}Init`] = { family, step: 'init' };
  CALLS[`C_${name}`] = { family, step: 'single' };
  CALLS[`C_${name}Update`] = { family, step: 'update' };
  CALLS[`C_${name}Final`] = { family, step: 'final' };
}
/** Records whose templates name objects: the only ones whose indented lines are read. */
const TEMPLATE_READERS = new Set(['C_FindObjectsInit', 'C_GetAttributeValue']);
const NAMING_ATTRIBUTES = new Set(['CKA_ID', 'CKA_LABEL']);
const SCALARS = new Set(['hSession', 'hKey', 'hObject', 'hWrappingKey', 'hUnwrappingKey', 'pMechanism->type']);
/** Bounds of what is kept: a checkpoint stays small however long a process runs or however many come and go. */
const MAX_PROCESSES = 64;
const MAX_HANDLES = 10_000;
const MAX_NAME_BYTES = 1024;
/**
 * A process silent this long (in the log's time) is presumed gone when another reaches its count: applications are
 * often stopped without C_Finalize, and the count they stopped at would otherwise collide with every later process.
 */
export const PRESUMED_GONE_MS = 10 * 60_000;

interface KeyName {
  id: string | null;
  label: string | null;
}

interface PendingOperation {
  handle: string;
  mechanism: string | null;
}

/** One process as the log shows it. */
interface SpyProcess {
  next: number;
  /** The local time of its last record. */
  lastSeen: string | null;
  /** False for a process whose start this parser did not see, or whose records could be mistaken for another's. */
  scoped: boolean;
  handles: Record<string, KeyName>;
  /** `session:family` → the operation an Init opened. */
  operations: Record<string, PendingOperation>;
  /** session → what the open C_FindObjectsInit searched for. */
  searches: Record<string, KeyName | null>;
}

interface Attribute {
  name: string;
  size: number;
  hex: string;
}

interface OpenRecord {
  call: number;
  fn: string;
  line: number;
  wallTime: string | null;
  scalars: Record<string, string>;
  lengthQuery: boolean;
  found: string[];
  section: 'in' | 'out' | null;
  /** The attribute whose value lines follow, and where its value is kept (an index, so that the state stays plain JSON). */
  attribute: { name: string; index: number | null } | null;
  template: { in: Attribute[]; out: Attribute[] };
}

interface SpyState {
  version: 1;
  processes: SpyProcess[];
  record: OpenRecord | null;
  /** The start of a line the last chunk ended in; never an indented line outside a naming attribute. */
  carry: string;
  /** The last chunk ended inside a line that was dropped: the rest of it is dropped too. */
  dropRestOfLine: boolean;
  line: number;
}

const BANNER = /^\*+ OpenSC PKCS#11 spy \*+$/;
const HEADER = /^(\d+): ([A-Za-z_]\w*)$/;
const WALL_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/;
const RETURNED = /^Returned:\s+(\d+)\b/;
const SCALAR = /^\[(?:in|out)\] (\S+) = (\S+)/;
const TEMPLATE = /^\[(in|out)\] pTemplate\[\d+\]:\s*$/;
const NULL_OUTPUT = /^\[out\] \S+ NULL \[size/;
const FOUND = /^Object (0x[0-9a-f]+) matches$/;
const ATTRIBUTE_HEADER = /^\s+(CKA_\w+)\s+(?:[0-9a-f]+ \/ (\d+))?/;
/** A dump line of print_generic: offset, two spaces, up to 16 bytes. */
const GENERIC_DUMP = /^ {4}[0-9A-F]{8} {2}((?:[0-9A-F]{2} ){1,16})/;
/** A dump line of print_print (labels): groups of up to 4 bytes, then a line of the characters. */
const PRINT_DUMP = /^ {4}([0-9A-F]{2,8}(?: [0-9A-F]{2,8})*)\s*$/;

/** A local time as milliseconds, for differences only (the zone does not matter to them). */
const wallMs = (wallTime: string): number => Date.parse(`${wallTime.replace(' ', 'T')}Z`);
const isIndented = (line: string): boolean => line.startsWith(' ') || line.startsWith('\t');

function emptyState(): SpyState {
  return { version: 1, processes: [], record: null, carry: '', dropRestOfLine: false, line: 0 };
}

function isSpyState(value: unknown): value is SpyState {
  const state = value as Partial<SpyState> | null;
  return typeof state === 'object' && state !== null && state.version === 1 && Array.isArray(state.processes) && typeof state.carry === 'string' && typeof state.line === 'number';
}

export class Pkcs11SpyParser implements AccessLogParser {
  private state: SpyState;
  private readonly timeZone: string;
  private uses: ObservedUse[] = [];
  private problems: LogProblem[] = [];

  constructor(options: AccessLogParserOptions = {}, checkpoint?: AccessLogCheckpoint) {
    this.timeZone = options.timeZone ?? 'UTC';
    if (checkpoint === undefined) {
      this.state = emptyState();
    } else {
      if (checkpoint.format !== 'pkcs11-spy' || !isSpyState(checkpoint.state)) throw new Error(`the checkpoint is not one of a pkcs11-spy parser (format '${String(checkpoint.format)}')`);
      this.state = structuredClone(checkpoint.state);
    }
  }

  feed(text: string): ParsedAccessLog {
    this.uses = [];
    this.problems = [];
    const lines = text.split('\n');
    const last = lines.pop() as string;
    for (const [index, piece] of lines.entries()) {
      const line = (index === 0 ? this.state.carry + piece : piece).replace(/\r$/, '');
      if (index === 0) this.state.carry = '';
      this.state.line += 1;
      if (this.state.dropRestOfLine) {
        this.state.dropRestOfLine = false;
        continue;
      }
      this.readLine(line);
    }
    if (lines.length === 0) this.keepPartial(this.state.carry + last);
    else this.keepPartial(last);
    return { uses: this.uses, problems: this.problems };
  }

  restart(): LogProblem[] {
    const record = this.state.record;
    this.state.record = null;
    this.state.carry = '';
    this.state.dropRestOfLine = false;
    return record ? [{ line: record.line, problem: `call ${record.call} (${record.fn}) was cut off by the end of its file; its use, if any, is not counted` }] : [];
  }

  checkpoint(): AccessLogCheckpoint {
    return { format: 'pkcs11-spy', state: structuredClone(this.state) };
  }

  /** Keeps the start of a line for the next chunk, unless it may be a line this parser never reads. */
  private keepPartial(partial: string): void {
    if (this.state.dropRestOfLine) {
      this.state.carry = '';
      return;
    }
    if (partial !== '' && isIndented(partial) && !this.readsIndented(partial)) {
      this.state.carry = '';
      this.state.dropRestOfLine = true;
      return;
    }
    this.state.carry = partial;
  }

  /** Whether an indented line (or the start of one) can be part of what the parser reads. */
  private readsIndented(line: string): boolean {
    const record = this.state.record;
    if (!record || !TEMPLATE_READERS.has(record.fn) || record.section === null) return false;
    const trimmed = line.trimStart();
    // The start of an attribute's name ("CK", "CKA_LA") is kept until the line shows which attribute it is.
    if ('CKA_'.startsWith(trimmed) || trimmed.startsWith('CKA_')) return true;
    return record.attribute !== null && NAMING_ATTRIBUTES.has(record.attribute.name);
  }

  private readLine(line: string): void {
    if (line === '') return;
    if (isIndented(line)) {
      if (this.readsIndented(line)) this.readTemplateLine(line);
      return;
    }
    if (BANNER.test(line)) {
      this.abandonRecord('a new process started writing');
      this.addProcess({ next: 0, lastSeen: null, scoped: true, handles: {}, operations: {}, searches: {} });
      return;
    }
    const header = HEADER.exec(line);
    if (header) {
      this.abandonRecord(`call ${header[1]} started`);
      this.state.record = { call: Number(header[1]), fn: header[2] as string, line: this.state.line, wallTime: null, scalars: {}, lengthQuery: false, found: [], section: null, attribute: null, template: { in: [], out: [] } };
      return;
    }
    const record = this.state.record;
    if (!record) return;
    if (record.wallTime === null && WALL_TIME.test(line)) {
      record.wallTime = line;
      return;
    }
    const returned = RETURNED.exec(line);
    if (returned) {
      this.state.record = null;
      this.closeRecord(record, Number(returned[1]));
      return;
    }
    const template = TEMPLATE.exec(line);
    if (template) {
      record.section = template[1] as 'in' | 'out';
      record.attribute = null;
      return;
    }
    record.section = null;
    record.attribute = null;
    if (NULL_OUTPUT.test(line)) {
      record.lengthQuery = true;
      return;
    }
    const found = FOUND.exec(line);
    if (found) {
      record.found.push(found[1] as string);
      return;
    }
    const scalar = SCALAR.exec(line);
    if (scalar && SCALARS.has(scalar[1] as string)) record.scalars[scalar[1] as string] = scalar[2] as string;
  }

  private readTemplateLine(line: string): void {
    const record = this.state.record as OpenRecord;
    const header = ATTRIBUTE_HEADER.exec(line);
    if (header) {
      const name = header[1] as string;
      if (!NAMING_ATTRIBUTES.has(name)) {
        record.attribute = { name, index: null };
        return;
      }
      const values = record.template[record.section as 'in' | 'out'];
      values.push({ name, size: Number(header[2] ?? 0), hex: '' });
      record.attribute = { name, index: values.length - 1 };
      return;
    }
    const index = record.attribute?.index;
    const attribute = index === null || index === undefined ? undefined : record.template[record.section as 'in' | 'out'][index];
    if (!attribute || attribute.hex.length >= attribute.size * 2 || attribute.size > MAX_NAME_BYTES) return;
    const dump = GENERIC_DUMP.exec(line) ?? PRINT_DUMP.exec(line);
    if (dump) attribute.hex += (dump[1] as string).replace(/ /g, '').toLowerCase();
  }

  private abandonRecord(why: string): void {
    const record = this.state.record;
    if (!record) return;
    this.state.record = null;
    // The call happened even if its end is missing: its process's count moves on.
    const candidates = this.state.processes.filter((process) => process.next === record.call);
    if (candidates.length === 1) Object.assign(candidates[0] as SpyProcess, { next: record.call + 1, lastSeen: record.wallTime ?? (candidates[0] as SpyProcess).lastSeen });
    this.problems.push({ line: record.line, problem: `call ${record.call} (${record.fn}) has no return value (${why}); its use, if any, is not counted` });
  }

  private addProcess(process: SpyProcess): SpyProcess {
    this.state.processes.push(process);
    if (this.state.processes.length > MAX_PROCESSES) this.state.processes.shift();
    return process;
  }

  /** The process a record belongs to: the one whose counter it continues. */
  private processOf(record: OpenRecord): SpyProcess {
    let candidates = this.state.processes.filter((process) => process.next === record.call);
    if (candidates.length > 1 && record.wallTime !== null) {
      const now = wallMs(record.wallTime);
      const live = candidates.filter((process) => process.lastSeen === null || !(now - wallMs(process.lastSeen) > PRESUMED_GONE_MS));
      if (live.length === 1) {
        this.state.processes = this.state.processes.filter((process) => !candidates.includes(process) || live.includes(process));
        candidates = live;
      }
    }
    if (candidates.length === 1) return candidates[0] as SpyProcess;
    if (candidates.length > 1) {
      // Two processes at the same count: from here on either could be either, so neither resolves handles any more.
      for (const candidate of candidates) Object.assign(candidate, { scoped: false, handles: {}, operations: {}, searches: {} });
      this.problems.push({ line: record.line, problem: `call ${record.call} could belong to ${candidates.length} processes writing to this log; their uses are counted, unresolved` });
      return candidates[0] as SpyProcess;
    }
    return this.addProcess({ next: record.call, lastSeen: null, scoped: false, handles: {}, operations: {}, searches: {} });
  }

  private closeRecord(record: OpenRecord, rv: number): void {
    const process = this.processOf(record);
    process.next = record.call + 1;
    process.lastSeen = record.wallTime ?? process.lastSeen;
    const session = record.scalars.hSession ?? '';
    const call = CALLS[record.fn];
    if (call) {
      const slot = `${session}:${call.family}`;
      if (call.step === 'init') {
        if (rv === CKR_OK && record.scalars.hKey) process.operations[slot] = { handle: record.scalars.hKey, mechanism: record.scalars['pMechanism->type'] ?? null };
        return;
      }
      if (rv === CKR_BUFFER_TOO_SMALL || (rv === CKR_OK && record.lengthQuery)) return;
      const pending = process.operations[slot];
      if (call.step === 'update' && rv === CKR_OK) return;
      delete process.operations[slot];
      if (rv !== CKR_OK || call.step === 'update') return;
      this.emit(record, process, FAMILY_OPERATION[call.family], pending?.handle ?? null, pending?.mechanism ?? null);
      return;
    }
    switch (record.fn) {
      case 'C_WrapKey':
        if (rv === CKR_OK && !record.lengthQuery) this.emit(record, process, 'wrap', record.scalars.hWrappingKey ?? null, record.scalars['pMechanism->type'] ?? null);
        return;
      case 'C_UnwrapKey':
        if (rv === CKR_OK) this.emit(record, process, 'unwrap', record.scalars.hUnwrappingKey ?? null, record.scalars['pMechanism->type'] ?? null);
        return;
      case 'C_FindObjectsInit':
        if (rv === CKR_OK) process.searches[session] = nameIn(record.template.in);
        return;
      case 'C_FindObjects': {
        const searched = process.searches[session];
        if (rv === CKR_OK && searched) for (const handle of record.found) this.remember(process, handle, searched);
        return;
      }
      case 'C_FindObjectsFinal':
        delete process.searches[session];
        return;
      case 'C_GetAttributeValue': {
        const named = nameIn(record.template.out);
        const object = record.scalars.hObject;
        if (object && named && [CKR_OK, CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID, CKR_BUFFER_TOO_SMALL].includes(rv)) this.remember(process, object, named);
        return;
      }
      case 'C_DestroyObject':
        if (rv === CKR_OK && record.scalars.hObject) delete process.handles[record.scalars.hObject];
        return;
      case 'C_CloseSession':
        if (rv === CKR_OK) {
          for (const slot of Object.keys(process.operations)) if (slot.startsWith(`${session}:`)) delete process.operations[slot];
          delete process.searches[session];
        }
        return;
      case 'C_CloseAllSessions':
        if (rv === CKR_OK) Object.assign(process, { operations: {}, searches: {} });
        return;
      case 'C_Finalize':
        // The process let go of the module: its handles mean nothing any more.
        if (rv === CKR_OK) this.state.processes = this.state.processes.filter((candidate) => candidate !== process);
        return;
      default:
        return;
    }
  }

  /** What the process learned about a handle, added to what it knew: a handle names one object until it is destroyed. */
  private remember(process: SpyProcess, handle: string, name: KeyName): void {
    if (!process.scoped) return;
    const known = process.handles[handle];
    delete process.handles[handle];
    process.handles[handle] = { id: name.id ?? known?.id ?? null, label: name.label ?? known?.label ?? null };
    const handles = Object.keys(process.handles);
    if (handles.length > MAX_HANDLES) delete process.handles[handles[0] as string];
  }

  private emit(record: OpenRecord, process: SpyProcess, op: UsageOperation, handle: string | null, mechanism: string | null): void {
    const ts = record.wallTime === null ? null : wallTimeToIso(record.wallTime, this.timeZone);
    if (ts === null) {
      this.problems.push({ line: record.line, problem: `call ${record.call} (${record.fn}) has no readable time; its use is not counted` });
      return;
    }
    const name = handle !== null && process.scoped ? process.handles[handle] : undefined;
    const key: ObservedKey = name ? { resolved: true, id: name.id, label: name.label } : { resolved: false, handle };
    this.uses.push({ ts, op, count: 1, key, mechanism: mechanism && /^\w+$/.test(mechanism) ? mechanism : null });
  }
}

/** The CKA_ID and label a template gives in full, or null when it names neither. */
function nameIn(attributes: Attribute[]): KeyName | null {
  let id: string | null = null;
  let label: string | null = null;
  for (const attribute of attributes) {
    if (attribute.size === 0 || attribute.hex.length !== attribute.size * 2) continue;
    if (attribute.name === 'CKA_ID') id = attribute.hex;
    else label = Buffer.from(attribute.hex, 'hex').toString('utf8');
  }
  return id === null && label === null ? null : { id, label };
}
