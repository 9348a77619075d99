import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { createKeyControlActivities } from '../../activities/key-control-activities';
import { raiseAlert } from '../../adapters/postgres/alert-repository';
import { createSubscription } from '../../adapters/postgres/subscription-repository';
import { AlertDispatcher } from '../../adapters/webhooks/alert-dispatcher';
import { postSignedJson } from '../../adapters/webhooks/signed-post';
import type { HostResolver } from '../../adapters/webhooks/target-guard';
import { parseAllowedTarget, type AllowedTarget } from '../../domain/webhook-target';
import type { RunningSystem } from '../../workers/system';
import { startTestSystem, superuserDatabase, testConfig, tokenFor } from '../support/system';

/** A receiver on this machine that records what reaches it. */
async function receiver(): Promise<{ server: Server; port: number; received: Array<{ url: string; host: string | undefined; headers: IncomingMessage['headers'] }> }> {
  const received: Array<{ url: string; host: string | undefined; headers: IncomingMessage['headers'] }> = [];
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received.push({ url: request.url ?? '', host: request.headers.host, headers: request.headers });
      response.statusCode = 204;
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, received };
}

/** DNS as an attacker who controls a name's zone answers it: whatever address it likes, different at each lookup. */
function resolverAnswering(...answers: string[][]): HostResolver & { lookups: string[] } {
  const lookups: string[] = [];
  let next = 0;
  const resolve = (host: string): Promise<string[]> => {
    lookups.push(host);
    const answer = answers[Math.min(next, answers.length - 1)] as string[];
    next += 1;
    return Promise.resolve(answer);
  };
  return Object.assign(resolve, { lookups });
}

const allow = (...entries: string[]): AllowedTarget[] => entries.map((entry) => parseAllowedTarget(entry) as AllowedTarget);

describe('webhooks that cannot reach inside', () => {
  let system: RunningSystem;
  let operator: string;
  let sink: Awaited<ReturnType<typeof receiver>>;

  beforeAll(async () => {
    sink = await receiver();
    // No allowlist: the defaults.
    system = await startTestSystem(await testConfig());
    operator = await tokenFor(system, 'operator');
  });

  afterAll(async () => {
    await system?.stop();
    sink?.server.close();
  });

  const subscribe = async (url: string) => {
    const reply = await system.app.inject({ method: 'POST', url: '/subscriptions', headers: { authorization: `Bearer ${operator}` }, payload: { url } });
    return { status: reply.statusCode, contentType: reply.headers['content-type'], body: reply.json<{ code?: string; detail?: string; subscription?: { id: string }; secret?: string }>() };
  };
  const subscriptionCount = async (): Promise<number> => Number((await system.db.query<{ n: string }>('SELECT count(*) AS n FROM webhook_subscriptions')).rows[0]?.n);

  it('refuses subscriptions to loopback, private, link-local, metadata and other internal addresses with a 400 that says why', async () => {
    const before = await subscriptionCount();
    const cases: Array<[string, RegExp]> = [
      ['http://127.0.0.1:54329/', /127\.0\.0\.1 is a loopback address/],
      ['http://127.0.0.1:7233/', /127\.0\.0\.1 is a loopback address/],
      [`http://127.0.0.1:${sink.port}/hook`, /loopback/],
      ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is the cloud metadata address/],
      ['http://[fd00:ec2::254]/', /the cloud metadata address/],
      ['http://[::1]:8080/', /::1 is the loopback address/],
      ['http://[::ffff:127.0.0.1]:5432/', /IPv4-mapped IPv6 form of 127\.0\.0\.1/],
      ['http://0.0.0.0:7233/', /unspecified/],
      ['http://10.0.0.8/hook', /private address/],
      ['http://192.168.1.20/hook', /private address/],
      ['http://100.64.1.1/hook', /carrier-grade NAT/],
      ['http://[fe80::1]/', /link-local/],
      ['http://2130706433:5432/', /127\.0\.0\.1 is a loopback address/],
      ['http://localhost:5432/', /localhost is a loopback name/],
      ['https://user:secret@hooks.example.com/', /carries credentials/],
    ];
    for (const [url, reason] of cases) {
      const reply = await subscribe(url);
      expect({ url, status: reply.status, contentType: reply.contentType, code: reply.body.code, detail: reply.body.detail }).toEqual({
        url,
        status: 400,
        contentType: expect.stringContaining('application/problem+json'),
        code: 'webhook_target_refused',
        detail: expect.stringMatching(reason),
      });
    }
    // Schemes other than http(s) are refused at the edge by the request schema.
    for (const url of ['ftp://hooks.example.com/', 'file:///etc/passwd', 'gopher://127.0.0.1:70/']) {
      expect(await subscribe(url)).toMatchObject({ status: 400, body: { code: 'invalid_request' } });
    }
    expect(await subscriptionCount()).toBe(before);
    // A public address is accepted (nothing is sent until a key rotates).
    expect((await subscribe('https://93.184.216.34/hooks/keyrotor')).status).toBe(201);
  });

  it('resolves the host at each delivery, refuses when any address is internal, and connects to the address it checked', async () => {
    const url = `http://rebind.test:${sink.port}/hook`;
    // The name answers an internal address: nothing is sent.
    const internal = resolverAnswering(['127.0.0.1']);
    const refused = await postSignedJson(url, 'whsec_test', 'key.rotated', { event: 'key.rotated' }, { allowedTargets: [], resolve: internal });
    expect(refused).toEqual({ ok: false, error: expect.stringMatching(/^refused: rebind\.test resolves to 127\.0\.0\.1 is a loopback address/), refused: expect.stringContaining('loopback') });
    // A public address beside an internal one is no better: the connection could go to either.
    const mixed = await postSignedJson(url, 'whsec_test', 'key.rotated', {}, { allowedTargets: [], resolve: resolverAnswering(['93.184.216.34', '::ffff:127.0.0.1']) });
    expect(mixed).toMatchObject({ ok: false, refused: expect.stringContaining('IPv4-mapped IPv6 form of 127.0.0.1') });
    expect(sink.received).toEqual([]);

    // Allowlisted, the delivery goes to the address the check saw. The name itself resolves nowhere (.test is reserved),
    // so the request can only have reached the receiver through the checked address, with the name as its Host.
    const pinned = resolverAnswering(['127.0.0.1'], ['10.66.66.66']);
    const delivered = await postSignedJson(url, 'whsec_test', 'key.rotated', { event: 'key.rotated' }, { allowedTargets: allow('127.0.0.1'), resolve: pinned });
    expect(delivered).toEqual({ ok: true, status: 204 });
    expect(pinned.lookups).toEqual(['rebind.test']);
    expect(sink.received).toEqual([expect.objectContaining({ url: '/hook', host: `rebind.test:${sink.port}` })]);
  });

  it('raises an alert when a subscription is refused at delivery, and sends nothing', async () => {
    // Subscribed while its name resolved to a public address; now the name resolves inside.
    const { subscription } = await createSubscription(system.db, { url: `http://rebound.test:${sink.port}/hook?token=the-receivers-own-token`, actor: 'test' });
    const before = sink.received.length;
    const activities = createKeyControlActivities({ db: system.db, config: system.config, resolveHost: resolverAnswering(['169.254.169.254']) });
    const failure = await activities.deliverWebhook({ subscriptionId: subscription.id, event: 'key.rotated', payload: { key: 'k' } }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'webhook_target_refused', nonRetryable: false, message: expect.stringContaining('the cloud metadata address') });
    expect(sink.received.length).toBe(before);
    const alerts = await system.app.inject({ method: 'GET', url: '/alerts?source=webhooks', headers: { authorization: `Bearer ${operator}` } });
    expect(alerts.json()).toMatchObject({
      alerts: [{ severity: 'warning', subject: `subscription/${subscription.id}`, message: expect.stringMatching(/rebound\.test resolves to 169\.254\.169\.254 is the cloud metadata address/) }],
    });
    // The alert names the receiver without its query, where a receiver may keep a token of its own.
    expect(alerts.body).toContain(`http://rebound.test:${sink.port}/hook`);
    expect(alerts.body).not.toContain('the-receivers-own-token');
  });

  it('raises a critical alert when an alert sink is refused at delivery, and sends nothing', async () => {
    process.env.KEYROTOR_TEST_REFUSED_SINK_SECRET = 'sink-secret-0123456789abcdef';
    const before = sink.received.length;
    const sinks = [{ id: 'ops', url: `http://ops-hooks.test:${sink.port}/alerts`, secret: { env: 'KEYROTOR_TEST_REFUSED_SINK_SECRET' } }];
    const dispatcher = new AlertDispatcher(system.db, sinks, { allowedTargets: [], resolve: resolverAnswering(['10.1.2.3']) }, () => undefined);
    await raiseAlert(system.db, { dedupKey: 'test:refused-sink', severity: 'warning', source: 'test', subject: 'test', message: 'for the sink' }, ['ops']);
    expect(await dispatcher.deliverDue()).toBeGreaterThan(0);
    expect(sink.received.length).toBe(before);
    const { rows } = await system.db.query<{ last_error: string }>("SELECT last_error FROM alert_deliveries WHERE sink_id = 'ops' AND last_error IS NOT NULL");
    expect(rows[0]?.last_error).toMatch(/^refused: ops-hooks\.test resolves to 10\.1\.2\.3 is a private address/);
    const alerts = await system.app.inject({ method: 'GET', url: '/alerts?source=webhooks', headers: { authorization: `Bearer ${operator}` } });
    expect(alerts.json<{ alerts: unknown[] }>().alerts).toContainEqual(expect.objectContaining({ severity: 'critical', subject: 'alert-sink/ops', message: expect.stringContaining('alert webhook ops') }));
  });

  it('erases the signing secret of a deleted subscription', async () => {
    const created = await subscribe('https://93.184.216.34/erase-me');
    const id = created.body.subscription?.id as string;
    const secret = created.body.secret as string;
    const superuser = superuserDatabase(system.config);
    try {
      const stored = async () => (await superuser.query<{ secret: string | null; deleted_at: Date | null }>('SELECT secret, deleted_at FROM webhook_subscriptions WHERE id = $1', [id])).rows[0];
      expect(await stored()).toEqual({ secret, deleted_at: null });
      const deleted = await system.app.inject({ method: 'DELETE', url: `/subscriptions/${id}`, headers: { authorization: `Bearer ${operator}` } });
      expect(deleted.statusCode).toBe(204);
      expect(await stored()).toEqual({ secret: null, deleted_at: expect.any(Date) });
      // Nothing anywhere in the table holds it any more, and the database refuses a deleted row that keeps one.
      expect((await superuser.query('SELECT 1 FROM webhook_subscriptions t WHERE t::text LIKE $1', [`%${secret}%`])).rowCount).toBe(0);
      await expect(superuser.query('UPDATE webhook_subscriptions SET secret = $2 WHERE id = $1', [id, secret])).rejects.toMatchObject({ code: 'db_23514' });
    } finally {
      await superuser.close();
    }
  });
});
