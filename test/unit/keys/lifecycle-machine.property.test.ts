import fc from 'fast-check';
import * as machine from '../../../domain/keys/lifecycle-machine';
import type { KeyRequest } from '../../../domain/keys/lifecycle-requests';
import { newKeyState } from '../../../domain/keys/lifecycle-state';
import { DEFAULT_POLICY, resolvePolicy } from '../../../domain/keys/policy';
import { FakeCluster, drive } from '../../support/lifecycle-world';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const HOUR = 3_600_000;
const LEAD_MS = 10 * 60_000;
const policy = resolvePolicy({ gracePeriod: '1h', maxGracePeriod: '4h', retention: '2h', maxAge: '1d', minRotationInterval: '1h', evaluationInterval: '2h', publicationLead: '10m' }, DEFAULT_POLICY);
const ACTIVITIES = ['recordKeyEvent', 'generateKeyPair', 'wrapPrivateKey', 'importReplica', 'setSigning', 'destroyKeyObjects', 'describeKey', 'storeArchiveBlob', 'loadArchiveBlob', 'verifyArchivedBlob', 'countSignsAfter', 'deleteArchiveBlob', 'listSubscriptionIds', 'getClusterNodes'];

type Action =
  | { kind: 'request'; request: KeyRequest }
  | { kind: 'advance'; ms: number }
  | { kind: 'fail'; activity: string }
  | { kind: 'use'; count: number }
  | { kind: 'risk' }
  | { kind: 'settle' };

const text = fc.oneof(fc.constant('routine'), fc.constant('x\u0000y'), fc.constant('a\ud800b'), fc.string({ maxLength: 20 }));
const request: fc.Arbitrary<KeyRequest> = fc.oneof(
  fc.record({ kind: fc.constant('rotate' as const), reason: text, emergency: fc.boolean(), actor: fc.constant('alice') }),
  fc.record({ kind: fc.constant('extend-grace' as const), byMs: fc.oneof(fc.integer({ min: -1, max: 6 * HOUR }), fc.constant(8.64e15)), reason: text, actor: fc.constant('bob') }),
  fc.record({ kind: fc.constant('complete-grace' as const), reason: text, actor: fc.constant('alice') }),
  fc.record({ kind: fc.constant('policy' as const), change: fc.oneof(fc.constant({ gracePeriod: '2h' }), fc.constant({ evaluationInterval: '99999999d' }), fc.constant({ maxAge: '12h' })), actor: fc.constant('carol') }),
  fc.record({ kind: fc.constant('decommission' as const), reason: text, actor: fc.constant('alice') }),
  fc.record({ kind: fc.constant('resume' as const), reason: text, actor: fc.constant('alice') }),
  fc.record({ kind: fc.constant('evaluate' as const), actor: fc.constant('alice') }),
);
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: request.map((r) => ({ kind: 'request' as const, request: r })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 30 * HOUR }).map((ms) => ({ kind: 'advance' as const, ms })) },
  { weight: 2, arbitrary: fc.constantFrom(...ACTIVITIES).map((activity) => ({ kind: 'fail' as const, activity })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 5 }).map((count) => ({ kind: 'use' as const, count })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'risk' as const }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'settle' as const }) },
);

/** The invariants that must hold after every step, whatever came before. */
function checkInvariants(m: machine.LifecycleMachine, everSeen: Map<number, string>, purged: Set<number>, cluster: FakeCluster, compromised: Set<number>): void {
  const active = m.key.versions.filter((v) => v.state === 'active');
  expect(active.length).toBeLessThanOrEqual(1);
  expect(m.key.versions.filter((v) => v.state === 'retiring').length).toBeLessThanOrEqual(1);
  for (const version of m.key.versions) everSeen.set(version.version, version.fingerprint);
  const present = new Set(m.key.versions.map((v) => v.version));
  for (const [version] of everSeen) {
    // A version leaves the state only through a recorded purge.
    if (!present.has(version)) expect({ version, purged: purged.has(version) }).toEqual({ version, purged: true });
  }
  // Every active or retiring version is on every node (a decommission destroys them on purpose).
  const decommissioning = m.key.phase === 'decommissioning' || m.key.phase === 'decommissioned';
  for (const version of m.key.versions.filter((v) => !decommissioning && (v.state === 'active' || v.state === 'retiring'))) {
    for (const node of cluster.nodeIds) expect({ version: version.version, node, there: cluster.fingerprintsOn(node).includes(version.fingerprint) }).toEqual({ version: version.version, node, there: true });
  }
  // A version that replaced another signs only after it was in the JWKS for the publication lead, unless an emergency
  // rotation replaced a compromised one.
  for (const version of m.key.versions) if (version.compromisedAt) compromised.add(version.version);
  for (const version of m.key.versions.filter((v) => v.activatedAt && v.lineage.previousVersion !== null && !compromised.has(v.lineage.previousVersion))) {
    const lead = Date.parse(version.activatedAt as string) - Date.parse(version.publishedAt ?? '');
    expect({ version: version.version, leadAtLeast: lead >= LEAD_MS }).toEqual({ version: version.version, leadAtLeast: true });
  }
  expect(m.key.versionCounter).toBeGreaterThanOrEqual(Math.max(0, ...m.key.versions.map((v) => v.version)));
}

describe('the key lifecycle state machine, over random sequences of requests, failures and time', () => {
  it('never makes an invalid transition, never has two active versions, never loses a version, and answers every request', () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 40 }), (actions) => {
        const cluster = new FakeCluster();
        let m = machine.newMachine(newKeyState({ name: 'k', keyType: 'ec-p256', policy, actor: 'alice', now: new Date(T0).toISOString() }), 'created');
        let now = T0;
        const asked = new Set<number>();
        const answered = new Set<number>();
        const everSeen = new Map<number, string>();
        const purged = new Set<number>();
        const compromised = new Set<number>();
        let finished = false;
        const settle = (): void => {
          const run = drive(m, cluster, now);
          m = run.machine;
          finished ||= run.finished;
          for (const answer of run.answers) {
            expect(answered.has(answer.id)).toBe(false);
            answered.add(answer.id);
          }
          for (const event of cluster.events) if (event.action === 'key.version.purged') purged.add(event.details.version as number);
          checkInvariants(m, everSeen, purged, cluster, compromised);
        };
        for (const next of actions) {
          if (finished) break;
          if (next.kind === 'request') {
            if (machine.refuse(m, next.request) === null) {
              const submitted = machine.submit(m, next.request, true);
              m = submitted.machine;
              asked.add(submitted.id);
            }
          } else if (next.kind === 'advance') now += next.ms;
          else if (next.kind === 'fail') cluster.failNext(next.activity);
          else if (next.kind === 'use') {
            const retiring = m.key.versions.find((v) => v.state === 'retiring');
            if (retiring) cluster.signs.set(retiring.version, next.count);
          } else if (next.kind === 'risk') cluster.evaluation = { rotate: true, trigger: 'risk', score: 0.99 };
          else settle();
        }
        if (!finished) settle();
        // Whatever happened, an operator can bring the key back: resume a held step, and every caller hears an answer
        // (a rotation once its version has been published for the lead time).
        for (let round = 0; round < 5 && !finished; round += 1) {
          if (m.held) m = machine.submit(m, { kind: 'resume', reason: 'fixed', actor: 'alice' }, false).machine;
          now += LEAD_MS;
          settle();
        }
        expect(m.held).toBeNull();
        expect([...asked].filter((id) => !answered.has(id))).toEqual([]);
        if (!finished) expect(m.key.versions.filter((v) => v.state === 'active')).toHaveLength(1);
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 300), seed: Number(process.env.PROPERTY_SEED ?? 20261206) },
    );
  });
});
