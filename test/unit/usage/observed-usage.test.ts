import type { ObservedUse } from '../../../domain/usage/access-log';
import { attributeUses, countUses, namesIn } from '../../../domain/usage/observed-usage';

const FP1 = 'a'.repeat(64);
const FP2 = 'b'.repeat(64);
const use = (ts: string, op: ObservedUse['op'], key: ObservedUse['key'], count = 1): ObservedUse => ({ ts, op, count, key, mechanism: null });

describe('uses an access log showed, counted and given to key versions', () => {
  it('sums uses per second, operation and key as the log named it', () => {
    const byId = { resolved: true as const, id: FP1, label: null };
    const counted = countUses([
      use('2026-12-06T10:00:00.100Z', 'sign', byId),
      use('2026-12-06T10:00:00.900Z', 'sign', byId, 2),
      use('2026-12-06T10:00:01.000Z', 'sign', byId),
      use('2026-12-06T10:00:00.500Z', 'decrypt', byId),
      use('2026-12-06T10:00:00.500Z', 'sign', { resolved: true, id: null, label: 'keyrotor:k:v2' }),
      use('2026-12-06T10:00:00.500Z', 'sign', { resolved: false, handle: '0x2' }),
    ]);
    expect(counted).toEqual([
      { second: '2026-12-06T10:00:00Z', op: 'sign', count: 3, key: byId },
      { second: '2026-12-06T10:00:01Z', op: 'sign', count: 1, key: byId },
      { second: '2026-12-06T10:00:00Z', op: 'decrypt', count: 1, key: byId },
      { second: '2026-12-06T10:00:00Z', op: 'sign', count: 1, key: { resolved: true, id: null, label: 'keyrotor:k:v2' } },
      { second: '2026-12-06T10:00:00Z', op: 'sign', count: 1, key: { resolved: false, handle: '0x2' } },
    ]);
  });

  it('names a version by CKA_ID first, by label without one; the rest is counted as unresolved or unknown', () => {
    const versions = [{ key: 'k', version: 1, fingerprint: FP1 }, { key: 'k', version: 2, fingerprint: FP2 }];
    const counted = countUses([
      use('2026-12-06T10:00:00Z', 'sign', { resolved: true, id: FP1.toUpperCase(), label: 'keyrotor:k:v2' }, 5),
      use('2026-12-06T10:00:00Z', 'sign', { resolved: true, id: null, label: 'keyrotor:k:v2' }, 2),
      use('2026-12-06T10:00:00Z', 'sign', { resolved: true, id: 'c'.repeat(64), label: null }, 3),
      use('2026-12-06T10:00:00Z', 'sign', { resolved: true, id: null, label: 'someone-else' }, 1),
      use('2026-12-06T10:00:00Z', 'unwrap', { resolved: false, handle: '0x9' }, 4),
      use('2026-12-06T10:00:01Z', 'unwrap', { resolved: false, handle: null }, 1),
    ]);
    expect(namesIn(counted)).toEqual({ fingerprints: [FP1, 'c'.repeat(64)], labels: ['keyrotor:k:v2', 'someone-else'] });
    expect(attributeUses(counted, versions)).toEqual({
      attributed: [
        { ts: '2026-12-06T10:00:00Z', key: 'k', version: 1, op: 'sign', count: 5 },
        { ts: '2026-12-06T10:00:00Z', key: 'k', version: 2, op: 'sign', count: 2 },
      ],
      unattributed: [{ why: 'unknown', op: 'sign', count: 4 }, { why: 'unresolved', op: 'unwrap', count: 5 }],
    });
  });
});
