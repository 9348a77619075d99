import { canonicalJson } from '../canonical-json';
import { sha256Hex } from '../signed-object';

/** The hash that the first entry of the chain points back to. */
export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEntryContent {
  seq: number;
  /** ISO 8601 with milliseconds, UTC. */
  at: string;
  actor: string;
  action: string;
  subject: string;
  details: Record<string, unknown>;
}

export interface AuditEntry extends AuditEntryContent {
  prevHash: string;
  hash: string;
}

/** SHA-256 over the canonical form of the entry's content and the previous entry's hash. */
export function auditEntryHash(content: AuditEntryContent, prevHash: string): string {
  const { seq, at, actor, action, subject, details } = content;
  return sha256Hex(canonicalJson({ seq, at, actor, action, subject, details, prevHash }));
}

export function chainAuditEntry(content: AuditEntryContent, previous: Pick<AuditEntry, 'seq' | 'hash'> | undefined): AuditEntry {
  const prevHash = previous?.hash ?? GENESIS_HASH;
  return { ...content, prevHash, hash: auditEntryHash(content, prevHash) };
}

export type AuditProblem =
  | { seq: number; kind: 'modified'; message: string }
  | { seq: number; kind: 'missing'; message: string }
  | { seq: number; kind: 'broken-link'; message: string };

export interface AuditVerification {
  ok: boolean;
  entries: number;
  firstSeq: number | null;
  lastSeq: number | null;
  headHash: string;
  problems: AuditProblem[];
}

/**
 * Checks entries fed in sequence order, a page at a time: each hash must match its content, each entry must point at
 * its predecessor's hash, and sequence numbers must have no gaps (a deleted entry). Reports every problem, not the first.
 */
export class AuditChainVerifier {
  private readonly problems: AuditProblem[] = [];
  private expectedPrev = GENESIS_HASH;
  private expectedSeq = 1;
  private count = 0;
  private firstSeq: number | null = null;

  add(entry: AuditEntry): void {
    if (entry.seq !== this.expectedSeq) {
      const gap = entry.seq - 1 > this.expectedSeq ? `${this.expectedSeq}–${entry.seq - 1}` : `${this.expectedSeq}`;
      const message = entry.seq > this.expectedSeq
        ? `entry ${gap} is missing before entry ${entry.seq}`
        : `entry ${entry.seq} is out of sequence (expected ${this.expectedSeq})`;
      this.problems.push({ seq: entry.seq, kind: 'missing', message });
    }
    if (entry.prevHash !== this.expectedPrev) {
      this.problems.push({ seq: entry.seq, kind: 'broken-link', message: `entry ${entry.seq} does not point at the hash of the entry before it` });
    }
    if (auditEntryHash(entry, entry.prevHash) !== entry.hash) {
      this.problems.push({ seq: entry.seq, kind: 'modified', message: `entry ${entry.seq} was modified after it was written (its hash does not match its content)` });
    }
    this.firstSeq ??= entry.seq;
    this.expectedPrev = entry.hash;
    this.expectedSeq = entry.seq + 1;
    this.count += 1;
  }

  result(): AuditVerification {
    return {
      ok: this.problems.length === 0,
      entries: this.count,
      firstSeq: this.firstSeq,
      lastSeq: this.count > 0 ? this.expectedSeq - 1 : null,
      headHash: this.expectedPrev,
      problems: [...this.problems],
    };
  }
}

export function verifyAuditChain(entries: readonly AuditEntry[]): AuditVerification {
  const verifier = new AuditChainVerifier();
  for (const entry of entries) verifier.add(entry);
  return verifier.result();
}
