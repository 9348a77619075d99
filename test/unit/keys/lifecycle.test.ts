import { UserError } from '../../../domain/errors';
import { formatDuration, parseDuration } from '../../../domain/keys/durations';
import { validateKeyName, validateKeyType } from '../../../domain/keys/key-model';
import * as lifecycle from '../../../domain/keys/lifecycle-state';
import { DEFAULT_POLICY, resolvePolicy } from '../../../domain/keys/policy';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const lineage = { previousVersion: null, trigger: 'create' as const, reason: 'test', actor: 'tester' };

function keyWithVersions(): lifecycle.KeyLifecycleState {
  let state = lifecycle.newKeyState({ name: 'payments', keyType: 'ec-p256', policy: resolvePolicy({ gracePeriod: '1d', maxGracePeriod: '3d', retention: '7d', maxAge: '30d' }), actor: 'tester', now: new Date(T0).toISOString() });
  state = lifecycle.addPendingVersion(state, { version: 1, fingerprint: 'a'.repeat(64), spki: 'c3BraQ==', generatedOn: 'hsm-1', lineage, now: new Date(T0).toISOString() });
  state = lifecycle.activate(state, 1, T0);
  state = lifecycle.addPendingVersion(state, { version: 2, fingerprint: 'b'.repeat(64), spki: 'c3BraQ==', generatedOn: 'hsm-2', lineage: { ...lineage, previousVersion: 1, trigger: 'manual' }, now: new Date(T0 + 1000).toISOString() });
  return lifecycle.activate(state, 2, T0 + 1000);
}

describe('durations', () => {
  it.each([
    ['90d', 90 * 86_400_000], ['12h', 43_200_000], ['30m', 1_800_000], ['45s', 45_000], ['2w', 14 * 86_400_000], ['1.5h', 5_400_000],
    ['P90D', 90 * 86_400_000], ['PT12H', 43_200_000], ['P1DT2H30M', 95_400_000], ['PT0.5S', 500], ['P2W', 14 * 86_400_000],
  ])('parses %s', (text, ms) => {
    expect(parseDuration(text, 'f')).toBe(ms);
  });
  it.each(['', '90', 'ten days', 'P1Y', 'P1M', 'PT', 'P', 'P1DT', '-5d'])('refuses %j with the field named', (text) => {
    expect(() => parseDuration(text, 'policy.maxAge')).toThrow(UserError);
    expect(() => parseDuration(text, 'policy.maxAge')).toThrow(/^policy\.maxAge: /);
  });
  it('formats back to the shortest exact unit', () => {
    expect([formatDuration(86_400_000), formatDuration(5_400_000), formatDuration(1500)]).toEqual(['1d', '90m', '1500ms']);
  });
});

describe('key model', () => {
  it('validates names and types, refusing ed25519 with the reason', () => {
    expect(validateKeyName('payments.v2_eu-1')).toBe('payments.v2_eu-1');
    expect(() => validateKeyName('Payments')).toThrow('a-z, 0-9');
    expect(() => validateKeyName('x'.repeat(65))).toThrow(UserError);
    expect(validateKeyType('rsa-3072')).toBe('rsa-3072');
    expect(() => validateKeyType('ed25519')).toThrow(/CKR_KEY_NOT_WRAPPABLE/);
  });
});

describe('policy', () => {
  it('fills defaults and keeps the caller\'s notation', () => {
    expect(resolvePolicy({ gracePeriod: 'P2D' })).toEqual({ ...DEFAULT_POLICY, gracePeriod: 'P2D' });
  });
  it('reports every problem at once, including the rules between fields', () => {
    let problems: string[] = [];
    try {
      resolvePolicy({ gracePeriod: '40d', maxGracePeriod: '30d', riskThreshold: 2, capacityLimit: -1, sensitivity: 'Top Secret', colour: 'red' });
    } catch (error) {
      problems = ((error as UserError).details?.problems as string[]) ?? [];
    }
    expect(problems).toEqual([
      expect.stringContaining('policy.colour: unknown field'),
      'policy.gracePeriod (40d) must not exceed policy.maxGracePeriod (30d)',
      'policy.riskThreshold: must be a number greater than 0 and at most 1',
      'policy.capacityLimit: must be a positive whole number, or null for no limit',
      expect.stringContaining('policy.sensitivity: must be the name of a data class'),
    ]);
  });
  it('validates a change against the current policy, not the defaults', () => {
    const current = resolvePolicy({ maxGracePeriod: '60d', gracePeriod: '45d' });
    expect(() => resolvePolicy({ maxGracePeriod: '40d' }, current)).toThrow('must not exceed');
  });
});

describe('lifecycle state', () => {
  it('activating v2 makes v1 retiring with a grace deadline and sets the maxAge rotation', () => {
    const state = keyWithVersions();
    expect(state.versions.map((v) => [v.version, v.state, v.graceDeadline])).toEqual([
      [1, 'retiring', new Date(T0 + 1000 + 86_400_000).toISOString()],
      [2, 'active', null],
    ]);
    expect(state.phase).toBe('grace');
    expect(state.nextRotationAt).toBe(new Date(T0 + 1000 + 30 * 86_400_000).toISOString());
    expect(lifecycle.nextDeadline(state, lifecycle.VERIFY_RETRY_MS, T0 + 2000)).toEqual({ at: T0 + 1000 + 86_400_000, what: 'grace period of v1 ends' });
  });

  it('extends the grace period up to maxGracePeriod and no further', () => {
    const state = keyWithVersions();
    const { state: extended, deadline } = lifecycle.extendGrace(state, 86_400_000);
    expect(deadline).toBe(new Date(T0 + 1000 + 2 * 86_400_000).toISOString());
    expect(() => lifecycle.extendGrace(extended, 2 * 86_400_000)).toThrow(/past its cap 2026-01-04T00:00:01.000Z \(maxGracePeriod 3d\)/);
    expect(lifecycle.extendGrace(extended, 86_400_000).deadline).toBe(new Date(T0 + 1000 + 3 * 86_400_000).toISOString());
  });

  it('archives, holds the purge on a failed verdict, and purges after retention on a clean one', () => {
    let state = lifecycle.archive(keyWithVersions(), 1, T0 + 5000);
    expect(state.phase).toBe('active');
    const failed = { ok: false, checkedAt: new Date(T0 + 6000).toISOString(), liveObjectsOn: ['hsm-3'], archiveVerified: true, usage: { evidence: 'none' as const, signsAfterSwitch: null, note: '' } };
    state = lifecycle.recordVerdict(state, 1, failed, T0 + 6000);
    expect(state.versions[0]?.purgeAfter).toBeNull();
    expect(lifecycle.unverified(state).map((v) => v.version)).toEqual([1]);
    state = lifecycle.recordVerdict(state, 1, { ...failed, ok: true, liveObjectsOn: [] }, T0 + 7000);
    expect(state.versions[0]?.purgeAfter).toBe(new Date(T0 + 7000 + 7 * 86_400_000).toISOString());
    expect(lifecycle.duePurges(state, T0 + 7000 + 7 * 86_400_000).map((v) => v.version)).toEqual([1]);
    state = lifecycle.forgetPurged(lifecycle.purge(state, 1, T0 + 8 * 86_400_000));
    expect(state.versions.map((v) => v.version)).toEqual([2]);
    expect(lifecycle.nextVersionNumber(state)).toBe(3);
  });

  it('an emergency moves the active version to compromised, never to retiring', () => {
    const state = lifecycle.markCompromised(keyWithVersions(), 2, T0 + 9000);
    expect(state.versions.find((v) => v.version === 2)).toMatchObject({ state: 'compromised', compromisedAt: new Date(T0 + 9000).toISOString() });
    expect(() => lifecycle.activate({ ...state, versions: state.versions.map((v) => (v.version === 2 ? { ...v, state: 'archived' as const } : v)) }, 2, T0)).toThrow('cannot go from archived to active');
  });

  it('round-trips through JSON unchanged, as workflow history and continueAsNew need', () => {
    const state = lifecycle.archive(keyWithVersions(), 1, T0 + 5000);
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});
