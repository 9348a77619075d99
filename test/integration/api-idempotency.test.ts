import { createHash } from 'node:crypto';
import { rotateKeyUpdate } from '../../workflows/key-messages';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { startTestSystem, testConfig, tokenFor, uniqueName } from '../support/system';

interface Version {
  version: number;
  state: string;
}

/**
 * A client that is not sure its rotation arrived (a timeout, a dropped connection) asks again with the same
 * Idempotency-Key. An emergency rotation asked twice must not compromise the version the first one made.
 */
describe('Idempotency-Key on POST /keys/:name/rotate', () => {
  let system: RunningSystem;
  let operator: string;
  let otherOperator: string;

  beforeAll(async () => {
    system = await startTestSystem(await testConfig());
    operator = await tokenFor(system, 'operator');
    otherOperator = await tokenFor(system, 'operator');
  });

  afterAll(async () => {
    await system?.stop();
  });

  const call = async (method: 'GET' | 'POST', url: string, options: { payload?: unknown; key?: string; token?: string; prefer?: string } = {}) => {
    const reply = await system.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${options.token ?? operator}`, ...(options.key ? { 'idempotency-key': options.key } : {}), ...(options.prefer ? { prefer: options.prefer } : {}) },
      ...(options.payload === undefined ? {} : { payload: options.payload as Record<string, unknown> }),
    });
    return { status: reply.statusCode, body: reply.json<Record<string, unknown>>(), replayed: reply.headers['idempotency-replayed'] };
  };
  const versions = async (name: string): Promise<string[]> => ((await call('GET', `/keys/${name}`)).body.versions as Version[]).map((v) => `v${v.version}:${v.state}`);
  const compromises = async (name: string): Promise<number> =>
    Number((await system.db.query<{ n: string }>("SELECT count(*) AS n FROM audit_log WHERE subject = $1 AND action = 'key.version.compromised'", [`key/${name}`])).rows[0]?.n);

  async function activeKey(): Promise<string> {
    const name = uniqueName('idem-');
    expect((await call('POST', '/keys', { payload: { name, type: 'ec-p256', policy: { publicationLead: '0s' } } })).status).toBe(202);
    await eventually(async () => ((await versions(name)).includes('v1:active') ? true : undefined), `${name} v1 active`);
    return name;
  }

  it('answers a repeated emergency rotation with the first answer, and rotates once', async () => {
    const name = await activeKey();
    const body = { reason: 'key leaked in incident 7', emergency: true };
    const first = await call('POST', `/keys/${name}/rotate`, { payload: body, key: 'incident-7-rotation' });
    expect(first).toMatchObject({ status: 200, body: { version: 2 }, replayed: undefined });
    const again = await call('POST', `/keys/${name}/rotate`, { payload: { emergency: true, reason: 'key leaked in incident 7' }, key: 'incident-7-rotation' });
    expect(again).toEqual({ status: 200, body: first.body, replayed: 'true' });
    expect(await versions(name)).toEqual(expect.arrayContaining(['v2:active']));
    expect((await versions(name)).some((v) => v.startsWith('v3'))).toBe(false);
    expect(await compromises(name)).toBe(1);

    // The same key with another request is refused, and changes nothing; another token's key of the same text is its own.
    const other = await call('POST', `/keys/${name}/rotate`, { payload: { reason: 'another reason', emergency: true }, key: 'incident-7-rotation' });
    expect(other).toMatchObject({ status: 422, body: { code: 'idempotency_key_reused' } });
    const async = await call('POST', `/keys/${name}/rotate`, { payload: body, key: 'incident-7-rotation', prefer: 'respond-async' });
    expect(async).toMatchObject({ status: 422, body: { code: 'idempotency_key_reused' } });
    expect((await versions(name)).some((v) => v.startsWith('v3'))).toBe(false);
    const otherToken = await call('POST', `/keys/${name}/rotate`, { payload: body, key: 'incident-7-rotation', token: otherOperator });
    expect(otherToken).toMatchObject({ status: 200, body: { version: 3 } });
    expect(await compromises(name)).toBe(2);
  });

  it('gives a refusal again as it was given, and a key still being answered gets 409', async () => {
    const name = await activeKey();
    const first = await call('POST', `/keys/${name}/rotate`, { payload: { reason: 'routine' }, key: 'routine-1' });
    expect(first).toMatchObject({ status: 200, body: { version: 2 } });
    const refused = await call('POST', `/keys/${name}/rotate`, { payload: { reason: 'routine again' }, key: 'routine-2' });
    expect(refused).toMatchObject({ status: 409, body: { code: 'grace_period_running' } });
    expect(await call('POST', `/keys/${name}/rotate`, { payload: { reason: 'routine again' }, key: 'routine-2' })).toMatchObject({ status: 409, body: { code: 'grace_period_running' } });

    // The same request under a key claimed a moment ago and not yet answered.
    const tokenId = (await system.db.query<{ id: string }>('SELECT id FROM api_tokens WHERE token_hash = $1', [createHash('sha256').update(operator).digest('hex')])).rows[0]?.id;
    await system.db.query(
      "INSERT INTO api_idempotency (token_id, idem_key, operation, request_hash) SELECT token_id, 'busy', operation, request_hash FROM api_idempotency WHERE token_id = $1 AND idem_key = 'routine-2'",
      [tokenId],
    );
    expect(await call('POST', `/keys/${name}/rotate`, { payload: { reason: 'routine again' }, key: 'busy' })).toMatchObject({ status: 409, body: { code: 'idempotency_key_in_progress' } });
  });

  it('takes up a request the API abandoned after it reached the workflow: the workflow answers its Update id with the first outcome', async () => {
    const name = await activeKey();
    const body = { reason: 'suspected leak', emergency: true };
    const tokenId = (await system.db.query<{ id: string }>('SELECT id FROM api_tokens WHERE token_hash = $1', [createHash('sha256').update(operator).digest('hex')])).rows[0]?.id as string;
    // What a first request left when the API died between the Update and its answer: the key claimed with this
    // request's hash three minutes ago and no answer, and the Update done under the id the API derives from the key.
    const probe = await call('POST', `/keys/${name}/rotate`, { payload: body, key: 'probe' });
    expect(probe.status).toBe(200);
    const { rows: [claimed] } = await system.db.query<{ request_hash: string }>("SELECT request_hash FROM api_idempotency WHERE token_id = $1 AND idem_key = 'probe'", [tokenId]);
    const updateId = `idempotency-${createHash('sha256').update(`${tokenId}\u0000abandoned`).digest('hex').slice(0, 32)}`;
    const direct = await system.client.workflow.getHandle(`key/${name}`).executeUpdate(rotateKeyUpdate, { args: [{ ...body, actor: 'test' }], updateId });
    expect(direct.version).toBe(3);
    await system.db.query(
      "INSERT INTO api_idempotency (token_id, idem_key, operation, request_hash, started_at) VALUES ($1, 'abandoned', $2, $3, now() - interval '3 minutes')",
      [tokenId, `POST /keys/${name}/rotate`, claimed?.request_hash],
    );
    const retried = await call('POST', `/keys/${name}/rotate`, { payload: body, key: 'abandoned' });
    expect(retried).toMatchObject({ status: 200, body: { version: 3 } });
    expect((await versions(name)).some((v) => v.startsWith('v4'))).toBe(false);
    expect(await compromises(name)).toBe(2);
  });
});
