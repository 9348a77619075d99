import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiRefusedError, ApiUnavailableError, callApi, retryAfterMs } from '../../../cli/api-client';

/** A stand-in API on a free port that answers each request with the next of `replies` and records what it was sent. */
async function scriptedApi(replies: Array<{ status: number; body: unknown; headers?: Record<string, string> }>): Promise<{ url: string; seen: IncomingHttpHeaders[]; at: number[]; server: Server }> {
  const seen: IncomingHttpHeaders[] = [];
  const at: number[] = [];
  const server = createServer((request, response) => {
    seen.push(request.headers);
    at.push(Date.now());
    const reply = replies.shift() ?? { status: 500, body: { status: 500, code: 'internal_error' } };
    response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(JSON.stringify(reply.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, at, server };
}

describe('the CLI\'s API client', () => {
  const servers: Server[] = [];
  afterAll(() => {
    for (const server of servers) server.close();
  });

  it('sends a rotation again with the same Idempotency-Key while the API fails or is still answering it, and gives the answer', async () => {
    const api = await scriptedApi([
      { status: 503, body: { status: 503, code: 'temporal_unavailable', detail: 'down' } },
      { status: 409, body: { status: 409, code: 'idempotency_key_in_progress', detail: 'busy' } },
      { status: 200, body: { version: 2 } },
    ]);
    servers.push(api.server);
    const env = { KEYROTOR_API: api.url, KEYROTOR_TOKEN: 'kr_test' };
    await expect(callApi({ method: 'POST', path: '/keys/k/rotate', body: { reason: 'r' }, idempotencyKey: 'key-1' }, env)).resolves.toEqual({ version: 2 });
    expect(api.seen.map((headers) => headers['idempotency-key'])).toEqual(['key-1', 'key-1', 'key-1']);
  }, 30_000);

  // The API answers 503 update_outcome_unknown with Retry-After when a rotation's outcome is not known yet: the CLI waits
  // that long (not its own 1 s) before it asks again under the same key, so that the API is not asked while it cannot
  // know more. Waiting can only make the gap longer, never shorter, whatever the load.
  it('waits as long as Retry-After asks before sending a rotation again', async () => {
    const api = await scriptedApi([
      { status: 503, body: { status: 503, code: 'update_outcome_unknown', detail: 'not known yet' }, headers: { 'retry-after': '3' } },
      { status: 200, body: { version: 2 } },
    ]);
    servers.push(api.server);
    const env = { KEYROTOR_API: api.url, KEYROTOR_TOKEN: 'kr_test' };
    await expect(callApi({ method: 'POST', path: '/keys/k/rotate', body: { reason: 'r' }, idempotencyKey: 'key-3' }, env)).resolves.toEqual({ version: 2 });
    expect(api.seen.map((headers) => headers['idempotency-key'])).toEqual(['key-3', 'key-3']);
    expect(api.at[1]! - api.at[0]!).toBeGreaterThanOrEqual(3_000);
  }, 30_000);

  it('says, when every try failed, that the request was sent under its key and may still take effect', async () => {
    const failed = { status: 503, body: { status: 503, code: 'update_outcome_unknown', detail: 'not known yet' } };
    const api = await scriptedApi([failed, failed, failed, failed, failed]);
    servers.push(api.server);
    const env = { KEYROTOR_API: api.url, KEYROTOR_TOKEN: 'kr_test' };
    const error = await callApi({ method: 'POST', path: '/keys/k/rotate', body: { reason: 'r' }, idempotencyKey: 'key-4' }, env).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiUnavailableError);
    expect((error as Error).message).toMatch(/update_outcome_unknown.*POST \/keys\/k\/rotate was sent 5 times under Idempotency-Key key-4 and may still take effect/);
    expect((error as Error).message).not.toMatch(/try again/);
    expect(api.seen).toHaveLength(5);
  }, 60_000);

  it('reads Retry-After as seconds or as a date', () => {
    const now = Date.parse('2026-12-07T12:00:00Z');
    expect(retryAfterMs('10', now)).toBe(10_000);
    expect(retryAfterMs('Mon, 07 Dec 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Mon, 07 Dec 2026 11:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });

  it('does not send again a request without a key, nor a refusal', async () => {
    const api = await scriptedApi([
      { status: 503, body: { status: 503, code: 'temporal_unavailable', detail: 'down' } },
      { status: 409, body: { status: 409, code: 'grace_period_running', detail: 'grace' } },
    ]);
    servers.push(api.server);
    const env = { KEYROTOR_API: api.url, KEYROTOR_TOKEN: 'kr_test' };
    await expect(callApi({ method: 'POST', path: '/keys/k/rotate', body: { reason: 'r' } }, env)).rejects.toBeInstanceOf(ApiUnavailableError);
    await expect(callApi({ method: 'POST', path: '/keys/k/rotate', body: { reason: 'r' }, idempotencyKey: 'key-2' }, env)).rejects.toBeInstanceOf(ApiRefusedError);
    expect(api.seen.map((headers) => headers['idempotency-key'])).toEqual([undefined, 'key-2']);
  });
});
