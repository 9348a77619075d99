import * as machine from '../../../domain/keys/lifecycle-machine';
import type { KeyRequest } from '../../../domain/keys/lifecycle-requests';
import { newKeyState } from '../../../domain/keys/lifecycle-state';
import { NODE_AWAY_AFTER_MS, NODE_WAIT_ALERT_AFTER_MS, NODE_WAIT_RETRY_MS } from '../../../domain/keys/node-wait';
import { DEFAULT_POLICY, policyDurations, resolvePolicy } from '../../../domain/keys/policy';
import { FakeCluster, drive } from '../../support/lifecycle-world';

const T0 = Date.parse('2026-12-01T00:00:00Z');
// No publication lead here: the tests of the lead time below set one.
const policy = resolvePolicy({ gracePeriod: '1h', maxGracePeriod: '3h', retention: '1d', maxAge: '30d', minRotationInterval: '1h', evaluationInterval: '1h', publicationLead: '0s' }, DEFAULT_POLICY);

function fresh() {
  const cluster = new FakeCluster();
  const m = machine.newMachine(newKeyState({ name: 'k', keyType: 'ec-p256', policy, actor: 'alice', now: new Date(T0).toISOString() }), 'created for a test');
  return { cluster, m };
}

/** Submits a request the way a handler does: refused ones never reach the inbox. */
function ask(m: machine.LifecycleMachine, request: KeyRequest): { machine: machine.LifecycleMachine; id: number } | { refused: { code: string } } {
  const refusal = machine.refuse(m, request);
  if (refusal) return { refused: refusal };
  return machine.submit(m, request, true);
}

function accepted(result: ReturnType<typeof ask>): { machine: machine.LifecycleMachine; id: number } {
  if ('refused' in result) throw new Error(`refused: ${result.refused.code}`);
  return result;
}

const states = (m: machine.LifecycleMachine) => m.key.versions.map((v) => `v${v.version}:${v.state}`);
const rotate = (reason = 'test', emergency = false): KeyRequest => ({ kind: 'rotate', reason, emergency, actor: 'alice' });
/** A rotation as the startRotation Update asks for it: answered once its version is recorded. */
const rotateRecorded = (reason = 'test', emergency = false): KeyRequest => ({ kind: 'rotate', reason, emergency, actor: 'alice', answer: 'recorded' });

function created() {
  const { cluster, m } = fresh();
  const run = drive(m, cluster, T0);
  return { cluster, m: run.machine };
}

describe('the key lifecycle state machine', () => {
  it('creates v1 on one node, replicates it to every node, and records each step', () => {
    const { cluster, m } = created();
    expect(states(m)).toEqual(['v1:active']);
    expect(m.key.phase).toBe('active');
    const fingerprint = m.key.versions[0]!.fingerprint;
    for (const node of cluster.nodeIds) expect(cluster.fingerprintsOn(node)).toEqual([fingerprint]);
    expect(cluster.events.map((e) => e.action)).toEqual(['key.version.generated', 'key.version.replicated', 'key.version.activated']);
    expect(cluster.events.map((e) => e.eventSeq)).toEqual([1, 2, 3]);
  });

  it('a manual rotation answers with the new version; the old one retires, then is archived, verified and purged in time', () => {
    const { cluster, m: start } = created();
    const asked = accepted(ask(start, rotate()));
    const run = drive(asked.machine, cluster, T0 + 1000);
    expect(run.answers).toEqual([{ id: asked.id, outcome: { ok: true, value: expect.objectContaining({ version: 2, previous: { version: 1, state: 'retiring' } }) } }]);
    expect(run.freshRuns).toBe(1);
    expect(states(run.machine)).toEqual(['v1:retiring', 'v2:active']);
    const afterGrace = drive(run.machine, cluster, T0 + 3_600_000 + 2000).machine;
    expect(states(afterGrace)).toEqual(['v1:archived', 'v2:active']);
    expect(afterGrace.key.versions[0]!.verdict?.ok).toBe(true);
    const afterRetention = drive(afterGrace, cluster, T0 + 3_600_000 + 86_400_000 + 3000).machine;
    expect(states(afterRetention)).toEqual(['v2:active']);
    const v1 = run.machine.key.versions[0]!.fingerprint;
    for (const node of cluster.nodeIds) expect(cluster.fingerprintsOn(node)).not.toContain(v1);
  });

  it('records objects that only a fresh module instance still found after a destruction, alerts, and goes on with the archive and the purge', () => {
    const { cluster, m: start } = created();
    const rotated = drive(accepted(ask(start, rotate())).machine, cluster, T0 + 1000).machine;
    cluster.residueNext.set('hsm-2', 1);
    const archived = drive(rotated, cluster, T0 + 3_600_000 + 2000).machine;
    expect(states(archived)).toEqual(['v1:archived', 'v2:active']);
    const residue = cluster.events.filter((e) => e.action === 'key.version.residue-destroyed');
    expect(residue.map((e) => e.details)).toEqual([{ version: 1, nodes: [{ node: 'hsm-2', objects: 1 }] }]);
    expect(cluster.alerts.filter((a) => a.dedupKey === 'key:k:v1:residue').map((a) => a.severity)).toEqual(['warning']);
    expect(cluster.alerts.find((a) => a.dedupKey === 'key:k:v1:residue')?.message).toMatch(/v1 of k stayed on hsm-2 \(1\)/);

    cluster.residueNext.set('hsm-3', 2);
    const purged = drive(archived, cluster, T0 + 3_600_000 + 86_400_000 + 4000).machine;
    expect(states(purged)).toEqual(['v2:active']);
    expect(cluster.events.filter((e) => e.action === 'key.version.residue-destroyed').map((e) => e.details)).toEqual([
      { version: 1, nodes: [{ node: 'hsm-2', objects: 1 }] },
      { version: 1, nodes: [{ node: 'hsm-3', objects: 2 }] },
    ]);
  });

  it('keeps the outcomes of Updates by their id for a day, the last 32, across fresh runs', () => {
    const { m } = fresh();
    const refusal: machine.Outcome = { ok: false, code: 'grace_period_running', message: 'busy' };
    let kept = machine.keepUpdateOutcome(m, 'idempotency-a', { ok: true, value: { version: 2 } }, T0);
    kept = machine.keepUpdateOutcome(kept, 'idempotency-b', refusal, T0 + 1000);
    expect(machine.keptUpdateOutcome(kept, 'idempotency-a', T0 + 5000)).toEqual({ ok: true, value: { version: 2 } });
    expect(machine.keptUpdateOutcome(kept, 'idempotency-b', T0 + 5000)).toEqual(refusal);
    expect(machine.keptUpdateOutcome(kept, 'idempotency-c', T0 + 5000)).toBeUndefined();
    // A day later the key may be used again: the API forgot it too.
    expect(machine.keptUpdateOutcome(kept, 'idempotency-a', T0 + 86_400_000 + 1)).toBeUndefined();
    // Carried into the fresh run with the rest of the machine (JSON), and bounded.
    const carried = JSON.parse(JSON.stringify(kept)) as machine.LifecycleMachine;
    expect(machine.keptUpdateOutcome(carried, 'idempotency-b', T0 + 5000)).toEqual(refusal);
    let many = carried;
    for (let i = 0; i < 40; i += 1) many = machine.keepUpdateOutcome(many, `idempotency-${i}`, { ok: true, value: i }, T0 + 2000 + i);
    expect(many.keptUpdates).toHaveLength(machine.KEPT_UPDATES);
    expect(machine.keptUpdateOutcome(many, 'idempotency-39', T0 + 5000)).toEqual({ ok: true, value: 39 });
    expect(machine.keptUpdateOutcome(many, 'idempotency-a', T0 + 5000)).toBeUndefined();
    // A machine from before the field existed keeps nothing and answers nothing.
    const { keptUpdates: _none, ...older } = m;
    expect(machine.keptUpdateOutcome(older as machine.LifecycleMachine, 'idempotency-a', T0)).toBeUndefined();
  });

  it('holds the key at a step that failed for good, tells the caller, refuses normal work, and resumes at that step', () => {
    const { cluster, m: start } = created();
    cluster.failNext('importReplica', 'CKR_DEVICE_ERROR');
    const asked = accepted(ask(start, rotate()));
    const run = drive(asked.machine, cluster, T0 + 1000);
    expect(run.machine.held).toEqual({ step: expect.stringMatching(/^replicate v2/), reason: expect.stringContaining('CKR_DEVICE_ERROR'), since: new Date(T0 + 1000).toISOString() });
    expect(run.answers[0]?.outcome).toMatchObject({ ok: false, code: 'key_held' });
    expect(states(run.machine)).toEqual(['v1:active', 'v2:pending']);
    expect(cluster.alerts.map((a) => a.severity)).toContain('critical');
    expect(ask(run.machine, rotate())).toEqual({ refused: expect.objectContaining({ code: 'key_held' }) });
    expect(machine.viewOfMachine(run.machine, T0 + 1000).held?.step).toMatch(/^replicate v2/);
    expect(machine.phaseForWebUi(run.machine)).toBe('held');

    const resumed = accepted(ask(run.machine, { kind: 'resume', reason: 'the HSM was fixed', actor: 'alice' }));
    const after = drive(resumed.machine, cluster, T0 + 2000);
    expect(after.answers.find((a) => a.id === resumed.id)?.outcome).toEqual({ ok: true, value: { resumed: expect.stringMatching(/^replicate v2/) } });
    expect(after.machine.held).toBeNull();
    expect(states(after.machine)).toEqual(['v1:retiring', 'v2:active']);
    const v2 = after.machine.key.versions[1]!.fingerprint;
    for (const node of cluster.nodeIds) expect(cluster.fingerprintsOn(node)).toContain(v2);
  });

  it('an emergency rotation takes over a held rotation: the old version stops signing first, and the pending one goes on', () => {
    const { cluster, m: start } = created();
    cluster.failNext('importReplica');
    const held = drive(accepted(ask(start, rotate())).machine, cluster, T0 + 1000).machine;
    expect(held.held).not.toBeNull();
    const emergency = accepted(ask(held, rotate('stolen', true)));
    const run = drive(emergency.machine, cluster, T0 + 2000);
    expect(run.answers.find((a) => a.id === emergency.id)?.outcome).toEqual({ ok: true, value: expect.objectContaining({ version: 2, signingDisabledOn: cluster.nodeIds }) });
    expect(states(run.machine)).toEqual(['v1:archived', 'v2:active']);
    expect(cluster.calls.filter((c) => c.startsWith('setSigning'))).toHaveLength(3);
  });

  it('takes emergency rotation and decommission from every phase, held included', () => {
    for (const phase of ['creating', 'active', 'grace', 'held'] as const) {
      for (const kind of ['emergency', 'decommission'] as const) {
        const { cluster, m: start } = fresh();
        let m = start;
        if (phase !== 'creating') m = drive(m, cluster, T0).machine;
        if (phase === 'grace') m = drive(accepted(ask(m, rotate())).machine, cluster, T0 + 1).machine;
        if (phase === 'held') {
          cluster.failNext('wrapPrivateKey');
          m = drive(accepted(ask(m, rotate())).machine, cluster, T0 + 1).machine;
          expect(m.held).not.toBeNull();
        }
        const request: KeyRequest = kind === 'emergency' ? rotate('compromised', true) : { kind: 'decommission', reason: 'retired', actor: 'alice' };
        const asked = accepted(ask(m, request));
        const run = drive(asked.machine, cluster, T0 + 10);
        expect({ phase, kind, answer: run.answers.find((a) => a.id === asked.id)?.outcome.ok }).toEqual({ phase, kind, answer: true });
        if (kind === 'decommission') {
          expect({ phase, finished: run.finished, left: cluster.nodeIds.flatMap((n) => cluster.fingerprintsOn(n)) }).toEqual({ phase, finished: true, left: [] });
        } else {
          expect({ phase, active: run.machine.key.versions.filter((v) => v.state === 'active').length, held: run.machine.held }).toEqual({ phase, active: 1, held: null });
        }
      }
    }
  });

  it('refuses hostile input in any request before it reaches the inbox, and a signal with it is recorded as refused', () => {
    const { m } = created();
    const cases: Array<[KeyRequest, string]> = [
      [rotate('x\u0000y'), 'invalid_text'],
      [rotate('a\ud800b'), 'invalid_text'],
      [rotate('x'.repeat(1001)), 'invalid_text'],
      [rotate(''), 'reason_required'],
      [{ kind: 'rotate', reason: 'x', emergency: 'yes', actor: 'alice' } as unknown as KeyRequest, 'invalid_request'],
      [{ kind: 'extend-grace', byMs: 8.64e15, reason: 'x', actor: 'alice' }, 'invalid_extension'],
      [{ kind: 'extend-grace', byMs: Number.NaN, reason: 'x', actor: 'alice' }, 'invalid_extension'],
      [{ kind: 'policy', change: { evaluationInterval: '99999999d' }, actor: 'alice' }, 'invalid_policy'],
      [{ kind: 'policy', change: { maxAge: 'P99999999D' }, actor: 'alice' }, 'invalid_policy'],
      [{ kind: 'policy', change: [] as unknown as Record<string, never>, actor: 'alice' }, 'invalid_policy'],
      [{ kind: 'decommission', reason: 'bye\u0007', actor: 'alice' }, 'invalid_text'],
      [{ kind: 'complete-grace', reason: 'x\u0000', actor: 'alice' }, 'invalid_text'],
      [{ kind: 'resume', reason: 'x', actor: 'eve\u0000' }, 'invalid_request'],
      [null as unknown as KeyRequest, 'invalid_request'],
    ];
    for (const [request, code] of cases) expect({ request: JSON.stringify(request), code: machine.refuse(m, request)?.code }).toEqual({ request: JSON.stringify(request), code });
    const noted = machine.noteRefusedSignal(m, 'extendGracePeriod', { code: 'invalid_text', message: 'reason: must be valid Unicode text without control characters' });
    expect(noted.events).toEqual([{ action: 'key.signal.refused', actor: 'unknown', details: { signal: 'extendGracePeriod', code: 'invalid_text', why: expect.any(String) } }]);
  });

  it('extends a grace period within the cap and answers what it applied; over the cap it refuses, and the refusal is recorded', () => {
    const { cluster, m: start } = created();
    const grace = drive(accepted(ask(start, rotate())).machine, cluster, T0 + 1000).machine;
    const within = accepted(ask(grace, { kind: 'extend-grace', byMs: 3_600_000, reason: 'slow client', actor: 'alice' }));
    const run = drive(within.machine, cluster, T0 + 2000);
    expect(run.answers[0]?.outcome).toEqual({ ok: true, value: { deadline: new Date(T0 + 1000 + 2 * 3_600_000).toISOString(), cap: new Date(T0 + 1000 + 3 * 3_600_000).toISOString() } });
    expect(ask(run.machine, { kind: 'extend-grace', byMs: 2 * 3_600_000, reason: 'more', actor: 'alice' })).toEqual({ refused: expect.objectContaining({ code: 'grace_cap_exceeded' }) });
    // Two extensions queued in one moment: the second is refused by the workflow, and says so.
    const first = machine.submit(run.machine, { kind: 'extend-grace', byMs: 3_600_000, reason: 'a', actor: 'alice' }, true);
    const second = machine.submit(first.machine, { kind: 'extend-grace', byMs: 3_600_000, reason: 'b', actor: 'bob' }, true);
    const both = drive(second.machine, cluster, T0 + 3000);
    expect(both.answers.map((a) => a.outcome.ok)).toEqual([true, false]);
    expect(cluster.events.map((e) => e.action).slice(-2)).toEqual(['key.grace.extended', 'key.grace.extension_refused']);
  });

  it('at the end of a grace period, use still reported extends it once with an alert, and at the cap archives anyway', () => {
    const { cluster, m: start } = created();
    const grace = drive(accepted(ask(start, rotate())).machine, cluster, T0).machine;
    cluster.signs.set(1, 5);
    const extended = drive(grace, cluster, T0 + 3_600_000).machine;
    expect(states(extended)).toEqual(['v1:retiring', 'v2:active']);
    expect(extended.key.versions[0]!.graceDeadline).toBe(new Date(T0 + 2 * 3_600_000).toISOString());
    expect(cluster.alerts.at(-1)).toMatchObject({ severity: 'warning', message: expect.stringContaining('billing-legacy') });
    const capped = drive(extended, cluster, T0 + 3 * 3_600_000).machine;
    expect(states(capped)).toEqual(['v1:archived', 'v2:active']);
    expect(cluster.alerts.some((a) => a.severity === 'critical' && a.message.includes('maximum grace period'))).toBe(true);
    expect(capped.key.versions[0]!.verdict?.ok).toBe(false);
  });

  it('waits visibly for entropy and for nodes, and says when the wait ends', () => {
    const { cluster, m } = fresh();
    cluster.entropyHeldTimes = 2;
    const first = drive(m, cluster, T0);
    expect(first.machine.waiting).toEqual({ for: expect.stringContaining('entropy pool'), since: new Date(T0).toISOString() });
    expect(machine.viewOfMachine(first.machine, T0).waiting?.since).toBe(new Date(T0).toISOString());
    const second = drive(first.machine, cluster, T0 + machine.ENTROPY_RETRY_MS);
    expect(second.machine.waiting?.since).toBe(new Date(T0).toISOString());
    const done = drive(second.machine, cluster, T0 + 2 * machine.ENTROPY_RETRY_MS);
    expect(done.machine.waiting).toBeNull();
    expect(states(done.machine)).toEqual(['v1:active']);

    const nodesDown = fresh();
    for (const node of nodesDown.cluster.nodeIds) nodesDown.cluster.down.add(node);
    const stuck = drive(nodesDown.m, nodesDown.cluster, T0);
    expect(stuck.machine.waiting?.for).toMatch(/HSM node to answer/);
    nodesDown.cluster.down.clear();
    expect(states(drive(stuck.machine, nodesDown.cluster, T0 + machine.NODE_RETRY_MS).machine)).toEqual(['v1:active']);
  });

  it('asks its nodes again after a pause as long as it has waited, from 2 s to at most 30 s, when none answered; a run from before the rule pauses 30 s', () => {
    const { cluster, m } = fresh();
    for (const node of cluster.nodeIds) cluster.down.add(node);
    const pauses: number[] = [];
    let at = T0;
    let current = drive(m, cluster, at).machine;
    for (let i = 0; i < 7; i += 1) {
      const notBefore = (current.work as { notBefore: number | null }).notBefore as number;
      pauses.push(notBefore - at);
      at = notBefore;
      current = drive(current, cluster, at).machine;
    }
    expect(pauses).toEqual([2_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    expect(current.waiting).toMatchObject({ for: expect.stringMatching(/HSM node to answer/), since: new Date(T0).toISOString() });
    cluster.down.clear();
    const back = drive(current, cluster, (current.work as { notBefore: number }).notBefore).machine;
    expect(states(back)).toEqual(['v1:active']);
    expect(back.waiting).toBeNull();

    // The same unanswered pings, applied as a history from before the rule replays them: a fixed 30 s pause.
    const old = fresh();
    for (const node of old.cluster.nodeIds) old.cluster.down.add(node);
    let before = old.m;
    for (;;) {
      const { machine: next, step } = machine.decide(before, T0);
      if (step.kind === 'calls' && step.calls[0]?.activity === 'pingHsmNode') {
        const applied = machine.apply(next, step, old.cluster.outcomeOf(step), T0, { noNodeBackoff: () => false });
        expect((applied.work as { notBefore: number }).notBefore).toBe(T0 + machine.NODE_RETRY_MS);
        break;
      }
      before = machine.apply(next, step, old.cluster.outcomeOf(step), T0);
    }
  });

  it('a step on an away node waits for it visibly, is reported once past the bound, never holds the key, and goes on when the node is back', () => {
    const { cluster, m: start } = created();
    cluster.away.add('hsm-3');
    const asked = accepted(ask(start, rotate()));
    const t1 = T0 + 1000;
    const first = drive(asked.machine, cluster, t1);
    // hsm-3 answered no ping, so v2 was generated elsewhere; its replica on hsm-3 waits.
    expect(first.machine.waiting).toEqual({ for: 'nodes', nodes: ['hsm-3'], step: 'replicate v2 to hsm-1, hsm-3', since: new Date(t1 - NODE_AWAY_AFTER_MS).toISOString(), alertedAt: null });
    expect(machine.viewOfMachine(first.machine, t1)).toMatchObject({ waiting: { nodes: ['hsm-3'] }, working: 'rotation (manual) to v2', held: null });
    expect(first.answers).toEqual([]);
    const retry = machine.decide(first.machine, t1);
    expect(retry.step.kind === 'calls' && retry.step.calls.map((call) => call.queue)).toEqual([
      { kind: 'hsm', node: 'hsm-1', tryTimeoutMs: NODE_WAIT_ALERT_AFTER_MS - NODE_AWAY_AFTER_MS },
      { kind: 'hsm', node: 'hsm-3', tryTimeoutMs: NODE_WAIT_ALERT_AFTER_MS - NODE_AWAY_AFTER_MS },
    ]);
    expect(cluster.alerts).toEqual([]);

    const t2 = t1 + NODE_WAIT_ALERT_AFTER_MS - NODE_AWAY_AFTER_MS;
    const second = drive(first.machine, cluster, t2);
    expect(cluster.alerts).toEqual([expect.objectContaining({ dedupKey: 'key:k:waiting', severity: 'warning', message: expect.stringMatching(/waited since .* for hsm-3 \(replicate v2 to hsm-1, hsm-3\).*Start that node's HSM worker/) })]);
    expect(second.machine.waiting?.alertedAt).toBe(new Date(t2).toISOString());
    const third = drive(second.machine, cluster, t2 + NODE_WAIT_RETRY_MS);
    expect(cluster.alerts).toHaveLength(1);
    expect(third.machine.held).toBeNull();

    cluster.away.clear();
    const back = drive(third.machine, cluster, t2 + 2 * NODE_WAIT_RETRY_MS);
    expect(back.machine.waiting).toBeNull();
    expect(back.answers).toEqual([{ id: asked.id, outcome: { ok: true, value: expect.objectContaining({ version: 2 }) } }]);
    for (const node of cluster.nodeIds) expect(cluster.fingerprintsOn(node)).toContain(back.machine.key.versions[1]!.fingerprint);
  });

  it('a long wait for an away node continues as new once the history grows long, carrying the work and the wait, unless a request waits for its answer', () => {
    const { cluster, m: start } = created();
    cluster.away.add('hsm-3');
    const early = accepted(ask(start, rotateRecorded()));
    const waiting = drive(early.machine, cluster, T0 + 1000);
    expect(waiting.answers).toEqual([{ id: early.id, outcome: { ok: true, value: expect.objectContaining({ version: 2 }) } }]);
    const long = { continueAsNewSuggested: true, freshRunWhileWaiting: () => true };
    const fresh = machine.decide(waiting.machine, T0 + 1000, long);
    expect(fresh.step).toEqual({ kind: 'continue-as-new' });
    expect(fresh.machine.work).toEqual(waiting.machine.work);
    expect(fresh.machine.waiting).toEqual(waiting.machine.waiting);
    // The fresh run tries the same step again, with the wait's own timing.
    expect(machine.decide(fresh.machine, T0 + 1000).step).toMatchObject({ kind: 'calls', calls: expect.arrayContaining([expect.objectContaining({ queue: expect.objectContaining({ node: 'hsm-3' }) })]) });
    // A history made before the rule (patch not taken), or not yet long: the tries go on in this run.
    expect(machine.decide(waiting.machine, T0 + 1000, { ...long, freshRunWhileWaiting: () => false }).step.kind).toBe('calls');
    expect(machine.decide(waiting.machine, T0 + 1000, { freshRunWhileWaiting: () => true }).step.kind).toBe('calls');
    // A synchronous rotation waits for its answer in this run: the run stays.
    const other = created();
    other.cluster.away.add('hsm-3');
    const sync = drive(accepted(ask(other.m, rotate())).machine, other.cluster, T0 + 1000);
    expect(sync.machine.waiting).not.toBeNull();
    expect(machine.decide(sync.machine, T0 + 1000, long).step.kind).toBe('calls');
  });

  it('an archive and a purge wait for an away node\'s share the same way, and a held step clears the wait', () => {
    const { cluster, m: start } = created();
    const rotated = drive(accepted(ask(start, rotate())).machine, cluster, T0 + 1000).machine;
    cluster.away.add('hsm-2');
    const graceEnd = T0 + 3_600_000 + 2000;
    const archive = drive(rotated, cluster, graceEnd).machine;
    expect(archive.waiting).toMatchObject({ for: 'nodes', nodes: ['hsm-2'], step: 'destroy the private key of v1' });
    expect(states(archive)).toEqual(['v1:retiring', 'v2:active']);
    cluster.away.clear();
    const archived = drive(archive, cluster, graceEnd + 60_000).machine;
    expect(states(archived)).toEqual(['v1:archived', 'v2:active']);
    expect(archived.waiting).toBeNull();

    cluster.away.add('hsm-1');
    const purgeDue = graceEnd + 60_000 + 86_400_000 + 1000;
    const purge = drive(archived, cluster, purgeDue).machine;
    expect(purge.waiting).toMatchObject({ nodes: ['hsm-1'], step: 'purge v1' });
    // The node comes back with a broken token: the step fails for good, the key is held there, and the wait is over.
    cluster.away.clear();
    cluster.failNext('destroyKeyObjects', 'hsm_CKR_DEVICE_ERROR');
    const held = drive(purge, cluster, purgeDue + 60_000).machine;
    expect(held.held?.step).toBe('purge v1');
    expect(held.waiting).toBeNull();
  });

  it('a procedure that ended is still working while its last events are recorded; idle once they are', () => {
    const { cluster, m: start } = created();
    const asked = accepted(ask(start, rotate('test', true)));
    // One decision at a time, as the workflow makes them: look at the view whenever the work is gone.
    let m = asked.machine;
    const seen: Array<string | null> = [];
    for (let i = 0; i < 200; i += 1) {
      const { machine: next, step } = machine.decide(m, T0 + 1000);
      if (step.kind === 'wait' || step.kind === 'continue-as-new' || step.kind === 'finish') break;
      if (next.work === null) seen.push(machine.viewOfMachine(next, T0 + 1000).working);
      m = machine.apply(next, step, cluster.outcomeOf(step), T0 + 1000);
    }
    expect(seen).toContain('record key.version.verified');
    const idle = machine.decide(m, T0 + 1000);
    expect(idle.step.kind).toBe('wait');
    expect(machine.viewOfMachine(idle.machine, T0 + 1000).working).toBeNull();
  });

  it('rotates on a risk trigger with the evaluation as evidence, ending a running grace period first', () => {
    const { cluster, m: start } = created();
    const grace = drive(accepted(ask(start, rotate())).machine, cluster, T0).machine;
    cluster.evaluation = { rotate: true, trigger: 'risk', score: 0.95 };
    const run = drive({ ...grace, evaluateSoon: true }, cluster, T0 + 1000).machine;
    expect(states(run)).toEqual(['v1:archived', 'v2:retiring', 'v3:active']);
    expect(run.key.versions[2]!.lineage).toMatchObject({ trigger: 'risk', evidence: { score: 0.95 } });
    expect(cluster.events.map((e) => e.action)).toContain('key.rotation.triggered');
  });

  it('an evaluation that found use the HSM saw and no application reported raises an alert naming the key, version, log and count', () => {
    const { cluster, m: start } = created();
    cluster.evaluation = { rotate: false, trigger: null, score: 0.6, unreported: [{ app: 'billing', node: 'hsm-2', version: 1, log: '/var/log/billing.log', seen: 50, reported: 3 }] };
    drive({ ...start, evaluateSoon: true }, cluster, T0 + 1000);
    expect(cluster.alerts.filter((a) => a.dedupKey === 'key:k:unreported-use')).toEqual([{
      dedupKey: 'key:k:unreported-use',
      severity: 'warning',
      subject: 'key/k',
      message: expect.stringContaining('with k that no application reported: 47 of v1 by billing on hsm-2 (access log /var/log/billing.log)'),
    }]);
    cluster.evaluation = { rotate: false, trigger: null, score: 0.1 };
    const alertsBefore = cluster.alerts.length;
    drive({ ...start, evaluateSoon: true }, cluster, T0 + 2000);
    expect(cluster.alerts.slice(alertsBefore).filter((a) => a.dedupKey === 'key:k:unreported-use')).toEqual([]);
  });

  it('rotates on maxAge with trigger "age", and on a capacity trigger', () => {
    const { cluster, m } = created();
    const aged = drive(m, cluster, T0 + 30 * 86_400_000).machine;
    expect(aged.key.versions.find((v) => v.state === 'active')?.lineage).toMatchObject({ trigger: 'age', reason: 'maxAge 30d reached' });
    cluster.evaluation = { rotate: true, trigger: 'capacity', score: 0.2 };
    const capacity = drive({ ...aged, evaluateSoon: true }, cluster, T0 + 30 * 86_400_000 + 1000).machine;
    expect(capacity.key.versions.find((v) => v.state === 'active')?.lineage.trigger).toBe('capacity');
  });

  it('a verification that fails holds the purge and is tried again until it passes', () => {
    const { cluster, m: start } = created();
    const grace = drive(accepted(ask(start, rotate())).machine, cluster, T0).machine;
    cluster.signs.set(1, 0);
    // A live private object left on one node fails the check.
    const v1 = grace.key.versions[0]!.fingerprint;
    const realCall = cluster.call.bind(cluster);
    let leftOver = true;
    cluster.call = (activity, input, node) => (activity === 'describeKey' && node === 'hsm-3' && leftOver ? { privateKey: true, publicKey: true, canSign: null, label: null } : realCall(activity, input, node));
    const failed = drive(grace, cluster, T0 + 3_600_000).machine;
    expect(failed.key.versions[0]).toMatchObject({ state: 'archived', purgeAfter: null, verdict: { ok: false, liveObjectsOn: ['hsm-3'] } });
    leftOver = false;
    const passed = drive(failed, cluster, T0 + 3_600_000 + machine.VERIFY_RETRY_MS + 1).machine;
    expect(passed.key.versions[0]).toMatchObject({ verdict: { ok: true } });
    expect(passed.key.versions[0]!.purgeAfter).not.toBeNull();
    expect(v1).toBeTruthy();
  });

  it('a defect in the lifecycle code holds the key instead of failing it', () => {
    const { m } = created();
    const held = machine.holdOnDefect(m, new TypeError('cannot read x of undefined'), T0);
    expect(held.held).toMatchObject({ step: 'deciding the next step', reason: 'internal_error: cannot read x of undefined' });
    expect(held.alerts[0]?.severity).toBe('critical');
  });

  it('continues as new only when nobody waits for an answer', () => {
    const { cluster, m: start } = created();
    const asked = accepted(ask(start, { kind: 'evaluate', actor: 'alice' }));
    const decided = machine.decide({ ...asked.machine, freshRunDue: true }, T0);
    expect(decided.step.kind).not.toBe('continue-as-new');
    const run = drive({ ...asked.machine, freshRunDue: true }, cluster, T0);
    expect(run.answers).toHaveLength(1);
    expect(run.freshRuns).toBe(1);
  });

  it('a due fresh run comes before new work, so that back-to-back work cannot grow one run without end; older runs keep the old rule', () => {
    const { m: idle } = created();
    // A rotation just ended (a fresh run is due), its answer not yet collected, and an evaluation is due at once.
    const due: machine.LifecycleMachine = { ...idle, freshRunDue: true, evaluateSoon: true, answers: [{ id: 7, outcome: { ok: true, value: null } }] };
    expect(machine.decide(due, T0, { freshRunBeforeNewWork: () => true }).step).toEqual({ kind: 'continue-as-new' });
    expect(machine.decide(due, T0).step).toMatchObject({ kind: 'call', call: { activity: 'evaluateKeyRisk' } });
    // Temporal's suggestion counts the same.
    expect(machine.decide({ ...due, freshRunDue: false }, T0, { continueAsNewSuggested: true, freshRunBeforeNewWork: () => true }).step).toEqual({ kind: 'continue-as-new' });
    // An accepted Update in the inbox is this run's to answer: its work starts here.
    const asked = accepted(ask(due, rotate()));
    expect(machine.decide(asked.machine, T0, { freshRunBeforeNewWork: () => true }).step).toMatchObject({ kind: 'call', call: { activity: 'getClusterNodes' } });
    // Where both rules agree the workflow's patch is not asked (it would leave a marker in the history).
    const unasked = { freshRunBeforeNewWork: () => { throw new Error('the patch was asked'); } };
    expect(machine.decide({ ...due, answers: [], evaluateSoon: false }, T0, unasked).step).toEqual({ kind: 'continue-as-new' });
    expect(machine.decide({ ...due, freshRunDue: false }, T0, unasked).step).toMatchObject({ kind: 'call', call: { activity: 'evaluateKeyRisk' } });
  });

  it('a rotation that ends when its grace period is already over starts a fresh run before the grace end', () => {
    const { cluster, m: start } = created();
    let m = accepted(ask(start, rotate())).machine;
    // Step by step to the rotation's last call: who subscribed to rotations.
    for (let decided = machine.decide(m, T0 + 1000); ; decided = machine.decide(m, T0 + 1000)) {
      m = decided.machine;
      if (decided.step.kind === 'call' && decided.step.call.activity === 'listSubscriptionIds') break;
      m = machine.apply(m, decided.step, cluster.outcomeOf(decided.step), T0 + 1000);
    }
    const last = machine.decide(m, T0 + 1000);
    m = machine.apply(last.machine, last.step, { ok: true, value: { ids: [] } }, T0 + 1000);
    // The subscribers were slow to list: v1's grace period (1h) ended meanwhile.
    const later = T0 + 3_600_000 + 5000;
    expect(machine.decide(m, later, { freshRunBeforeNewWork: () => true }).step).toEqual({ kind: 'continue-as-new' });
    expect(machine.decide(m, later, { freshRunBeforeNewWork: () => false }).step).toMatchObject({ kind: 'call', call: { activity: 'countSignsAfter' } });
  });
});

describe('the publication lead: a new version is in the JWKS before it signs', () => {
  const LEAD_MS = 60_000;
  const withLead = resolvePolicy({ publicationLead: '1m' }, policy);
  /** The versions the JWKS lists, as the recorded state says (what the repository's query selects). */
  const jwks = (state: { versions: Array<{ version: number; state: string; publishedAt?: string | null }> } | undefined) =>
    (state?.versions ?? []).filter((v) => v.state === 'active' || v.state === 'retiring' || (v.state === 'pending' && v.publishedAt)).map((v) => `v${v.version}:${v.state}`);

  function createdWithLead() {
    const cluster = new FakeCluster();
    const m = machine.newMachine(newKeyState({ name: 'k', keyType: 'ec-p256', policy: withLead, actor: 'alice', now: new Date(T0).toISOString() }), 'created for a test');
    return { cluster, m: drive(m, cluster, T0).machine };
  }

  it('activates a key\'s first version at once: no application signs with the key yet', () => {
    const { cluster, m } = createdWithLead();
    expect(states(m)).toEqual(['v1:active']);
    expect(cluster.events.map((e) => e.action)).toEqual(['key.version.generated', 'key.version.replicated', 'key.version.activated']);
    expect(m.key.versions[0]).toMatchObject({ publishedAt: new Date(T0).toISOString(), activatedAt: new Date(T0).toISOString(), activatesAt: null });
  });

  it('publishes a rotation\'s version, waits the lead with the old version still active, then activates it and answers', () => {
    const { cluster, m: start } = createdWithLead();
    const asked = accepted(ask(start, rotate()));
    const published = drive(asked.machine, cluster, T0 + 1000);
    expect(published.answers).toEqual([]);
    expect(states(published.machine)).toEqual(['v1:active', 'v2:pending']);
    expect(published.machine.key.versions[1]).toMatchObject({ publishedAt: new Date(T0 + 1000).toISOString(), activatesAt: new Date(T0 + 1000 + LEAD_MS).toISOString() });
    expect(cluster.events.at(-1)).toMatchObject({ action: 'key.version.published', details: { version: 2, activatesAt: new Date(T0 + 1000 + LEAD_MS).toISOString() } });
    // What the database now holds: both in the JWKS, v1 still the one that signs.
    expect(jwks(cluster.recorded.get('k'))).toEqual(['v1:active', 'v2:pending']);
    const waiting = machine.decide(published.machine, T0 + 2000);
    expect(waiting.step).toMatchObject({ kind: 'wait', until: T0 + 1000 + LEAD_MS, what: expect.stringContaining('publicationLead 1m') });
    expect(machine.viewOfMachine(published.machine, T0 + 2000).working).toBe('rotation (manual) to v2');
    expect(ask(published.machine, rotate())).toEqual({ refused: expect.objectContaining({ code: 'rotation_in_progress' }) });

    expect(states(drive(published.machine, cluster, T0 + 1000 + LEAD_MS - 1).machine)).toEqual(['v1:active', 'v2:pending']);
    const activated = drive(published.machine, cluster, T0 + 1000 + LEAD_MS);
    expect(activated.answers).toEqual([{ id: asked.id, outcome: { ok: true, value: expect.objectContaining({ version: 2, previous: { version: 1, state: 'retiring' } }) } }]);
    expect(states(activated.machine)).toEqual(['v1:retiring', 'v2:active']);
    expect(activated.machine.key.versions[1]).toMatchObject({ publishedAt: new Date(T0 + 1000).toISOString(), activatedAt: new Date(T0 + 1000 + LEAD_MS).toISOString(), activatesAt: null });
    // The grace period of v1 counts from the moment v2 took over signing.
    expect(activated.machine.key.versions[0]!.graceDeadline).toBe(new Date(T0 + 1000 + LEAD_MS + 3_600_000).toISOString());
  });

  it('a rotation asked to answer once recorded answers when its version is published, with activatesAt; a synchronous one still answers at activation', () => {
    const { cluster, m: start } = createdWithLead();
    const early = accepted(ask(start, rotateRecorded()));
    const published = drive(early.machine, cluster, T0 + 1000);
    expect(published.answers).toEqual([{ id: early.id, outcome: { ok: true, value: {
      version: 2, kid: published.machine.key.versions[1]!.kid, fingerprint: published.machine.key.versions[1]!.fingerprint, state: 'pending',
      publishedAt: new Date(T0 + 1000).toISOString(), activatesAt: new Date(T0 + 1000 + LEAD_MS).toISOString(), waiting: null,
      previous: { version: 1, state: 'active' }, signingDisabledOn: [],
    } } }]);
    // Answered once: the rotation goes on, and its activation answers nobody twice.
    expect(cluster.events.map((e) => e.action).filter((a) => a === 'key.version.published')).toHaveLength(1);
    const activated = drive(published.machine, cluster, T0 + 1000 + LEAD_MS);
    expect(activated.answers).toEqual([]);
    expect(states(activated.machine)).toEqual(['v1:retiring', 'v2:active']);
    expect(ask(start, { ...rotate(), answer: 'later' } as unknown as KeyRequest)).toEqual({ refused: expect.objectContaining({ code: 'invalid_request' }) });
  });

  it('answers an early rotation while its replica waits for an away node, and an emergency one once active', () => {
    const { cluster, m: start } = createdWithLead();
    cluster.away.add('hsm-3');
    const early = accepted(ask(start, rotateRecorded()));
    const waiting = drive(early.machine, cluster, T0 + 1000);
    expect(waiting.answers).toEqual([{ id: early.id, outcome: { ok: true, value: expect.objectContaining({ version: 2, state: 'pending', publishedAt: null, activatesAt: null, waiting: expect.objectContaining({ for: 'nodes', nodes: ['hsm-3'] }) }) } }]);
    cluster.away.clear();
    // Back: the replica is made, then the version is published and waits out its lead from then.
    const back = drive(waiting.machine, cluster, T0 + 60_000);
    expect(back.machine.key.versions[1]).toMatchObject({ state: 'pending', activatesAt: new Date(T0 + 60_000 + LEAD_MS).toISOString() });
    expect(states(drive(back.machine, cluster, T0 + 60_000 + LEAD_MS).machine)).toEqual(['v1:retiring', 'v2:active']);

    const other = createdWithLead();
    const emergency = accepted(ask(other.m, rotateRecorded('leaked', true)));
    const answered = drive(emergency.machine, other.cluster, T0 + 1000);
    expect(answered.answers).toEqual([{ id: emergency.id, outcome: { ok: true, value: expect.objectContaining({ version: 2, state: 'active', previous: { version: 1, state: 'compromised' }, signingDisabledOn: other.cluster.nodeIds }) } }]);
  });

  it('an emergency rotation during the lead activates the published version at once, after switching the old one off', () => {
    const { cluster, m: start } = createdWithLead();
    const published = drive(accepted(ask(start, rotate())).machine, cluster, T0 + 1000).machine;
    const emergency = accepted(ask(published, rotate('v1 leaked', true)));
    const run = drive(emergency.machine, cluster, T0 + 2000);
    expect(run.answers.map((a) => a.outcome.ok)).toEqual([true, true]);
    expect(states(run.machine)).toEqual(['v1:archived', 'v2:active']);
    expect(run.machine.key.versions[1]!.activatedAt).toBe(new Date(T0 + 2000).toISOString());
    expect(cluster.calls.filter((c) => c.startsWith('setSigning'))).toHaveLength(3);
  });

  it('an emergency rotation does not wait the lead: the compromised version leaves the JWKS as the new one enters it', () => {
    const { cluster, m: start } = createdWithLead();
    const run = drive(accepted(ask(start, rotate('stolen', true))).machine, cluster, T0 + 1000);
    expect(states(run.machine)).toEqual(['v1:archived', 'v2:active']);
    expect(run.machine.key.versions[1]).toMatchObject({ publishedAt: new Date(T0 + 1000).toISOString(), activatedAt: new Date(T0 + 1000).toISOString() });
    expect(cluster.events.map((e) => e.action)).not.toContain('key.version.published');
  });

  it('a policy has a lead of 1m by default, 0s to 1h, and a policy recorded before the field existed has none', () => {
    expect(DEFAULT_POLICY.publicationLead).toBe('1m');
    expect(resolvePolicy({}).publicationLead).toBe('1m');
    expect(resolvePolicy({ publicationLead: '0s' }).publicationLead).toBe('0s');
    expect(() => resolvePolicy({ publicationLead: '2h' })).toThrow(/publicationLead \(2h\) must not exceed 1h/);
    expect(() => resolvePolicy({ publicationLead: 'soon' })).toThrow(/publicationLead/);
    const { publicationLead: _lead, ...recordedBefore } = withLead;
    expect(policyDurations(recordedBefore as typeof withLead).publicationLeadMs).toBe(0);
  });
});
