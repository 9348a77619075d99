import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import {
  AUDIT_ANCHOR_FORMAT,
  anchorNeedsWrite,
  anchorObjectValue,
  anchorOf,
  anchorSignedText,
  compareAnchor,
  readAnchor,
  type AnchorReading,
} from '../../../domain/audit/anchor';
import { chainAuditEntry, type AuditEntry } from '../../../domain/audit/chain';
import type { ObjectSignature } from '../../../domain/signed-object';

function signer(): { fingerprint: string; sign: (text: string) => ObjectSignature; verify: (text: string, signature: ObjectSignature) => boolean } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const fingerprint = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
  return {
    fingerprint,
    sign: (text) => ({ alg: 'ES256', keyFingerprint: fingerprint, value: sign('sha256', Buffer.from(text), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64') }),
    verify: (text, signature) => verify('sha256', Buffer.from(text), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature.value, 'base64')),
  };
}

/** A chain of n honest entries. */
function chain(n: number): AuditEntry[] {
  const entries: AuditEntry[] = [];
  for (let seq = 1; seq <= n; seq += 1) {
    entries.push(chainAuditEntry({ seq, at: new Date(Date.UTC(2026, 10, 28, 12, 0, seq)).toISOString(), actor: 'test', action: 'key.rotated', subject: `key/k${seq}`, details: { seq } }, entries.at(-1)));
  }
  return entries;
}

const valid = (entry: AuditEntry): AnchorReading => ({ status: 'valid', anchor: anchorOf(entry), bytesRead: 200 });
const evidence = (log: AuditEntry[], seq: number) => ({ head: log.at(-1) ?? null, atSeq: log.find((entry) => entry.seq === seq) ?? null });

describe('the audit anchor on a node', () => {
  const key = signer();
  const log = chain(10);
  const anchor = anchorOf(log[9] as AuditEntry);
  const value = anchorObjectValue(anchor, key.sign(anchorSignedText(anchor)));
  const read = (values: string[], fingerprint: string | null = key.fingerprint) => readAnchor({ values, bytesRead: values.join('').length, signingKeyFingerprint: fingerprint, verify: key.verify });

  it('reads back a signed anchor of the head', () => {
    expect(anchor).toEqual({ format: AUDIT_ANCHOR_FORMAT, seq: 10, hash: (log[9] as AuditEntry).hash, at: (log[9] as AuditEntry).at });
    expect(read([value])).toEqual({ status: 'valid', anchor, bytesRead: value.length });
  });

  it('finds an anchor altered by hand, a second one, another signer, and none at all', () => {
    const forged = value.replace('"seq":10', '"seq":12');
    expect(read([forged])).toMatchObject({ status: 'tampered', problem: 'the signature of the anchor does not verify' });
    expect(read([value, value])).toMatchObject({ status: 'tampered', problem: '2 anchor objects where there must be one' });
    expect(read([value.replace('{', '{ ')])).toMatchObject({ status: 'tampered', problem: 'the anchor object is not in canonical form' });
    const other = signer();
    expect(read([anchorObjectValue(anchor, other.sign(anchorSignedText(anchor)))])).toMatchObject({ status: 'tampered', problem: expect.stringMatching(/not by the cluster map-signing key/) });
    expect(read([value], null)).toMatchObject({ status: 'unverifiable' });
    expect(read([])).toEqual({ status: 'missing', bytesRead: 0 });
  });
});

describe('an anchor against the log', () => {
  const log = chain(10);
  const head = log[9] as AuditEntry;

  it('is valid at the head and behind it; only one behind is rewritten', () => {
    const atHead = compareAnchor(valid(head), evidence(log, 10));
    expect(atHead).toEqual({ status: 'valid', anchored: { seq: 10, hash: head.hash }, database: { headSeq: 10, hashAtSeq: head.hash }, problem: null });
    expect(anchorNeedsWrite(atHead, head)).toBe(false);
    const behind = compareAnchor(valid(log[6] as AuditEntry), evidence(log, 7));
    expect(behind.status).toBe('valid');
    expect(anchorNeedsWrite(behind, head)).toBe(true);
  });

  it('finds the newest entries removed, and keeps the anchor that shows it', () => {
    const truncated = log.slice(0, 7);
    const check = compareAnchor(valid(head), evidence(truncated, 10));
    expect(check).toMatchObject({ status: 'ahead-of-database', anchored: { seq: 10, hash: head.hash }, database: { headSeq: 7, hashAtSeq: null } });
    expect(check.problem).toMatch(/holds no entry 10 \(it ends at 7\)/);
    expect(anchorNeedsWrite(check, truncated.at(-1) as AuditEntry)).toBe(false);
    expect(compareAnchor(valid(head), evidence([], 10))).toMatchObject({ status: 'ahead-of-database', problem: expect.stringMatching(/the log is empty/) });
  });

  it('finds the tail removed and rewritten to the same length', () => {
    const rewritten = [...log.slice(0, 8)];
    for (let seq = 9; seq <= 10; seq += 1) rewritten.push(chainAuditEntry({ seq, at: head.at, actor: 'intruder', action: 'nothing', subject: 'x', details: {} }, rewritten.at(-1)));
    const check = compareAnchor(valid(head), evidence(rewritten, 10));
    expect(check).toMatchObject({ status: 'mismatch', database: { headSeq: 10, hashAtSeq: (rewritten[9] as AuditEntry).hash } });
    expect(anchorNeedsWrite(check, rewritten[9] as AuditEntry)).toBe(false);
  });

  it('finds an entry forged to carry the anchored hash', () => {
    const forged = [...log.slice(0, 9), { ...head, details: { seq: 'forged' } }];
    expect(compareAnchor(valid(head), evidence(forged, 10))).toMatchObject({ status: 'mismatch', problem: expect.stringMatching(/content does not hash to it/) });
  });

  it('rewrites a missing or tampered anchor with the head, and writes nothing to an empty log', () => {
    const missing = compareAnchor({ status: 'missing', bytesRead: 0 }, evidence(log, 0));
    expect(missing).toEqual({ status: 'missing', anchored: null, database: { headSeq: 10, hashAtSeq: null }, problem: null });
    expect(anchorNeedsWrite(missing, head)).toBe(true);
    const tampered = compareAnchor({ status: 'tampered', problem: 'the signature of the anchor does not verify', bytesRead: 90 }, evidence(log, 0));
    expect(tampered).toMatchObject({ status: 'tampered', problem: 'the signature of the anchor does not verify' });
    expect(anchorNeedsWrite(tampered, head)).toBe(true);
    expect(anchorNeedsWrite(missing, null)).toBe(false);
  });
});
