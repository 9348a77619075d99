import type { UsageOperation } from '../events';

/**
 * What an HSM access log says about one use of a key: the operation, when, and the key as the log names it. A log names
 * keys by their PKCS#11 identity (CKA_ID, label), not by keyrotor's key name and version: mapping one to the other is a
 * later step, as is looking an unresolved handle up on the token.
 */
export interface ObservedUse {
  /** ISO 8601, UTC. */
  ts: string;
  op: UsageOperation;
  count: number;
  key: ObservedKey;
  /** The mechanism the log named (`CKM_ECDSA`), when it names one. */
  mechanism: string | null;
}

/**
 * `resolved`: the log said which object it was (CKA_ID in lowercase hex and/or label, as the application searched or
 * read them). Otherwise the handle the application used (`0x2`), or null when the log did not show the call that chose the key.
 */
export type ObservedKey = { resolved: true; id: string | null; label: string | null } | { resolved: false; handle: string | null };

/**
 * A line or record of a log that could not be read, by number only: a log may hold secrets, so a problem never quotes
 * it. Counted lines are those the parser was fed since it started (or since the checkpoint it was restored from).
 */
export interface LogProblem {
  line: number;
  problem: string;
}

export interface ParsedAccessLog {
  uses: ObservedUse[];
  problems: LogProblem[];
}

/** A parser's state in JSON, to be stored beside the position it belongs to and handed back to resume there. */
export interface AccessLogCheckpoint {
  format: AccessLogFormat;
  state: unknown;
}

/** One parser per log format, fed text in chunks of any size: a chunk may end in the middle of a line or of a record. */
export interface AccessLogParser {
  feed(text: string): ParsedAccessLog;
  /**
   * The file started over (truncated, or replaced by a new one): a line or record left open at the end of the old text
   * is dropped (and named in the problems returned). What the parser learned about processes that may still be writing
   * is kept.
   */
  restart(): LogProblem[];
  checkpoint(): AccessLogCheckpoint;
}

export const ACCESS_LOG_FORMATS = ['pkcs11-spy', 'ndjson'] as const;
export type AccessLogFormat = (typeof ACCESS_LOG_FORMATS)[number];

export interface AccessLogParserOptions {
  /** The IANA time zone of a log's local times (the PKCS#11 spy writes local time without a zone); default UTC. */
  timeZone?: string;
}
