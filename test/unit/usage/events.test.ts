import { validateUsageBatch } from '../../../domain/usage/events';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const good = { ts: '2026-06-01T11:00:00Z', key: 'payments', kid: 'payments.v1.abcd1234', op: 'sign', app: 'checkout' };

describe('usage batch validation', () => {
  it('accepts events with kid or version and fills count', () => {
    const { events, problems } = validateUsageBatch([good, { ...good, kid: undefined, version: 2, count: 5, eventId: 'e-1', sensitivity: 'payment-card' }], NOW);
    expect(problems).toEqual([]);
    expect(events).toEqual([
      { eventId: null, ts: '2026-06-01T11:00:00.000Z', key: 'payments', version: null, kid: 'payments.v1.abcd1234', op: 'sign', app: 'checkout', node: null, count: 1, sensitivity: null },
      { eventId: 'e-1', ts: '2026-06-01T11:00:00.000Z', key: 'payments', version: 2, kid: null, op: 'sign', app: 'checkout', node: null, count: 5, sensitivity: 'payment-card' },
    ]);
  });

  it('names every bad row with every reason and keeps nothing of the batch', () => {
    const { events, problems } = validateUsageBatch([
      good,
      { ...good, ts: 'yesterday', op: 'delete', count: 0 },
      { ...good, kid: undefined, ts: '2026-06-01T14:00:00Z' },
      { ...good, eventId: 'dup' },
      { ...good, eventId: 'dup', colour: 'red' },
    ], NOW);
    expect(events).toEqual([]);
    expect(problems).toEqual([
      { row: 1, problems: ['ts must be an ISO 8601 time', 'op must be one of sign, verify, encrypt, decrypt, wrap, unwrap', 'count must be a whole number from 1 to 1,000,000,000'] },
      { row: 2, problems: ['ts is more than an hour in the future', 'give kid or version'] },
      { row: 4, problems: ["unknown field 'colour'", "eventId 'dup' appears twice in the batch"] },
    ]);
  });

  it('bounds the batch size', () => {
    expect(validateUsageBatch([], NOW).problems[0]?.problems[0]).toMatch(/1 to 10000 events, not 0/);
    expect(validateUsageBatch(Array.from({ length: 10_001 }, () => good), NOW).problems[0]?.problems[0]).toMatch(/not 10001/);
  });
});
