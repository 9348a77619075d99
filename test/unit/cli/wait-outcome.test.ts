import { keyWorkOutcome } from '../../../cli/commands/api-commands';

type Seen = Parameters<typeof keyWorkOutcome>[0];
const key = (versions: Array<[number, string]>, rest: Partial<Seen> = {}): Seen => ({
  held: null,
  working: null,
  waiting: null,
  versions: versions.map(([version, state]) => ({ version, state })) as Seen['versions'],
  ...rest,
});

describe('keys rotate --wait: when the work is over', () => {
  it('is not over while a compromised version waits for its archive, though the key looks idle between the two', () => {
    expect(keyWorkOutcome(key([[1, 'retiring'], [2, 'compromised'], [3, 'active']]))).toBeUndefined();
    expect(keyWorkOutcome(key([[1, 'retiring'], [2, 'archived'], [3, 'active']]))).toBe('done');
  });

  it('is not over while the key works or waits, and ends held at once', () => {
    expect(keyWorkOutcome(key([[1, 'active']], { working: 'rotation (manual)' }))).toBeUndefined();
    expect(keyWorkOutcome(key([[1, 'active']], { waiting: { for: 'nodes', since: '2026-12-06T00:00:00Z' } }))).toBeUndefined();
    expect(keyWorkOutcome(key([[2, 'compromised']], { held: { step: 'archive v2', reason: 'the HSM refused', since: '2026-12-06T00:00:00Z' } }))).toBe('held');
  });
});
