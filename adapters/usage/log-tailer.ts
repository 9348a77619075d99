import { createHash } from 'node:crypto';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createAccessLogParser, type AccessLogCheckpoint, type AccessLogFormat, type AccessLogParserOptions, type LogProblem, type ObservedUse } from '../../domain/usage/access-log';

/**
 * Where reading a log stopped, JSON-safe for the caller to store with the uses it got from the same call (in one
 * transaction, so that a restart neither loses nor repeats them). The file is known by device and inode and by a hash
 * of its first bytes, so that a file put in its place (rotation), a file cut short (truncation) and an inode the system
 * reused are told apart.
 */
export interface LogPosition {
  file: LogFileIdentity | null;
  /** Bytes of the file consumed, always up to the end of a line. */
  offset: number;
  parser: AccessLogCheckpoint;
}

export interface LogFileIdentity {
  dev: string;
  ino: string;
  /** SHA-256 of the first `fingerprintBytes` bytes. */
  fingerprint: string;
  fingerprintBytes: number;
}

export interface TailResult {
  uses: ObservedUse[];
  problems: LogProblem[];
  position: LogPosition;
  /** What happened to the file since the stored position, for the caller to log or alert on. */
  events: TailEvent[];
  /** More is there to read than one call reads. */
  more: boolean;
}

export type TailEvent =
  | { kind: 'rotated'; finishedFrom: string | null }
  | { kind: 'truncated'; finishedFrom: string | null }
  | { kind: 'rotated-file-gone'; unreadBytesUnknown: true };

export interface TailOptions extends AccessLogParserOptions {
  /** Bytes read at most per call (default 4 MiB); the rest waits for the next call. */
  maxBytes?: number;
}

/** Enough of a spy log's start to hold its first time stamp (to the millisecond), so that two logs differ. */
const FINGERPRINT_BYTES = 256;
const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

interface FileStat {
  dev: bigint;
  ino: bigint;
  size: bigint;
}

async function statOrNull(path: string): Promise<FileStat | null> {
  try {
    return await stat(path, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

async function readRange(path: string, start: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await handle.read(buffer, filled, length - filled, start + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

async function identify(path: string, file: FileStat): Promise<LogFileIdentity> {
  const head = await readRange(path, 0, Math.min(FINGERPRINT_BYTES, Number(file.size)));
  return { dev: file.dev.toString(), ino: file.ino.toString(), fingerprint: createHash('sha256').update(head).digest('hex'), fingerprintBytes: head.length };
}

/** Whether `file` at `path` is the file `identity` names: same inode, and still starting with the same bytes. */
async function isSameFile(path: string, file: FileStat, identity: LogFileIdentity): Promise<boolean> {
  if (file.dev.toString() !== identity.dev || file.ino.toString() !== identity.ino) return false;
  if (Number(file.size) < identity.fingerprintBytes) return false;
  const head = await readRange(path, 0, identity.fingerprintBytes);
  return createHash('sha256').update(head).digest('hex') === identity.fingerprint;
}

/**
 * Where the text `identity` names went, in the same folder: the file itself, moved (`app.log` → `app.log.1`), or when
 * `copied`, a copy of it that starts with the same bytes (logrotate's copytruncate copies, then truncates).
 */
async function findElsewhere(path: string, identity: LogFileIdentity, copied: boolean, minSize: number): Promise<string | null> {
  const folder = dirname(path);
  for (const name of await readdir(folder)) {
    if (name === basename(path)) continue;
    const candidate = join(folder, name);
    const file = await statOrNull(candidate);
    if (!file || Number(file.size) < minSize) continue;
    const sought = copied ? { ...identity, dev: file.dev.toString(), ino: file.ino.toString() } : identity;
    if (await isSameFile(candidate, file, sought)) return candidate;
  }
  return null;
}

/**
 * Reads `path` from `position` (from its start when null) and returns the uses found and the position after them.
 * Rotation (the file moved aside and a new one created): the old file is read to its end where it went in the same
 * folder, then the new one from its start. Truncation (the file shorter than the position, or its first bytes changed):
 * a copy of the old text in the same folder is read to its end, if there is one, then the file from its start. A last
 * line without its newline waits for the next call.
 */
export async function readLogFrom(path: string, format: AccessLogFormat, position: LogPosition | null, options: TailOptions = {}): Promise<TailResult> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const parser = createAccessLogParser(format, options, position?.parser);
  const uses: ObservedUse[] = [];
  const problems: LogProblem[] = [];
  const events: TailEvent[] = [];
  const take = (text: string): void => {
    const parsed = parser.feed(text);
    uses.push(...parsed.uses);
    problems.push(...parsed.problems);
  };
  const restart = (): void => {
    problems.push(...parser.restart());
  };

  let identity = position?.file ?? null;
  let offset = position?.offset ?? 0;
  const current = await statOrNull(path);

  if (identity) {
    const sameInode = current !== null && current.dev.toString() === identity.dev && current.ino.toString() === identity.ino;
    if (current && sameInode) {
      if (Number(current.size) < offset || !(await isSameFile(path, current, identity))) {
        // What was written after the position is lost, unless the truncation kept a copy (copytruncate): finish that.
        const copy = await findElsewhere(path, identity, true, offset);
        if (copy) {
          const size = Number((await stat(copy)).size);
          const length = Math.min(size - offset, maxBytes);
          if (length > 0) take((await readRange(copy, offset, length)).toString('utf8'));
          if (offset + length < size) {
            // More than one call reads: go on from the copy, which from now on is the file of the position.
            return { uses, problems, events, more: true, position: { file: await identify(copy, await stat(copy, { bigint: true })), offset: offset + length, parser: parser.checkpoint() } };
          }
        }
        events.push({ kind: 'truncated', finishedFrom: copy });
        restart();
        identity = null;
        offset = 0;
      }
    } else {
      const moved = await findElsewhere(path, identity, false, offset);
      if (moved) {
        const size = Number((await stat(moved)).size);
        const length = Math.min(size - offset, maxBytes);
        if (length > 0) take((await readRange(moved, offset, length)).toString('utf8'));
        if (offset + length < size) {
          // The old file holds more than one call reads: stay on it.
          return { uses, problems, events, more: true, position: { file: identity, offset: offset + length, parser: parser.checkpoint() } };
        }
      } else {
        events.push({ kind: 'rotated-file-gone', unreadBytesUnknown: true });
      }
      events.push({ kind: 'rotated', finishedFrom: moved });
      restart();
      identity = null;
      offset = 0;
    }
  }

  if (!current) return { uses, problems, events, more: false, position: { file: identity, offset, parser: parser.checkpoint() } };
  const size = Number(current.size);
  const readFrom = offset;
  const available = Math.min(size - offset, maxBytes);
  const bytes = available > 0 ? await readRange(path, offset, available) : Buffer.alloc(0);
  // Only whole lines: a line still being written is read again, whole, next time.
  const end = bytes.lastIndexOf(0x0a) + 1;
  if (end > 0) take(bytes.subarray(0, end).toString('utf8'));
  offset += end;
  if (identity === null || identity.fingerprintBytes < Math.min(FINGERPRINT_BYTES, size)) identity = await identify(path, current);
  const stuck = end === 0 && available === maxBytes;
  if (stuck) {
    // A "line" longer than one read: no log this source reads has one; skip it rather than stop for ever.
    problems.push({ line: 0, problem: `a line longer than ${maxBytes} bytes at offset ${offset} was skipped` });
    restart();
    offset += available;
  }
  // A partial last line is not "more": it waits for its writer, not for another read.
  return { uses, problems, events, more: readFrom + available < size, position: { file: identity, offset, parser: parser.checkpoint() } };
}
