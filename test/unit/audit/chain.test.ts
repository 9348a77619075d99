import { GENESIS_HASH, auditEntryHash, chainAuditEntry, verifyAuditChain, type AuditEntry } from '../../../domain/audit/chain';
import { canonicalJson } from '../../../domain/canonical-json';

function chain(length: number): AuditEntry[] {
  const entries: AuditEntry[] = [];
  for (let seq = 1; seq <= length; seq += 1) {
    entries.push(chainAuditEntry({ seq, at: `2026-01-01T00:00:0${seq}.000Z`, actor: 'system', action: 'test', subject: `key/${seq}`, details: { n: seq, nested: { b: 1, a: 2 } } }, entries.at(-1)));
  }
  return entries;
}

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: null }], c: 'x' }, u: undefined })).toBe('{"a":{"c":"x","d":[1,{"y":null,"z":0}]},"b":1}');
  });
  it('refuses values that are not JSON', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow('finite');
    expect(() => canonicalJson({ f: () => 1 })).toThrow('not JSON');
  });
});

describe('audit hash chain', () => {
  it('links the first entry to the genesis hash and each later one to its predecessor', () => {
    const entries = chain(3);
    expect(entries[0]?.prevHash).toBe(GENESIS_HASH);
    expect(entries[1]?.prevHash).toBe(entries[0]?.hash);
    expect(entries[2]?.prevHash).toBe(entries[1]?.hash);
    expect(verifyAuditChain(entries)).toEqual({ ok: true, entries: 3, firstSeq: 1, lastSeq: 3, headHash: entries[2]?.hash, problems: [] });
  });

  it('hashes the same whatever order the details keys come back in', () => {
    const [entry] = chain(1) as [AuditEntry];
    const reordered = { ...entry, details: { nested: { a: 2, b: 1 }, n: 1 } };
    expect(auditEntryHash(reordered, reordered.prevHash)).toBe(entry.hash);
  });

  it('catches a modified entry', () => {
    const entries = chain(4);
    entries[1] = { ...entries[1]!, actor: 'mallory' };
    const result = verifyAuditChain(entries);
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([{ seq: 2, kind: 'modified', message: expect.stringContaining('entry 2 was modified') }]);
  });

  it('catches a modified entry whose hash was recomputed, at the link to the next one', () => {
    const entries = chain(4);
    const forged = { ...entries[1]!, actor: 'mallory' };
    entries[1] = { ...forged, hash: auditEntryHash(forged, forged.prevHash) };
    expect(verifyAuditChain(entries).problems).toEqual([{ seq: 3, kind: 'broken-link', message: expect.any(String) }]);
  });

  it('catches a deleted entry', () => {
    const entries = chain(5);
    entries.splice(2, 1);
    expect(verifyAuditChain(entries).problems).toEqual([
      { seq: 4, kind: 'missing', message: 'entry 3 is missing before entry 4' },
      { seq: 4, kind: 'broken-link', message: expect.any(String) },
    ]);
  });

  it('catches a deleted first entry', () => {
    const entries = chain(3).slice(1);
    expect(verifyAuditChain(entries).problems.map((problem) => problem.kind)).toEqual(['missing', 'broken-link']);
  });
});
