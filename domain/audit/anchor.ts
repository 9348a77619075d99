import { canonicalJson } from '../canonical-json';
import { isObjectSignature, openSignedObject, signedObjectValue, type ObjectSignature, type SignatureCheck } from '../signed-object';
import { auditEntryHash, type AuditEntry } from './chain';

/**
 * The audit anchor: the head of the audit hash chain (seq, hash, and the time of that entry) signed by the cluster
 * map-signing key and kept on every node as a PKCS#11 data object. PostgreSQL alone cannot tell a log whose newest
 * entries were removed from a shorter honest one; a node's anchor names an entry the log must still hold, unchanged.
 */

export const AUDIT_ANCHOR_FORMAT = 'keyrotor.audit-anchor/1';

export interface AuditAnchor {
  format: string;
  seq: number;
  hash: string;
  /** When the anchored entry was written (its `at`), so the anchor is a function of the chain alone. */
  at: string;
}

/** What a node's anchor object says, checked on the node against the map-signing public key. */
export type AnchorReading =
  | { status: 'valid'; anchor: AuditAnchor; bytesRead: number }
  | { status: 'missing'; bytesRead: 0 }
  | { status: 'tampered'; problem: string; bytesRead: number }
  | { status: 'unverifiable'; problem: string; bytesRead: number };

/**
 * The verdict on a node's anchor against the database: valid (the log holds the anchored entry, unchanged), missing,
 * tampered (the object fails verification), unverifiable (no map-signing key yet), ahead-of-database (the log ends
 * before the anchored entry: its tail was removed), mismatch (the log's entry at the anchored seq is another one).
 */
export type AnchorStatus = 'valid' | 'missing' | 'tampered' | 'unverifiable' | 'ahead-of-database' | 'mismatch';

export interface AnchorCheck {
  status: AnchorStatus;
  /** What the node's anchor names; null when it has none that verifies. */
  anchored: { seq: number; hash: string } | null;
  /** What the database holds: its head, and its entry at the anchored seq. */
  database: { headSeq: number | null; hashAtSeq: string | null };
  problem: string | null;
}

export function anchorOf(head: Pick<AuditEntry, 'seq' | 'hash' | 'at'>): AuditAnchor {
  return { format: AUDIT_ANCHOR_FORMAT, seq: head.seq, hash: head.hash, at: head.at };
}

/** The bytes the map-signing key signs: the anchor's canonical JSON. */
export function anchorSignedText(anchor: AuditAnchor): string {
  return canonicalJson(anchor);
}

export function anchorObjectValue(anchor: AuditAnchor, signature: ObjectSignature): string {
  return signedObjectValue('anchor', anchor, signature);
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Checks the anchor objects a node holds: exactly one, in canonical form, signed by the map-signing key. `verify`
 * checks a signature over a text with the map-signing public key.
 */
export function readAnchor(input: {
  values: string[];
  bytesRead: number;
  signingKeyFingerprint: string | null;
  verify: SignatureCheck;
}): AnchorReading {
  const { values, bytesRead } = input;
  if (values.length === 0) return { status: 'missing', bytesRead: 0 };
  if (values.length > 1) return { status: 'tampered', problem: `${values.length} anchor objects where there must be one`, bytesRead };
  const opened = openSignedObject(values[0] as string, 'anchor', 'anchor');
  if (typeof opened === 'string') return { status: 'tampered', problem: opened, bytesRead };
  const anchor = opened.body as Partial<AuditAnchor> | undefined;
  const { signature } = opened;
  if (!anchor || anchor.format !== AUDIT_ANCHOR_FORMAT) return { status: 'tampered', problem: `the anchor object is not a ${AUDIT_ANCHOR_FORMAT} anchor`, bytesRead };
  if (!Number.isSafeInteger(anchor.seq) || (anchor.seq as number) < 1 || typeof anchor.hash !== 'string' || !HEX64.test(anchor.hash) || typeof anchor.at !== 'string') {
    return { status: 'tampered', problem: 'the anchor object has no valid seq, hash and time', bytesRead };
  }
  if (!isObjectSignature(signature)) return { status: 'tampered', problem: 'the anchor object carries no signature', bytesRead };
  const checked = { format: anchor.format, seq: anchor.seq as number, hash: anchor.hash, at: anchor.at };
  if (!input.signingKeyFingerprint) return { status: 'unverifiable', problem: 'no map-signing key is recorded yet', bytesRead };
  if (signature.keyFingerprint !== input.signingKeyFingerprint) return { status: 'tampered', problem: `the anchor is signed by key ${signature.keyFingerprint}, not by the cluster map-signing key`, bytesRead };
  if (!input.verify(anchorSignedText(checked), signature)) return { status: 'tampered', problem: 'the signature of the anchor does not verify', bytesRead };
  return { status: 'valid', anchor: checked, bytesRead };
}

/**
 * Compares a node's anchor with the log: the entry at the anchored seq must exist, carry exactly the anchored hash,
 * and that hash must match the entry's content (a row forged to carry the anchored hash does not pass). `head` is
 * the log's newest entry; `atSeq` the log's entry at the anchored seq (null when there is none).
 */
export function compareAnchor(reading: AnchorReading, database: { head: Pick<AuditEntry, 'seq' | 'hash'> | null; atSeq: AuditEntry | null }): AnchorCheck {
  const headSeq = database.head?.seq ?? null;
  if (reading.status !== 'valid') {
    return {
      status: reading.status,
      anchored: null,
      database: { headSeq, hashAtSeq: null },
      problem: 'problem' in reading ? reading.problem : null,
    };
  }
  const { seq, hash } = reading.anchor;
  const anchored = { seq, hash };
  const entry = database.atSeq && database.atSeq.seq === seq ? database.atSeq : null;
  if (!entry) {
    return {
      status: 'ahead-of-database', anchored, database: { headSeq, hashAtSeq: null },
      problem: `the node anchors audit entry ${seq} (${hash}) but the log ${headSeq === null ? 'is empty' : `holds no entry ${seq} (it ends at ${headSeq})`}: its newest entries were removed`,
    };
  }
  if (entry.hash !== hash) {
    return {
      status: 'mismatch', anchored, database: { headSeq, hashAtSeq: entry.hash },
      problem: `the node anchors audit entry ${seq} with hash ${hash} but the log's entry ${seq} has hash ${entry.hash}: the log was rewritten from there`,
    };
  }
  if (auditEntryHash(entry, entry.prevHash) !== entry.hash) {
    return {
      status: 'mismatch', anchored, database: { headSeq, hashAtSeq: entry.hash },
      problem: `the log's entry ${seq} carries the anchored hash ${hash} but its content does not hash to it: the entry was forged`,
    };
  }
  return { status: 'valid', anchored, database: { headSeq, hashAtSeq: entry.hash }, problem: null };
}

/**
 * Whether the sync writes the log's head over a node's anchor: when the node has none that verifies, or one behind the
 * head. Never over an anchor the log contradicts: that would launder the truncation, so it stays as evidence.
 */
export function anchorNeedsWrite(check: AnchorCheck, head: Pick<AuditEntry, 'seq' | 'hash'> | null): boolean {
  if (head === null || check.status === 'ahead-of-database' || check.status === 'mismatch') return false;
  return check.anchored === null || check.anchored.seq !== head.seq || check.anchored.hash !== head.hash;
}
