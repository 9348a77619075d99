import { WorkflowUpdateFailedError } from '@temporalio/client';
import { extendGracePeriodSignal, keyStateQuery, rotateKeyUpdate, updatePolicyUpdate } from '../../workflows/key-messages';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { startTestSystem, testConfig, tokenFor, uniqueName } from '../support/system';

const policy = { gracePeriod: '1h', maxGracePeriod: '2h', retention: '1h', maxAge: '30d', minRotationInterval: '1s', evaluationInterval: '1h', publicationLead: '0s' };

/**
 * Every input that once broke a key's workflow for good, sent by a client and from outside the API (as the Temporal Web
 * UI or CLI would): each gets a 4xx or is refused, changes nothing, and the key still rotates in an emergency afterwards.
 */
describe('hostile input never breaks, sticks or burns a key', () => {
  let system: RunningSystem;
  let operator: string;

  beforeAll(async () => {
    system = await startTestSystem(await testConfig());
    operator = await tokenFor(system, 'operator');
  });

  afterAll(async () => {
    await system?.stop();
  });

  /** Sends the body as raw JSON text, so that escapes such as \u0000 and a lone \ud800 arrive as a client wrote them. */
  const send = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, json?: string) => {
    const reply = await system.app.inject({ method, url, headers: { authorization: `Bearer ${operator}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) }, ...(json === undefined ? {} : { payload: json }) });
    return { status: reply.statusCode, body: reply.json<Record<string, unknown>>(), contentType: String(reply.headers['content-type']) };
  };
  const detail = async (name: string) => (await send('GET', `/keys/${name}`)).body as { phase: string; activeVersion: number | null; held: unknown; versions: Array<{ version: number; state: string }> };
  const active = (name: string, version: number) => eventually(async () => ((await detail(name)).activeVersion === version ? true : undefined), `${name} v${version} active`);

  /** The workflow is running and no workflow task ever failed. */
  const expectHealthyWorkflow = async (name: string): Promise<void> => {
    const handle = system.client.workflow.getHandle(`key/${name}`);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    const { events } = await handle.fetchHistory();
    expect((events ?? []).filter((event) => event.workflowTaskFailedEventAttributes)).toEqual([]);
  };

  it('refuses each hostile request with a 4xx, and the key still rotates in an emergency', async () => {
    const name = uniqueName('hostile-');
    expect((await send('POST', '/keys', JSON.stringify({ name, type: 'ec-p256', policy }))).status).toBe(202);
    await active(name, 1);
    expect((await send('POST', `/keys/${name}/rotate`, JSON.stringify({ reason: 'into a grace period' }))).status).toBe(200);
    const auditBefore = (await system.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log')).rows[0]?.n;
    const stateBefore = await detail(name);

    const hostile: Array<[string, 'POST' | 'PATCH' | 'DELETE', string, string, number, string]> = [
      ['NUL in a rotation reason', 'POST', `/keys/${name}/rotate`, '{"reason":"x\\u0000y"}', 400, 'invalid_request'],
      ['lone surrogate in a rotation reason', 'POST', `/keys/${name}/rotate`, '{"reason":"a\\ud800b"}', 400, 'invalid_request'],
      ['NUL in an emergency reason', 'POST', `/keys/${name}/rotate`, '{"reason":"x\\u0000y","emergency":true}', 400, 'invalid_request'],
      ['control character in a reason', 'POST', `/keys/${name}/rotate`, '{"reason":"bell\\u0007"}', 400, 'invalid_request'],
      ['overlong reason', 'POST', `/keys/${name}/rotate`, JSON.stringify({ reason: 'x'.repeat(5000) }), 400, 'invalid_request'],
      ['NUL in a grace extension', 'POST', `/keys/${name}/grace`, '{"extendBy":"10m","reason":"x\\u0000y"}', 400, 'invalid_request'],
      ['absurd grace extension', 'POST', `/keys/${name}/grace`, '{"extendBy":"99999999d","reason":"more"}', 400, 'invalid_duration'],
      ['absurd ISO grace extension', 'POST', `/keys/${name}/grace`, '{"extendBy":"P99999999D","reason":"more"}', 400, 'invalid_duration'],
      ['grace extension past its cap', 'POST', `/keys/${name}/grace`, '{"extendBy":"30d","reason":"more"}', 409, 'grace_cap_exceeded'],
      ['NUL in a grace completion', 'POST', `/keys/${name}/grace/complete`, '{"reason":"x\\u0000y"}', 400, 'invalid_request'],
      ['NUL in a decommission reason', 'DELETE', `/keys/${name}`, JSON.stringify({ confirm: name, reason: 'x\u0000y' }), 400, 'invalid_request'],
      ['absurd evaluation interval', 'PATCH', `/keys/${name}/policy`, '{"evaluationInterval":"99999999d"}', 400, 'invalid_policy'],
      ['absurd maxAge', 'PATCH', `/keys/${name}/policy`, '{"maxAge":"P99999999D"}', 400, 'invalid_policy'],
      ['a risk threshold out of range', 'PATCH', `/keys/${name}/policy`, '{"riskThreshold":7}', 400, 'invalid_policy'],
      ['resume a key that is not held', 'POST', `/keys/${name}/resume`, '{"reason":"nothing to resume"}', 409, 'not_held'],
      ['NUL in a resume reason', 'POST', `/keys/${name}/resume`, '{"reason":"x\\u0000y"}', 400, 'invalid_request'],
    ];
    for (const [what, method, url, json, status, code] of hostile) {
      const reply = await send(method, url, json);
      expect({ what, status: reply.status, code: reply.body.code, problem: reply.contentType.startsWith('application/problem+json') }).toEqual({ what, status, code, problem: true });
    }

    // The same from outside the API, as an operator could send them from the Web UI or the CLI.
    const handle = system.client.workflow.getHandle(`key/${name}`);
    await handle.signal(extendGracePeriodSignal, { byMs: 8.64e15, reason: 'x\u0000y', actor: 'web-ui' });
    await handle.signal(extendGracePeriodSignal, { byMs: Number.NaN, reason: 'fine', actor: 'web-ui' });
    for (const args of [{ reason: 'x\u0000y', emergency: false, actor: 'cli' }, { reason: 'ok', emergency: 'yes', actor: 'cli' }, null]) {
      await expect(handle.executeUpdate(rotateKeyUpdate, { args: [args as never] })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    }
    await expect(handle.executeUpdate(updatePolicyUpdate, { args: [{ change: { evaluationInterval: '99999999d' }, actor: 'cli' }] })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    // The refused signals are recorded as refused (without the text that made them bad), and nothing else changed.
    const refusedSignals = await eventually(async () => {
      const { rows } = await system.db.query<{ details: Record<string, unknown> }>("SELECT details FROM audit_log WHERE action = 'key.signal.refused' AND subject = $1", [`key/${name}`]);
      return rows.length === 2 ? rows : undefined;
    }, 'the two refused signals in the audit log');
    expect(JSON.stringify(refusedSignals)).not.toContain('\\u0000');
    const view = await handle.query(keyStateQuery);
    expect(view.held).toBeNull();
    const after = await detail(name);
    expect({ phase: after.phase, activeVersion: after.activeVersion, versions: after.versions }).toEqual({ phase: stateBefore.phase, activeVersion: stateBefore.activeVersion, versions: stateBefore.versions });
    // Nothing but the two refusals was recorded: no grace extension, no policy change, no rotation.
    const { rows: recorded } = await system.db.query<{ action: string }>('SELECT action FROM audit_log WHERE seq > (SELECT max(seq) FROM audit_log) - $1 ORDER BY seq', [(await system.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log')).rows[0]!.n - (auditBefore ?? 0)]);
    expect(recorded.map((row) => row.action).filter((action) => action.startsWith('key.') && !action.startsWith('key.evaluat'))).toEqual(['key.signal.refused', 'key.signal.refused']);

    // The key still works: an emergency rotation succeeds, and its workflow runs with no failed task.
    const emergency = await send('POST', `/keys/${name}/rotate`, JSON.stringify({ reason: 'after the hostile requests', emergency: true }));
    expect(emergency.status).toBe(200);
    expect(emergency.body.version).toBe(3);
    await expectHealthyWorkflow(name);
  });

  it('a refused creation does not burn the name, and absurd policies are refused before anything starts', async () => {
    const name = uniqueName('burn-');
    const cases: Array<[string, string]> = [
      ['NUL in the creation reason', JSON.stringify({ name, type: 'ec-p256', reason: 'x\u0000y' })],
      ['absurd maxAge', JSON.stringify({ name, type: 'ec-p256', policy: { maxAge: '99999999d' } })],
      ['absurd ISO maxAge', JSON.stringify({ name, type: 'ec-p256', policy: { maxAge: 'P99999999D' } })],
      ['absurd evaluation interval', JSON.stringify({ name, type: 'ec-p256', policy: { evaluationInterval: '99999999d' } })],
    ];
    for (const [what, json] of cases) {
      const reply = await send('POST', '/keys', json);
      expect({ what, status: reply.status }).toEqual({ what, status: 400 });
    }
    expect((await system.db.query('SELECT 1 FROM keys WHERE name = $1', [name])).rowCount).toBe(0);
    expect((await send('POST', '/keys', JSON.stringify({ name, type: 'ec-p256', policy, reason: 'a clean reason' }))).status).toBe(202);
    await active(name, 1);
    expect((await send('POST', `/keys/${name}/rotate`, JSON.stringify({ reason: 'works', emergency: true }))).status).toBe(200);
    await expectHealthyWorkflow(name);
  });

  it('ten grace extensions at once: each answer says what the workflow did, and the audit log agrees', async () => {
    const name = uniqueName('extend-');
    expect((await send('POST', '/keys', JSON.stringify({ name, type: 'ec-p256', policy }))).status).toBe(202);
    await active(name, 1);
    expect((await send('POST', `/keys/${name}/rotate`, JSON.stringify({ reason: 'into a grace period' }))).status).toBe(200);
    // gracePeriod 1h, maxGracePeriod 2h: three extensions of 20m fit, the other seven do not.
    const replies = await Promise.all(Array.from({ length: 10 }, (_unused, i) => send('POST', `/keys/${name}/grace`, JSON.stringify({ extendBy: '20m', reason: `extension ${i}` }))));
    const applied = replies.filter((reply) => reply.status === 202);
    const refused = replies.filter((reply) => reply.status === 409);
    expect(applied).toHaveLength(3);
    expect(refused).toHaveLength(7);
    for (const reply of refused) expect(reply.body.code).toBe('grace_cap_exceeded');
    // The workflow answers once it applied (or refused) the extension; its audit entry is written as its next step. An
    // extension that passed the Update's validator but found the cap reached by then is refused, and recorded so.
    const rows = await eventually(async () => {
      const found = await system.db.query<{ action: string; details: { deadline?: string; reason: string } }>("SELECT action, details FROM audit_log WHERE action IN ('key.grace.extended', 'key.grace.extension_refused') AND subject = $1 ORDER BY seq", [`key/${name}`]);
      return found.rows.filter((row) => row.action === 'key.grace.extended').length >= 3 ? found.rows : undefined;
    }, 'the three extensions in the audit log');
    const recorded = rows.filter((row) => row.action === 'key.grace.extended').map((row) => row.details.deadline as string).sort();
    expect(recorded).toEqual(applied.map((reply) => reply.body.expectedDeadline as string).sort());
    expect(rows.filter((row) => row.action === 'key.grace.extension_refused').length).toBeLessThanOrEqual(refused.length);
    const key = (await send('GET', `/keys/${name}`)).body as { deadlines: { graceDeadline: string } };
    expect(key.deadlines.graceDeadline).toBe(recorded[recorded.length - 1]);
  });
});
