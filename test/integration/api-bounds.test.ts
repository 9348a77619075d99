import { CLEAN_TEXT_PATTERN, DURATION_PATTERN, TIMESTAMP_PATTERN } from '../../domain/input-bounds';
import { KEY_NAME_PATTERN } from '../../domain/keys/key-model';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { startTestSystem, tokenFor, uniqueName } from '../support/system';

// Workflow ids are namespace-wide and test files share one Temporal server: a key name of its own.
const KEY = uniqueName('bounds-');

interface Reply {
  status: number;
  contentType: string;
  body: { code?: string; errors?: Array<{ path: string; message: string }>; [field: string]: unknown };
}

interface OpenApiSchema {
  type?: string | string[];
  pattern?: string;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, OpenApiSchema>;
  items?: OpenApiSchema;
  oneOf?: OpenApiSchema[];
}
interface OpenApiOperation {
  parameters?: Array<{ in: string; name: string; schema: OpenApiSchema }>;
  requestBody?: { content: Record<string, { schema: OpenApiSchema }> };
  responses: Record<string, { content?: Record<string, unknown> }>;
}
type OpenApiDocument = { paths: Record<string, Record<string, OpenApiOperation>> };

/**
 * Every input is bounded at the edge: what a client sends outside the bounds is a 400 that names the field, and never
 * reaches PostgreSQL as an error (each case here was a 503 `db_*`, a 201 or a 202 before).
 */
describe('API input bounds', () => {
  let system: RunningSystem;
  let admin: string;
  let operator: string;
  let doc: OpenApiDocument;

  const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, token = admin): Promise<Reply> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const reply = await system.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }) });
    return { status: reply.statusCode, contentType: String(reply.headers['content-type']), body: reply.body ? reply.json() : {} };
  };
  /** A 400 problem+json whose errors name `field` (e.g. querystring/offset). */
  const expectRefused = (reply: Reply, field: string, code = 'invalid_request'): void => {
    expect({ status: reply.status, code: reply.body.code }).toEqual({ status: 400, code });
    expect(reply.contentType).toMatch(/^application\/problem\+json/);
    expect((reply.body.errors ?? []).map((error) => error.path)).toContain(field);
  };
  const operation = (path: string, method: string): OpenApiOperation => {
    const found = doc.paths[path]?.[method];
    if (!found) throw new Error(`no ${method} ${path} in the document`);
    return found;
  };
  const bodySchema = (path: string, method: string): OpenApiSchema => operation(path, method).requestBody!.content['application/json']!.schema;
  const parameter = (path: string, method: string, name: string): OpenApiSchema => operation(path, method).parameters!.find((p) => p.name === name)!.schema;

  beforeAll(async () => {
    system = await startTestSystem();
    admin = await tokenFor(system, 'admin');
    operator = await tokenFor(system, 'operator');
    doc = (await system.app.inject({ method: 'GET', url: '/openapi.json' })).json<OpenApiDocument>();
    expect((await call('POST', '/keys', { name: KEY, type: 'ec-p256' }, operator)).status).toBe(202);
    await eventually(async () => ((await call('GET', `/keys/${KEY}`)).body.activeVersion === 1 ? true : undefined), `${KEY} v1 active`, 90_000);
  });

  afterAll(async () => {
    await system?.stop();
  });

  it('refuses page offsets and sequence numbers PostgreSQL cannot take, naming the parameter', async () => {
    for (const url of ['/keys?offset=99999999999999999999', '/keys?offset=1e30', '/alerts?offset=1e30', '/threat-intel?offset=99999999999999999999', '/keymap?offset=1e30']) {
      expectRefused(await call('GET', url), 'querystring/offset');
    }
    for (const afterSeq of ['99999999999999999999', '1e30', '-1']) expectRefused(await call('GET', `/audit?afterSeq=${afterSeq}`), 'querystring/afterSeq');
    expect((await call('GET', '/keys?offset=1000000000')).status).toBe(200);
    expect((await call('GET', `/audit?afterSeq=${Number.MAX_SAFE_INTEGER}`)).status).toBe(200);
  });

  it('refuses NUL and other control characters in query strings', async () => {
    const cases: Array<[string, string]> = [
      ['/alerts?source=a%00b', 'querystring/source'],
      ['/audit?subject=a%00b', 'querystring/subject'],
      ['/audit?action=%01', 'querystring/action'],
      ['/threat-intel?target=a%00b', 'querystring/target'],
      ['/keymap?node=a%00b', 'querystring/node'],
      ['/entropy/history?node=a%00b', 'querystring/node'],
      ['/keys?phase=a%00b', 'querystring/phase'],
      ['/risk-trends?keys=a%00b', 'querystring/keys'],
    ];
    for (const [url, field] of cases) expectRefused(await call('GET', url), field);
    expect((await call('GET', '/alerts?source=keymap')).status).toBe(200);
  });

  it('refuses lone surrogates, bad percent-encoding and overlong path parameters as problems', async () => {
    // (A query string cannot carry a lone surrogate: percent-encoded UTF-8 of one is not valid UTF-8, and decodes to U+FFFD.)
    expectRefused(await call('POST', '/keys/no-such-key/rotate', { reason: 'a\ud800b' }, operator), 'body/reason');
    for (const url of ['/keys/%E0%A4%A', `/keys/${'k'.repeat(1001)}`, `/threat-intel/${'i'.repeat(1001)}`]) {
      const reply = await call(url.startsWith('/threat') ? 'DELETE' : 'GET', url, undefined, operator);
      expect({ status: reply.status, code: reply.body.code, contentType: reply.contentType }).toEqual({ status: 400, code: 'invalid_request', contentType: expect.stringMatching(/^application\/problem\+json/) });
    }
    // An indicator id of 200 characters, which a batch may carry, can be withdrawn: the router takes it whole.
    expect(await call('DELETE', `/threat-intel/${'i'.repeat(200)}`, undefined, operator)).toMatchObject({ status: 404, body: { code: 'not_found' } });
  });

  it('refuses NUL and lone surrogates in the text fields of POST /usage and POST /threat-intel, naming the row', async () => {
    const event = { ts: new Date().toISOString(), key: KEY, version: 1, op: 'sign', app: 'checkout' };
    for (const bad of [{ app: 'check\u0000out' }, { eventId: 'e\u0000' }, { kid: 'k\u0085' }, { node: 'n\u0000' }, { ts: '-271821-04-20T00:00:00Z' }]) {
      const reply = await call('POST', '/usage', [event, { ...event, ...bad }], operator);
      expect({ bad, status: reply.status, code: reply.body.code }).toEqual({ bad, status: 400, code: 'invalid_usage_batch' });
      expect(reply.body.errors).toEqual([{ path: 'body/1', message: expect.any(String) }]);
    }
    const indicator = { id: 'bounds-1', severity: 'high', scope: 'app', target: 'checkout', expiresAt: '2030-01-01T00:00:00Z', source: 'vendor' };
    for (const bad of [{ source: 'ven\u0000dor' }, { target: 'check\u0000out' }, { expiresAt: '2030-01-01T00:00:00+21:35' }, { expiresAt: '0000-01-01T00:00:00Z' }]) {
      const reply = await call('POST', '/threat-intel', [{ ...indicator, ...bad }], operator);
      expect({ bad, status: reply.status, code: reply.body.code }).toEqual({ bad, status: 400, code: 'invalid_threat_indicators' });
      expect(reply.body.errors).toEqual([{ path: 'body/0', message: expect.any(String) }]);
    }
    // A lone surrogate is refused in any request, wherever it is (PostgreSQL cannot store it as JSON).
    expectRefused(await call('POST', '/usage', [event, { ...event, kid: 'k\ud800' }], operator), 'body/1/kid');
    expectRefused(await call('POST', '/threat-intel', { indicators: [{ ...indicator, target: 'a\udc00' }] }, operator), 'body/indicators/0/target');
    expect((await system.db.query('SELECT count(*)::int AS n FROM threat_indicators')).rows[0]).toEqual({ n: 0 });
    expect((await system.db.query('SELECT count(*)::int AS n FROM usage_events')).rows[0]).toEqual({ n: 0 });
    // What the rows do not cover is refused by the schema: a property beside the batch.
    expectRefused(await call('POST', '/threat-intel', { indicators: [indicator], extra: true }, operator), 'body');
    expect((await call('POST', '/threat-intel', [indicator], operator)).body).toEqual({ created: 1, updated: 0, unchanged: 0 });
    expect((await call('POST', '/usage', [event], operator)).body).toEqual({ stored: 1, duplicates: 0 });
  });

  it('refuses timestamps PostgreSQL would not read: zone offsets past ±15:59, year 0, days a month lacks', async () => {
    for (const before of ['2026-11-22T01:46:31%2B21:35', '2026-11-22T01:46:31-16:00', '0000-01-01T00:00:00Z', '2026-02-30T00:00:00Z', '2026-01-01T00:00:00', 'yesterday']) {
      expectRefused(await call('GET', `/entropy/history?before=${before}`), 'querystring/before');
      expectRefused(await call('GET', `/keys/no-such-key/risk?before=${before}`), 'querystring/before');
    }
    expect((await call('GET', '/entropy/history?before=2026-11-22T01:46:31%2B15:59')).status).toBe(200);
    expect((await call('GET', '/entropy/history?before=0001-01-01T00:00:00%2B01:00')).status).toBe(200);
  });

  it('takes a JSON body as sent: {"name": false} is no token name', async () => {
    const reply = await call('POST', '/tokens', { name: false, role: 'admin' });
    expectRefused(reply, 'body/name');
    expectRefused(await call('POST', '/keys/no-such-key/rotate', { reason: 'x', emergency: 'true' }, operator), 'body/emergency');
    expectRefused(await call('PATCH', '/keys/no-such-key/policy', { riskThreshold: '0.5' }, operator), 'body/riskThreshold', 'invalid_policy');
    expect((await system.db.query("SELECT 1 FROM api_tokens WHERE name = 'false'")).rowCount).toBe(0);
    // Query strings and path parameters are text, and are still read as the numbers their schemas name.
    expect((await call('GET', '/keys?limit=2&offset=0')).status).toBe(200);
  });

  it('gives a schema refusal the code the service gives for the same input', async () => {
    const cases: Array<[string, Promise<Reply>, string]> = [
      ['a name with capitals and a space', call('POST', '/keys', { name: 'Bad Name', type: 'ec-p256' }, operator), 'invalid_key_name'],
      ['an unknown key type', call('POST', '/keys', { name: 'typed', type: 'DSA' }, operator), 'invalid_key_type'],
      ['ed25519, with the reason', call('POST', '/keys', { name: 'edwards', type: 'ed25519' }, operator), 'unsupported_key_type'],
      ['a duration in words', call('POST', '/keys', { name: 'worded', type: 'ec-p256', policy: { gracePeriod: 'ten days' } }, operator), 'invalid_policy'],
      ['an unknown policy field', call('PATCH', `/keys/${KEY}/policy`, { colour: 'red' }, operator), 'invalid_policy'],
      ['an extension in words', call('POST', `/keys/${KEY}/grace`, { extendBy: 'soon', reason: 'x' }, operator), 'invalid_duration'],
      ['two refusals of different kinds', call('POST', '/keys', { name: 'Bad Name', type: 'ec-p256', policy: { maxAge: 'forever' } }, operator), 'invalid_request'],
    ];
    for (const [what, pending, code] of cases) {
      const reply = await pending;
      expect({ what, status: reply.status, code: reply.body.code }).toEqual({ what, status: 400, code });
    }
  });

  it('refuses key names that a URL normaliser would rewrite, in the body and in the path', async () => {
    for (const name of ['.', '..', '.hidden', '-dash', '_under']) {
      expectRefused(await call('POST', '/keys', { name, type: 'ec-p256' }, operator), 'body/name', 'invalid_key_name');
    }
    // (A client would send /keys/%2e%2e as /keys/.. and then as /keys: inject, like the WHATWG URL parser, does that too.)
    for (const path of ['.hidden', '-dash', '_under', 'a%00b', 'UPPER']) expectRefused(await call('GET', `/keys/${path}`), 'params/name');
    expect((await system.db.query('SELECT name FROM keys')).rows).toEqual([{ name: KEY }]);
  });

  it('documents every error as application/problem+json, and the formats of names, durations, texts and timestamps', () => {
    const errorTypes = new Set<string>();
    for (const operations of Object.values(doc.paths)) {
      for (const op of Object.values(operations)) {
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) >= 400 && !(status === '503' && response.content?.['application/json'])) {
            for (const type of Object.keys(response.content ?? {})) errorTypes.add(type);
          }
        }
      }
    }
    expect([...errorTypes]).toEqual(['application/problem+json']);

    const createKey = bodySchema('/keys', 'post');
    expect(createKey.properties!.name).toMatchObject({ pattern: KEY_NAME_PATTERN.source, maxLength: 64 });
    expect(createKey.properties!.reason).toMatchObject({ pattern: CLEAN_TEXT_PATTERN, maxLength: 1000 });
    for (const field of ['gracePeriod', 'maxGracePeriod', 'retention', 'maxAge', 'minRotationInterval', 'evaluationInterval', 'capacityMargin']) {
      expect(createKey.properties!.policy!.properties![field]).toMatchObject({ type: 'string', pattern: DURATION_PATTERN, maxLength: 40 });
    }
    expect(createKey.properties!.policy!.properties!.riskThreshold).toMatchObject({ minimum: 0, maximum: 1 });
    expect(createKey.properties!.policy!.properties!.capacityLimit).toMatchObject({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
    expect(bodySchema('/keys/{name}/grace', 'post').properties!.extendBy).toMatchObject({ pattern: DURATION_PATTERN });
    for (const [path, method] of [['/keys/{name}/rotate', 'post'], ['/keys/{name}/grace', 'post'], ['/keys/{name}/grace/complete', 'post'], ['/keys/{name}', 'delete']] as const) {
      expect(bodySchema(path, method).properties!.reason).toMatchObject({ pattern: CLEAN_TEXT_PATTERN, maxLength: 1000 });
    }
    for (const path of ['/keys/{name}', '/keys/{name}/public', '/keys/{name}/usage', '/keys/{name}/risk']) {
      expect(parameter(path, 'get', 'name')).toMatchObject({ pattern: KEY_NAME_PATTERN.source });
    }
    expect(parameter('/entropy/history', 'get', 'before')).toMatchObject({ format: 'date-time', pattern: TIMESTAMP_PATTERN });
    expect(parameter('/keys', 'get', 'offset')).toMatchObject({ minimum: 0, maximum: 1_000_000_000 });
    expect(parameter('/audit', 'get', 'afterSeq')).toMatchObject({ maximum: Number.MAX_SAFE_INTEGER });
    const usageItem = bodySchema('/usage', 'post').oneOf![0]!.items!;
    expect(usageItem.properties!.app).toMatchObject({ pattern: CLEAN_TEXT_PATTERN, maxLength: 200 });
  });

  it('refuses hostile reasons, durations and numbers for a key at the edge, and the key keeps working', async () => {
    expect((await call('POST', '/keys', { name: 'bounds-key', type: 'ec-p256', policy: { gracePeriod: '1h', maxGracePeriod: '2h' }, reason: 'a\u0000b' }, operator)).status).toBe(400);
    expect((await call('POST', '/keys', { name: 'bounds-key', type: 'ec-p256', policy: { maxAge: 'P99999999D' } }, operator)).status).toBe(400);
    // The refused requests burned no name.
    // No publication lead: the rotation below activates v2 at once (the lead is not what this test is about).
    expect((await call('POST', '/keys', { name: 'bounds-key', type: 'ec-p256', policy: { gracePeriod: '1h', maxGracePeriod: '2h', publicationLead: '0s' } }, operator)).status).toBe(202);
    await eventually(async () => ((await call('GET', '/keys/bounds-key')).body.activeVersion === 1 ? true : undefined), 'bounds-key v1 active', 90_000);

    const hostile: Array<[string, 'POST' | 'PATCH' | 'DELETE', string, unknown, string, string?]> = [
      ['NUL in a rotation reason', 'POST', '/keys/bounds-key/rotate', { reason: 'x\u0000y' }, 'body/reason'],
      ['lone surrogate in a rotation reason', 'POST', '/keys/bounds-key/rotate', { reason: 'a\ud800b' }, 'body/reason'],
      ['an overlong reason', 'POST', '/keys/bounds-key/rotate', { reason: 'r'.repeat(1001) }, 'body/reason'],
      ['NUL in an emergency reason', 'POST', '/keys/bounds-key/rotate', { reason: '\u0000', emergency: true }, 'body/reason'],
      ['NUL in a grace reason', 'POST', '/keys/bounds-key/grace', { extendBy: '1h', reason: 'x\u0000' }, 'body/reason'],
      ['NUL in a grace-complete reason', 'POST', '/keys/bounds-key/grace/complete', { reason: 'x\u0000' }, 'body/reason'],
      ['NUL in a decommission reason', 'DELETE', '/keys/bounds-key', { confirm: 'bounds-key', reason: 'x\u0000' }, 'body/reason'],
      ['an extension of 99999999999 days', 'POST', '/keys/bounds-key/grace', { extendBy: '99999999999d', reason: 'x' }, 'body/extendBy', 'invalid_duration'],
      ['an evaluation interval of 9999999999 days', 'PATCH', '/keys/bounds-key/policy', { evaluationInterval: '9999999999d' }, 'body/evaluationInterval', 'invalid_policy'],
      ['a risk threshold of 0', 'PATCH', '/keys/bounds-key/policy', { riskThreshold: 0 }, 'body/riskThreshold', 'invalid_policy'],
      ['a risk threshold above 1', 'PATCH', '/keys/bounds-key/policy', { riskThreshold: 1.5 }, 'body/riskThreshold', 'invalid_policy'],
      ['a capacity limit past the safe integers', 'PATCH', '/keys/bounds-key/policy', { capacityLimit: 2 ** 60 }, 'body/capacityLimit', 'invalid_policy'],
      ['a capacity limit of 0', 'PATCH', '/keys/bounds-key/policy', { capacityLimit: 0 }, 'body/capacityLimit', 'invalid_policy'],
    ];
    for (const [what, method, url, payload, field, code] of hostile) {
      const reply = await call(method, url, payload, operator);
      expect({ what, status: reply.status, code: reply.body.code, fields: reply.body.errors?.map((e) => e.path) }).toEqual({ what, status: 400, code: code ?? 'invalid_request', fields: expect.arrayContaining([field]) });
    }
    // Within the schema but past what a duration may be (100 years), or past the grace cap: still a client error.
    expect(await call('POST', '/keys/bounds-key/grace', { extendBy: '99999999d', reason: 'x' }, operator)).toMatchObject({ status: 400, body: { code: 'invalid_duration' } });
    expect(await call('PATCH', '/keys/bounds-key/policy', { maxAge: '99999999d' }, operator)).toMatchObject({ status: 400, body: { code: 'invalid_policy' } });

    const rotated = await call('POST', '/keys/bounds-key/rotate', { reason: 'after the hostile inputs' }, operator);
    expect(rotated).toMatchObject({ status: 200, body: { version: 2 } });
    expect(await call('POST', '/keys/bounds-key/grace', { extendBy: '36500d', reason: 'past the cap' }, operator)).toMatchObject({ status: 409, body: { code: 'grace_cap_exceeded' } });
    expect(await call('POST', '/keys/bounds-key/grace', { extendBy: '30m', reason: 'within the cap' }, operator)).toMatchObject({ status: 202 });
  });
});
