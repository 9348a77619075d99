import { reachOfChanges, type ScoredIndicator } from '../../../domain/threat-intel/reach';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const live = '2026-06-08T00:00:00.000Z';
const expired = '2026-05-30T00:00:00.000Z';
const payments: ScoredIndicator = { severity: 0.5, scope: 'key', target: 'payments', expiresAt: live };

describe('the keys a change of threat indicators reaches', () => {
  it('reaches the keys of a new live indicator, once per reach however many indicators share it', () => {
    expect(reachOfChanges([
      { before: null, after: payments },
      { before: null, after: { ...payments, severity: 1 } },
      { before: null, after: { severity: 0.2, scope: 'all', target: null, expiresAt: live } },
    ], NOW)).toEqual([{ scope: 'key', target: 'payments' }, { scope: 'all', target: null }]);
  });

  it('reaches nobody for an indicator that is already expired when it arrives', () => {
    expect(reachOfChanges([{ before: null, after: { ...payments, expiresAt: expired } }], NOW)).toEqual([]);
  });

  it('reaches nobody when a live indicator only moves its expiry and stays live: the score reads severity and reach only', () => {
    expect(reachOfChanges([{ before: payments, after: { ...payments, expiresAt: '2026-06-09T00:00:00.000Z' } }], NOW)).toEqual([]);
  });

  it('reaches the keys of a live indicator whose severity changed', () => {
    expect(reachOfChanges([{ before: payments, after: { ...payments, severity: 0.8 } }], NOW)).toEqual([{ scope: 'key', target: 'payments' }]);
  });

  it('reaches both the old and the new keys of a retargeted indicator', () => {
    expect(reachOfChanges([{ before: payments, after: { ...payments, scope: 'app', target: 'checkout' } }], NOW)).toEqual([
      { scope: 'key', target: 'payments' },
      { scope: 'app', target: 'checkout' },
    ]);
  });

  it('reaches the keys of an indicator that expires by the change, or comes back to life by it', () => {
    expect(reachOfChanges([{ before: payments, after: { ...payments, expiresAt: expired } }], NOW)).toEqual([{ scope: 'key', target: 'payments' }]);
    expect(reachOfChanges([{ before: { ...payments, expiresAt: expired }, after: payments }], NOW)).toEqual([{ scope: 'key', target: 'payments' }]);
  });

  it('reaches nobody for an expired indicator that changes and stays expired', () => {
    expect(reachOfChanges([{ before: { ...payments, expiresAt: expired }, after: { ...payments, severity: 1, expiresAt: '2026-05-31T00:00:00.000Z' } }], NOW)).toEqual([]);
  });
});
