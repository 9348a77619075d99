import { createServer, type IncomingMessage, type Server } from 'node:http';
import { raiseAlert } from '../../adapters/postgres/alert-repository';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookSignature } from '../../adapters/webhooks/signed-post';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { startTestSystem, testConfig, tokenFor } from '../support/system';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  status: number;
}


/** A webhook receiver that refuses the first delivery of each event, as a flaky sink would. */
function flakySink(): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  const seen = new Set<string>();
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      const parsed = JSON.parse(body) as { event: string; alert: { id: string } };
      const key = `${parsed.event}:${parsed.alert.id}`;
      response.statusCode = seen.has(key) ? 204 : 500;
      seen.add(key);
      received.push({ headers: request.headers, body, status: response.statusCode });
      response.end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`, received });
    });
  });
}

describe('alerts', () => {
  let system: RunningSystem;
  let sink: Awaited<ReturnType<typeof flakySink>>;
  const secret = 'webhook-secret-for-tests-0123456789';

  beforeAll(async () => {
    sink = await flakySink();
    process.env.KEYROTOR_TEST_SINK_SECRET = secret;
    // The sink runs on this machine: admitted on purpose, as an operator would an internal receiver.
    const config = await testConfig({ env: { KEYROTOR_WEBHOOK_ALLOW: '127.0.0.1' } });
    system = await startTestSystem({ ...config, alerts: { webhooks: [{ id: 'ops', url: sink.url, secret: { env: 'KEYROTOR_TEST_SINK_SECRET' } }] } });
  });

  afterAll(async () => {
    await system?.stop();
    sink?.server.close();
  });

  it('folds repeats of an open alert into one, lists it, and opens a new one after acknowledgement', async () => {
    const input = { dedupKey: 'entropy:n1:rct', severity: 'critical' as const, source: 'entropy', subject: 'node/n1', message: 'stuck source' };
    const first = await raiseAlert(system.db, input, []);
    const second = await raiseAlert(system.db, { ...input, message: 'stuck source (again)' }, []);
    expect(first.isNew).toBe(true);
    expect(second.isNew).toBe(false);
    expect(second.alert).toMatchObject({ id: first.alert.id, count: 2, message: 'stuck source (again)' });

    const auditor = await tokenFor(system, 'auditor');
    const operator = await tokenFor(system, 'operator');
    const listed = await system.app.inject({ method: 'GET', url: '/alerts?state=open&source=entropy', headers: { authorization: `Bearer ${auditor}` } });
    expect(listed.json()).toMatchObject({ total: 1, alerts: [{ id: first.alert.id, count: 2, acknowledgedAt: null }] });

    const byAuditor = await system.app.inject({ method: 'POST', url: `/alerts/${first.alert.id}/ack`, headers: { authorization: `Bearer ${auditor}` } });
    expect(byAuditor.statusCode).toBe(403);
    const acked = await system.app.inject({ method: 'POST', url: `/alerts/${first.alert.id}/ack`, headers: { authorization: `Bearer ${operator}` } });
    expect(acked.json()).toMatchObject({ id: first.alert.id, acknowledgedBy: expect.stringContaining('test operator') });
    const unknown = await system.app.inject({ method: 'POST', url: '/alerts/00000000-0000-4000-8000-000000000000/ack', headers: { authorization: `Bearer ${operator}` } });
    expect(unknown.statusCode).toBe(404);

    const third = await raiseAlert(system.db, input, []);
    expect(third.isNew).toBe(true);
    expect(third.alert.id).not.toBe(first.alert.id);
  });

  it('delivers a new alert to the webhook sink, signed, retrying after a failure, without the caller waiting', async () => {
    const { alert } = await raiseAlert(system.db, { dedupKey: 'hsm:n2:down', severity: 'warning', source: 'health', subject: 'node/n2', message: 'node n2 is down' }, ['ops']);
    const forAlert = (): Received[] => sink.received.filter((request) => request.body.includes(alert.id) && request.body.includes('"alert.raised"'));
    // The system's own dispatcher delivers it; the first attempt fails and the retry comes after a 2 s back-off.
    const delivered = await eventually(() => forAlert().find((request) => request.status === 204), 'the retried delivery', 15_000);
    expect(forAlert().map((request) => request.status)).toEqual([500, 204]);

    const timestamp = delivered.headers[TIMESTAMP_HEADER] as string;
    expect(delivered.headers[SIGNATURE_HEADER]).toBe(webhookSignature(secret, timestamp, delivered.body));
    expect(webhookSignature('another-secret', timestamp, delivered.body)).not.toBe(delivered.headers[SIGNATURE_HEADER]);
    expect(JSON.parse(delivered.body)).toMatchObject({ event: 'alert.raised', alert: { id: alert.id, message: 'node n2 is down' } });
    // The outcome is recorded just after the sink answers.
    let recorded: unknown[] = [];
    for (let i = 0; i < 50 && recorded.length === 0; i += 1) {
      const { rows } = await system.db.query<{ attempts: number; delivered_at: Date | null; last_error: string | null }>(
        "SELECT attempts, delivered_at, last_error FROM alert_deliveries WHERE alert_id = $1 AND event = 'alert.raised' AND delivered_at IS NOT NULL", [alert.id]);
      recorded = rows;
      if (rows.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(recorded).toEqual([{ attempts: 2, delivered_at: expect.any(Date), last_error: null }]);
  });

  it('delivers acknowledgements too', async () => {
    const acked = await eventually(() => sink.received.find((request) => request.status === 204 && request.body.includes('"alert.acknowledged"')), 'the acknowledgement delivery', 15_000);
    expect(JSON.parse(acked.body)).toMatchObject({ event: 'alert.acknowledged', alert: { acknowledgedBy: expect.stringContaining('test operator') } });
  });
});
