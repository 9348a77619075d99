import type { RunningSystem } from '../../workers/system';
import { recordSyntheticEvaluations } from '../support/synthetic-evaluations';
import { recordSyntheticKeys } from '../support/synthetic-keys';
import { startTestSystem, tokenFor } from '../support/system';

interface TrendsReply {
  trends: Array<{ key: string; points: Array<{ evaluatedAt: string; score: number }> }>;
  unknown: string[];
}

const HOUR_MS = 3_600_000;

/**
 * GET /risk-trends on the real stack: keys recorded as their workflows would have (synthetic-keys), evaluations stored
 * through the repository call the evaluateKeyRisk activity makes, the API and PostgreSQL of a running system.
 */
describe('GET /risk-trends', () => {
  let system: RunningSystem;
  let auditor: string;
  let operator: string;
  const nowMs = Date.parse('2026-05-04T12:00:00Z');
  /** Hourly, oldest first: the score of evaluation i is i / 1000, so a point shows where it came from. */
  const history = (count: number) => Array.from({ length: count }, (_, i) => ({ atMs: nowMs - (count - i) * HOUR_MS, score: i / 1000 }));

  beforeAll(async () => {
    system = await startTestSystem();
    auditor = await tokenFor(system, 'auditor');
    operator = await tokenFor(system, 'operator');
    const nodeId = system.config.hsm.nodes[0]!.id;
    for (const prefix of ['long-', 'short-', 'fresh-']) await recordSyntheticKeys(system.db, { prefix, count: 1, nodeId });
    await recordSyntheticEvaluations(system.db, { key: 'long-0000', points: history(200) });
    await recordSyntheticEvaluations(system.db, { key: 'short-0000', points: history(3) });
  });

  afterAll(async () => {
    // The Temporal server is shared by every test file: the workflow of the key made here must not outlive this file.
    await system?.client.workflow.getHandle('key/risk-trends').terminate('test file finished').catch(() => undefined);
    await system?.stop();
  });

  const get = async (url: string, token: string | null = auditor) => {
    const reply = await system.app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: reply.statusCode, type: reply.headers['content-type'], body: reply.json<Record<string, unknown>>() };
  };

  it('answers an auditor with each named key\'s newest scores, oldest first, in the order asked; unknown names apart', async () => {
    const reply = await get('/risk-trends?keys=short-0000,nope,long-0000,fresh-0000');
    expect(reply.status).toBe(200);
    const { trends, unknown } = reply.body as unknown as TrendsReply;
    expect(trends.map((trend) => trend.key)).toEqual(['short-0000', 'long-0000', 'fresh-0000']);
    expect(unknown).toEqual(['nope']);

    const byKey = new Map(trends.map((trend) => [trend.key, trend.points]));
    // The default is 24 points: the newest 24 of 200, oldest first.
    expect(byKey.get('long-0000')).toEqual(history(200).slice(-24).map((p) => ({ evaluatedAt: new Date(p.atMs).toISOString(), score: p.score })));
    expect(byKey.get('short-0000')).toEqual(history(3).map((p) => ({ evaluatedAt: new Date(p.atMs).toISOString(), score: p.score })));
    // A key not evaluated yet is there, with no points.
    expect(byKey.get('fresh-0000')).toEqual([]);

    // The same scores one key's own history gives, newest first there.
    const own = (await get('/keys/long-0000/risk?limit=24')).body.items as Array<{ evaluatedAt: string; score: number }>;
    expect(own.map(({ evaluatedAt, score }) => ({ evaluatedAt, score })).reverse()).toEqual(byKey.get('long-0000'));
  });

  it('gives as many points as asked, up to a week of hourly evaluations', async () => {
    const points = async (n: number): Promise<number[]> =>
      ((await get(`/risk-trends?keys=long-0000&points=${n}`)).body as unknown as TrendsReply).trends[0]!.points.map((p) => p.score);
    expect(await points(1)).toEqual([0.199]);
    expect(await points(3)).toEqual([0.197, 0.198, 0.199]);
    const week = await points(168);
    expect(week).toHaveLength(168);
    expect([week[0], week.at(-1)]).toEqual([0.032, 0.199]);
  });

  it('refuses bad input with a problem that names it', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['/risk-trends', 'invalid_request', /querystring must have required property 'keys'/],
      ['/risk-trends?keys=', 'invalid_request', /querystring\/keys must NOT have fewer than 1 characters/],
      ['/risk-trends?keys=long-0000&points=0', 'invalid_request', /querystring\/points must be >= 1/],
      ['/risk-trends?keys=long-0000&points=169', 'invalid_request', /querystring\/points must be <= 168/],
      ['/risk-trends?keys=long-0000&points=many', 'invalid_request', /querystring\/points must be integer/],
      ['/risk-trends?keys=long-0000&limit=5', 'invalid_request', /querystring must NOT have additional properties/],
      ['/risk-trends?keys=long-0000,Long-0000', 'invalid_key_list', /^keys: 'Long-0000' is not a key name/],
      ['/risk-trends?keys=long-0000,,short-0000', 'invalid_key_list', /^keys: entry 2 is empty$/],
      ['/risk-trends?keys=long-0000,short-0000,long-0000', 'invalid_key_list', /^keys: 'long-0000' is named more than once$/],
      [`/risk-trends?keys=${Array.from({ length: 101 }, (_, i) => `k${i}`).join(',')}`, 'invalid_key_list', /^keys: 101 names, at most 100 a request$/],
      [`/risk-trends?keys=${'k'.repeat(6500)}`, 'invalid_request', /querystring\/keys must NOT have more than 6499 characters/],
    ];
    for (const [url, code, detail] of cases) {
      const reply = await get(url);
      expect({ url: url.slice(0, 80), status: reply.status, type: reply.type }).toEqual({ url: url.slice(0, 80), status: 400, type: expect.stringMatching(/^application\/problem\+json/) });
      expect({ url: url.slice(0, 80), code: reply.body.code }).toEqual({ url: url.slice(0, 80), code });
      expect(reply.body.detail).toMatch(detail);
    }
    // A hundred names, some of them keys, is the most one request may ask.
    const hundred = ['long-0000', ...Array.from({ length: 99 }, (_, i) => `absent-${i}`)];
    const most = (await get(`/risk-trends?keys=${hundred.join(',')}&points=2`)).body as unknown as TrendsReply;
    expect(most.trends.map((trend) => [trend.key, trend.points.length])).toEqual([['long-0000', 2]]);
    expect(most.unknown).toHaveLength(99);
  });

  it('needs a token', async () => {
    const reply = await get('/risk-trends?keys=long-0000', null);
    expect(reply.status).toBe(401);
    expect(reply.body.code).toBe('unauthenticated');
  });

  it('leaves GET /keys/:name to a key named risk-trends, and is in the OpenAPI document', async () => {
    // `risk-trends` is a valid key name: a route at /keys/risk-trends would have hidden this key.
    const created = await system.app.inject({ method: 'POST', url: '/keys', headers: { authorization: `Bearer ${operator}` }, payload: { name: 'risk-trends', type: 'ec-p256' } });
    expect(created.statusCode).toBe(202);
    const key = await get('/keys/risk-trends');
    expect({ status: key.status, name: key.body.name }).toEqual({ status: 200, name: 'risk-trends' });
    expect(((await get('/risk-trends?keys=risk-trends')).body as unknown as TrendsReply).trends.map((trend) => trend.key)).toEqual(['risk-trends']);

    const doc = (await system.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, { get?: { parameters?: Array<{ name: string; in: string; required?: boolean }>; responses: Record<string, unknown> } }>;
    }>();
    const route = doc.paths['/risk-trends']?.get;
    expect(route?.parameters?.map((p) => [p.name, p.in, p.required ?? false])).toEqual([['keys', 'query', true], ['points', 'query', false]]);
    expect(Object.keys(route?.responses ?? {})).toEqual(expect.arrayContaining(['200', '400', '401', '403']));
  });
});
