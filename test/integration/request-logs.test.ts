import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp, loggerOptions } from '../../api/app';
import { redactedUrl } from '../../api/request-log';
import type { RunningSystem } from '../../workers/system';
import { startTestSystem, tokenFor } from '../support/system';

describe('request logs without secrets', () => {
  let system: RunningSystem;
  let app: FastifyInstance;
  let operator: string;
  const lines: string[] = [];

  beforeAll(async () => {
    system = await startTestSystem();
    operator = await tokenFor(system, 'operator');
    // The API exactly as it logs in production, into a buffer.
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    app = await buildApp({ config: system.config, db: system.db, temporal: system.client }, { logger: { ...loggerOptions, level: 'info', stream } });
  });

  afterAll(async () => {
    await app?.close();
    await system?.stop();
  });

  it('logs the path and the names of the query, never its values, the Authorization header or a webhook secret', async () => {
    const secrets = ['SECRET-in-the-query-0001', 'SECRET-in-the-query-0002', 'SECRET-in-the-query-0003', 'SECRET-in-the-query-0004'];
    const headers = { authorization: `Bearer ${operator}` };
    // Answered or refused (an unknown query parameter), the request is logged either way.
    await app.inject({ method: 'GET', url: `/keys?token=${secrets[0]}&limit=5`, headers });
    expect((await app.inject({ method: 'GET', url: `/keys?access_token=${secrets[1]}`, headers: { authorization: 'Bearer kr_not-a-token-but-still-secret' } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: `/no-such-route?api_key=${secrets[2]}` })).statusCode).toBe(404);
    const subscribed = await app.inject({ method: 'POST', url: `/subscriptions?sig=${secrets[3]}`, headers, payload: { url: 'https://93.184.216.34/hooks' } });
    expect(subscribed.statusCode).toBe(201);
    const webhookSecret = subscribed.json<{ secret: string }>().secret;
    expect((await app.inject({ method: 'DELETE', url: `/subscriptions/${subscribed.json<{ subscription: { id: string } }>().subscription.id}`, headers })).statusCode).toBe(204);

    const output = lines.join('');
    // The log is not empty: every request is there, with its path and the names of its query.
    const urls = lines.map((line) => JSON.parse(line) as { msg: string; req?: { url: string } }).filter((line) => line.msg === 'incoming request').map((line) => line.req?.url);
    expect(urls).toEqual([
      '/keys?token=[redacted]&limit=[redacted]',
      '/keys?access_token=[redacted]',
      '/no-such-route?api_key=[redacted]',
      '/subscriptions?sig=[redacted]',
      expect.stringMatching(/^\/subscriptions\/[0-9a-f-]{36}$/),
    ]);
    for (const secret of [...secrets, operator, 'kr_not-a-token-but-still-secret', webhookSecret]) expect(output).not.toContain(secret);
  });

  it('redacts every value of a query, including repeated names, empty values and names without values', () => {
    expect(redactedUrl('/keys')).toBe('/keys');
    expect(redactedUrl('/keys?')).toBe('/keys?');
    expect(redactedUrl('/a?x=1&x=2&flag&empty=&=orphan')).toBe('/a?x=[redacted]&x=[redacted]&flag=[redacted]&empty=[redacted]&=[redacted]');
    expect(redactedUrl('/a?next=%2Fb%3Ftoken%3Dsecret')).toBe('/a?next=[redacted]');
  });
});
