import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiRefusedError, ApiUnavailableError, callApi } from '../../../cli/api-client';

/** A stand-in API on a free port that answers each request with the next of `replies` and records what it was sent. */
async function scriptedApi(replies: Array<{ status: number; body: unknown }>): Promise<{ url: string; seen: IncomingHttpHeaders[]; server: Server }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((request, response) => {
    seen.push(request.headers);
    const reply = replies.shift() ?? { status: 500, body: { status: 500, code: 'internal_error' } };
    response.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
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
