import type { RunningSystem } from '../../workers/system';
import { startTestSystem, tokenFor } from '../support/system';

describe('API conventions', () => {
  let system: RunningSystem;
  let admin: string;

  beforeAll(async () => {
    system = await startTestSystem();
    admin = await tokenFor(system, 'admin');
  });

  afterAll(async () => {
    await system?.stop();
  });

  it('publishes an OpenAPI document with every route and Swagger UI', async () => {
    const doc = (await system.app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/health', '/metrics', '/audit', '/audit/verify', '/alerts', '/alerts/{id}/ack', '/tokens', '/tokens/{id}']));
    const ui = await system.app.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('swagger');
  });

  it('answers problem+json for a missing token, an unknown token and an unknown route', async () => {
    const missing = await system.app.inject({ method: 'GET', url: '/alerts' });
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(missing.json()).toMatchObject({ status: 401, code: 'unauthenticated', type: 'urn:keyrotor:problem:unauthenticated' });
    const unknown = await system.app.inject({ method: 'GET', url: '/alerts', headers: { authorization: 'Bearer kr_not-a-real-token' } });
    expect(unknown.json()).toMatchObject({ status: 401, detail: 'the API token is unknown or revoked' });
    const route = await system.app.inject({ method: 'GET', url: '/nowhere' });
    expect(route.json()).toMatchObject({ status: 404, code: 'route_not_found' });
  });

  it('names each invalid field of a bad request', async () => {
    const reply = await system.app.inject({
      method: 'POST', url: '/tokens', headers: { authorization: `Bearer ${admin}` }, payload: { name: '', role: 'root', extra: 1 },
    });
    expect(reply.statusCode).toBe(400);
    const body = reply.json<{ code: string; errors: Array<{ path: string }> }>();
    expect(body.code).toBe('invalid_request');
    expect(body.errors.map((error) => error.path)).toEqual(expect.arrayContaining(['body/name', 'body/role']));
  });

  it('creates a token whose value is shown once, stores only its hash, and revokes it', async () => {
    const created = await system.app.inject({ method: 'POST', url: '/tokens', headers: { authorization: `Bearer ${admin}` }, payload: { name: 'ci bot', role: 'auditor' } });
    expect(created.statusCode).toBe(201);
    const { token, info } = created.json<{ token: string; info: { id: string; role: string } }>();
    expect(token).toMatch(/^kr_[A-Za-z0-9_-]{43}$/);
    const stored = await system.db.query<{ token_hash: string }>('SELECT token_hash FROM api_tokens WHERE id = $1', [info.id]);
    expect(stored.rows[0]?.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.rows[0]?.token_hash).not.toContain(token);
    const listed = await system.app.inject({ method: 'GET', url: '/tokens', headers: { authorization: `Bearer ${admin}` } });
    expect(listed.body).not.toContain(token);
    const asAuditor = await system.app.inject({ method: 'GET', url: '/audit/verify', headers: { authorization: `Bearer ${token}` } });
    expect(asAuditor.statusCode).toBe(200);
    const revoked = await system.app.inject({ method: 'DELETE', url: `/tokens/${info.id}`, headers: { authorization: `Bearer ${admin}` } });
    expect(revoked.json()).toMatchObject({ id: info.id, revokedAt: expect.any(String) });
    const after = await system.app.inject({ method: 'GET', url: '/audit/verify', headers: { authorization: `Bearer ${token}` } });
    expect(after.statusCode).toBe(401);
  });

  it('exposes Prometheus metrics of its own requests', async () => {
    await system.app.inject({ method: 'GET', url: '/openapi.json' });
    const metrics = await system.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.body).toMatch(/keyrotor_api_request_duration_seconds_count\{method="GET",route="\/openapi.json",status="200"\} \d+/);
    expect(metrics.body).toContain('keyrotor_api_process_cpu_seconds_total');
    // Update calls made again after Temporal ended them without the outcome: none here, but the counter is there to watch.
    expect(metrics.body).toContain('# TYPE keyrotor_api_update_calls_retried_total counter');
  });
});
