import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import { threatsForKey } from '../../adapters/postgres/threat-intel-repository';
import { ensureThreatFeedSchedule } from '../../adapters/temporal/schedules';
import type { FeedPullResult } from '../../activities/threat-intel-activities';
import { THREAT_FEED_SCHEDULE_ID, deploymentScheduleId, keyWorkflowId } from '../../domain/identifiers';
import { computeRisk } from '../../domain/prediction/risk';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { startTestSystem, testConfig, tokenFor, uniqueName } from '../support/system';

interface Indicator {
  id: string;
  severity: number;
  severityLevel: string | null;
  scope: string;
  target: string | null;
  expiresAt: string;
  source: string;
  live: boolean;
  updatedBy: string;
}
interface FeedPull {
  ok: boolean;
  received: number;
  created: number;
  updated: number;
  unchanged: number;
  error: string | null;
}

const inDays = (days: number): string => new Date(Date.now() + days * 86_400_000).toISOString();

describe('threat intelligence', () => {
  let system: RunningSystem;
  let operator: string;
  let auditor: string;
  // The feed: a real HTTP server on loopback whose answer each test sets.
  let feed: Server;
  let feedAnswer: (request: IncomingMessage) => { status: number; body: string };
  const feedRequests: IncomingMessage[] = [];
  const feedToken = `feed-${uniqueName('')}-secret-token`;
  // A key with a running lifecycle workflow that evaluates itself only twice a day, unless something wakes it.
  const watchedKey = uniqueName('feed-watched-');
  const tokenVariable = 'KEYROTOR_TEST_THREAT_FEED_TOKEN';

  beforeAll(async () => {
    feedAnswer = () => ({ status: 503, body: '' });
    feed = createServer((request, response) => {
      feedRequests.push(request);
      const answer = request.headers.authorization === `Bearer ${feedToken}` ? feedAnswer(request) : { status: 401, body: '{"error": "who are you"}' };
      response.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
    await new Promise<void>((resolve) => feed.listen(0, '127.0.0.1', resolve));
    process.env[tokenVariable] = feedToken;
    const base = await testConfig({ env: { KEYROTOR_THREAT_FEED_URL: `http://127.0.0.1:${(feed.address() as AddressInfo).port}/indicators.json?tenant=kr` } });
    system = await startTestSystem({ ...base, threatIntel: { ...base.threatIntel, feedToken: { env: tokenVariable } } });
    operator = await tokenFor(system, 'operator');
    auditor = await tokenFor(system, 'auditor');
  });

  afterAll(async () => {
    // The Temporal server is shared by the test files of this run: leave no schedule and no key workflow behind.
    await system?.client.schedule.getHandle(deploymentScheduleId(THREAT_FEED_SCHEDULE_ID, system.config.temporal.controlTaskQueue)).delete().catch(() => undefined);
    await system?.client.workflow.getHandle(keyWorkflowId(watchedKey)).terminate('test file finished').catch(() => undefined);
    await system?.stop();
    await new Promise((resolve) => feed?.close(resolve));
    delete process.env[tokenVariable];
  });

  const api = async (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown, token = operator) => {
    const reply = await system.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
    return { status: reply.statusCode, body: reply.body === '' ? {} : reply.json<Record<string, unknown>>() };
  };
  const list = async (query = ''): Promise<{ indicators: Indicator[]; total: number; feed: { configured: boolean; lastPull: FeedPull | null } }> => {
    const reply = await api('GET', `/threat-intel${query}`, undefined, auditor);
    expect(reply.status).toBe(200);
    return reply.body as never;
  };
  const stored = async (): Promise<number> => Number((await system.db.query<{ n: string }>('SELECT count(*) AS n FROM threat_indicators')).rows[0]?.n);
  const auditOf = async (action: string): Promise<Array<{ actor: string; details: Record<string, unknown> }>> =>
    (await api('GET', `/audit?subject=threat-intel&action=${action}`, undefined, auditor)).body.entries as never;

  it('refuses a bad batch whole, naming each bad row, and upserts a good one, saying what it created and updated', async () => {
    const payments = { id: 'vendor-2026-001', severity: 'high', scope: 'key', target: 'payments', expiresAt: inDays(7), source: 'vendor-x' };
    const refused = await api('POST', '/threat-intel', [payments, { ...payments, id: 'bad one', scope: 'app' }, { ...payments, id: 'no-zone', expiresAt: '2026-07-01T00:00:00' }]);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({
      code: 'invalid_threat_indicators',
      errors: [
        { path: 'body/1', message: expect.stringContaining('id must be') },
        { path: 'body/2', message: expect.stringContaining('expiresAt must be an ISO 8601 time with its zone') },
      ],
    });
    expect(await stored()).toBe(0);

    const checkout = { id: 'isac-77', severity: 0.4, scope: 'app', target: 'checkout', expiresAt: inDays(3), source: 'isac' };
    expect((await api('POST', '/threat-intel', { indicators: [payments, checkout] })).body).toEqual({ created: 2, updated: 0, unchanged: 0 });
    expect((await api('POST', '/threat-intel', [payments, { ...checkout, severity: 'critical' }])).body).toEqual({ created: 0, updated: 1, unchanged: 1 });
    const { indicators } = await list();
    expect(indicators.find((i) => i.id === 'isac-77')).toMatchObject({ severity: 1, severityLevel: 'critical', live: true });
    expect(indicators.find((i) => i.id === 'vendor-2026-001')).toMatchObject({ severity: 0.8, severityLevel: 'high', scope: 'key', target: 'payments', source: 'vendor-x' });

    const audited = await auditOf('threat-intel.upserted');
    expect(audited).toHaveLength(2);
    expect(audited[0]).toMatchObject({ actor: expect.stringContaining('token:test operator'), details: { created: [{ id: 'vendor-2026-001' }, { id: 'isac-77' }], updated: [] } });
    expect(audited[1]).toMatchObject({ details: { created: [], updated: [{ id: 'isac-77', severity: 1, severityLevel: 'critical' }] } });
  });

  it('lets operators post and withdraw, and auditors read', async () => {
    expect((await api('GET', '/threat-intel', undefined, operator)).status).toBe(403);
    expect((await api('POST', '/threat-intel', [{ id: 'x', severity: 1, scope: 'all', expiresAt: inDays(1), source: 's' }], auditor)).status).toBe(403);
    expect((await api('DELETE', '/threat-intel/isac-77', undefined, auditor)).status).toBe(403);
  });

  it('lists live indicators by default, expired ones on request, filtered by scope and target; a withdrawn one is gone and audited', async () => {
    expect((await api('POST', '/threat-intel', [
      { id: 'old-campaign', severity: 'medium', scope: 'key', target: 'payments', expiresAt: inDays(-1), source: 'vendor-x' },
      { id: 'sector-alert', severity: 'low', scope: 'all', expiresAt: inDays(30), source: 'isac' },
    ])).body).toEqual({ created: 2, updated: 0, unchanged: 0 });

    expect((await list()).indicators.map((i) => i.id).sort()).toEqual(['isac-77', 'sector-alert', 'vendor-2026-001']);
    const everything = await list('?include=expired');
    expect(everything.total).toBe(4);
    expect(everything.indicators.find((i) => i.id === 'old-campaign')).toMatchObject({ live: false });
    expect((await list('?include=expired&scope=key&target=payments')).indicators.map((i) => i.id).sort()).toEqual(['old-campaign', 'vendor-2026-001']);
    expect((await list('?scope=all')).indicators).toEqual([expect.objectContaining({ id: 'sector-alert', target: null, severity: 0.2 })]);

    expect((await api('DELETE', '/threat-intel/sector-alert')).status).toBe(204);
    expect((await api('DELETE', '/threat-intel/sector-alert')).status).toBe(404);
    expect((await list('?include=expired')).total).toBe(3);
    expect(await auditOf('threat-intel.deleted')).toEqual([expect.objectContaining({ details: expect.objectContaining({ id: 'sector-alert', scope: 'all', severityLevel: 'low' }) })]);
  });

  it('gives the risk evaluation the live indicators that apply to a key and the number of expired ones', async () => {
    await api('POST', '/threat-intel', [
      { id: 'everyone', severity: 0.1, scope: 'all', expiresAt: inDays(1), source: 'isac' },
      { id: 'other-key', severity: 1, scope: 'key', target: 'billing', expiresAt: inDays(1), source: 'vendor-x' },
      { id: 'other-app', severity: 1, scope: 'app', target: 'reports', expiresAt: inDays(1), source: 'vendor-x' },
      { id: 'old-everyone', severity: 1, scope: 'all', expiresAt: inDays(-2), source: 'isac' },
    ]);
    const now = new Date();
    const threats = await threatsForKey(system.db, { key: 'payments', apps: ['checkout', 'gateway'], now });
    expect(threats.live.map(({ id, severity, scope, target, source }) => ({ id, severity, scope, target, source }))).toEqual([
      { id: 'isac-77', severity: 1, scope: 'app', target: 'checkout', source: 'isac' },
      { id: 'vendor-2026-001', severity: 0.8, scope: 'key', target: 'payments', source: 'vendor-x' },
      { id: 'everyone', severity: 0.1, scope: 'all', target: '*', source: 'isac' },
    ]);
    expect(threats.expired).toBe(2);
    expect((await threatsForKey(system.db, { key: 'billing', apps: [], now })).live.map((t) => t.id)).toEqual(['other-key', 'everyone']);

    // The shape is the risk score's own: the live indicators drive its threat component for this key.
    const risk = computeRisk({
      nowMs: now.getTime(),
      key: { id: 'payments', appIds: ['checkout'], sensitivity: 'internal' },
      version: { createdAtMs: now.getTime(), usedCount: 0 },
      policy: { maxAgeMs: 90 * 86_400_000, capacityLimit: null },
      forecast: { cumulative: 0, cumulativeUpper: 0, horizon: 24, modelVersion: null, method: 'baseline-only' },
      anomaly: { score: 0, flagged: [] },
      threats: threats.live,
    });
    expect(risk.components.find((c) => c.name === 'threat')?.value).toBe(1);
  });

  it('pulls the configured feed on its schedule with the bearer token, validates it whole, upserts it and records the pull', async () => {
    feedAnswer = () => ({
      status: 200,
      body: JSON.stringify({
        generatedAt: new Date().toISOString(),
        indicators: [
          { id: 'feed-1', severity: 'critical', scope: 'key', target: 'payments', expiresAt: inDays(2), source: 'feed' },
          { id: 'isac-77', severity: 0.3, scope: 'app', target: 'checkout', expiresAt: inDays(2), source: 'feed' },
        ],
      }),
    });
    expect(await ensureThreatFeedSchedule(system.client, system.config.temporal.controlTaskQueue, system.config.threatIntel)).toBe('scheduled');
    const description = await system.client.schedule.getHandle(deploymentScheduleId(THREAT_FEED_SCHEDULE_ID, system.config.temporal.controlTaskQueue)).describe();
    expect(description.spec.intervals).toEqual([expect.objectContaining({ every: 15 * 60_000 })]);

    const pull = await eventually(async () => (await list()).feed.lastPull ?? undefined, 'the first pull of the feed', 120_000);
    expect(pull).toMatchObject({ ok: true, received: 2, created: 1, updated: 1, unchanged: 0, error: null });
    expect(feedRequests.at(-1)?.url).toBe('/indicators.json?tenant=kr');
    const { indicators, feed: feedState } = await list();
    expect(feedState.configured).toBe(true);
    expect(indicators.find((i) => i.id === 'feed-1')).toMatchObject({ severity: 1, updatedBy: 'system:threat-intel-feed' });
    expect(indicators.find((i) => i.id === 'isac-77')).toMatchObject({ severity: 0.3, source: 'feed' });
    expect((await auditOf('threat-intel.upserted')).at(-1)).toMatchObject({ actor: 'system:threat-intel-feed' });
  });

  it('wakes the keys that new or changed feed indicators reach, and no key when the feed sends the same indicators again', async () => {
    interface Evaluation { evaluatedAt: string; components: Array<{ name: string; value: number; detail: string }> }
    const evaluations = async (): Promise<Evaluation[]> => (await api('GET', `/keys/${watchedKey}/risk`, undefined, auditor)).body.items as never;
    const reevaluateSignals = async (): Promise<number> => {
      const history = await system.client.workflow.getHandle(keyWorkflowId(watchedKey)).fetchHistory();
      return (history.events ?? []).filter((event) => event.workflowExecutionSignaledEventAttributes?.signalName === 'reevaluateKey').length;
    };
    // Temporal writes a signal that arrives during a workflow task into the history once the task completes: wait for
    // the expected count, then require exactly it. Signals reach the history in the order they were sent, so reaching
    // the count after a later wake-up also proves that the steps before it sent none.
    const signalsRecorded = async (expected: number): Promise<void> => {
      expect(await eventually(async () => {
        const count = await reevaluateSignals();
        return count >= expected ? count : undefined;
      }, `${expected} reevaluateKey signal(s) in the history of ${watchedKey}`, 60_000)).toBe(expected);
    };
    // The workflow the feed schedule starts, run here directly so that the test has its result.
    const pullFeed = (): Promise<FeedPullResult> =>
      system.client.workflow.execute('threatIntelFeedWorkflow', { taskQueue: system.config.temporal.controlTaskQueue, workflowId: uniqueName('test-threat-feed/'), args: [{}] });

    expect((await api('POST', '/keys', { name: watchedKey, type: 'ec-p256', policy: { evaluationInterval: '12h' } })).status).toBe(202);
    const [first] = await eventually(async () => {
      const found = await evaluations();
      return found.length > 0 ? found : undefined;
    }, `the first evaluation of ${watchedKey}`, 120_000);
    const feedIndicator = `feed-${watchedKey}`;
    expect(first?.components.find((c) => c.name === 'threat')?.detail).not.toContain(`key ${watchedKey}`);

    const published = { id: feedIndicator, severity: 'medium', scope: 'key', target: watchedKey, expiresAt: inDays(2), source: 'feed' };
    feedAnswer = () => ({ status: 200, body: JSON.stringify([published]) });
    expect(await pullFeed()).toMatchObject({ ok: true, received: 1, created: 1, updated: 0, unchanged: 0, reevaluation: { reached: 1, signalled: 1, notRunning: 0, failed: 0 } });
    // Twelve hours before its next scheduled evaluation, the key has looked again and sees the feed's indicator.
    const woken = await eventually(async () => {
      const found = await evaluations();
      return found.length >= 2 ? found : undefined;
    }, `${watchedKey} evaluated again after the pull`, 120_000);
    expect(woken).toHaveLength(2);
    const threat = woken[0]?.components.find((c) => c.name === 'threat');
    expect(threat?.detail).toContain(`key ${watchedKey} severity 0.5`);
    expect(threat?.value).toBeGreaterThanOrEqual(0.5);
    await signalsRecorded(1);

    // The same feed again: every indicator is unchanged, so no key is signalled.
    expect(await pullFeed()).toMatchObject({ ok: true, received: 1, created: 0, updated: 0, unchanged: 1, reevaluation: { reached: 0, signalled: 0 } });
    // A feed that re-publishes the indicator with a later expiry changes it, but not the key's score: still nobody.
    const republished = { ...published, expiresAt: inDays(3) };
    feedAnswer = () => ({ status: 200, body: JSON.stringify([republished]) });
    expect(await pullFeed()).toMatchObject({ ok: true, updated: 1, unchanged: 0, reevaluation: { reached: 0, signalled: 0 } });

    // POST /threat-intel goes through the same path: a new indicator wakes the key, the same one posted again does not.
    const posted = { id: `analyst-${watchedKey}`, severity: 'low', scope: 'key', target: watchedKey, expiresAt: inDays(2), source: 'analyst' };
    expect((await api('POST', '/threat-intel', [posted])).body).toEqual({ created: 1, updated: 0, unchanged: 0 });
    await signalsRecorded(2);
    expect((await api('POST', '/threat-intel', [posted])).body).toEqual({ created: 0, updated: 0, unchanged: 1 });

    // A new severity does move the score: the feed wakes the key again.
    feedAnswer = () => ({ status: 200, body: JSON.stringify([{ ...republished, severity: 'high' }]) });
    expect(await pullFeed()).toMatchObject({ updated: 1, reevaluation: { reached: 1, signalled: 1 } });
    await signalsRecorded(3);
  });

  it('raises an alert when the feed is invalid or fails, storing nothing of it, and never shows the token', async () => {
    const before = await list('?include=expired');
    const pullAgain = async (): Promise<FeedPull> => {
      const count = async (): Promise<number> => Number((await system.db.query<{ n: string }>('SELECT count(*) AS n FROM threat_feed_pulls')).rows[0]?.n);
      const pulls = await count();
      // ALLOW_ALL: the previous run may still be closing its workflow when its pull is already recorded.
      await system.client.schedule.getHandle(deploymentScheduleId(THREAT_FEED_SCHEDULE_ID, system.config.temporal.controlTaskQueue)).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
      await eventually(async () => ((await count()) > pulls ? true : undefined), 'another pull of the feed', 120_000);
      return (await list()).feed.lastPull as FeedPull;
    };
    const feedAlerts = async (): Promise<Array<{ message: string; count: number; severity: string }>> =>
      (await api('GET', '/alerts?source=threat-intel&state=open', undefined, auditor)).body.alerts as never;

    feedAnswer = () => ({ status: 200, body: JSON.stringify([{ id: 'feed-2', severity: 0.5, scope: 'all', expiresAt: inDays(1), source: 'feed' }, { id: 'feed-3', severity: 'extreme', scope: 'key', target: 'payments', expiresAt: inDays(1), source: 'feed' }]) });
    expect(await pullAgain()).toMatchObject({ ok: false, received: 0, error: expect.stringContaining('indicator 1: severity must be') });
    const [alert] = await feedAlerts();
    expect(alert).toMatchObject({ severity: 'warning', message: expect.stringContaining('/indicators.json failed and nothing of this pull was stored: 1 bad indicator(s)') });

    feedAnswer = () => ({ status: 200, body: 'this is not json' });
    expect(await pullAgain()).toMatchObject({ ok: false, error: 'it did not send JSON' });
    feedAnswer = () => ({ status: 503, body: '' });
    expect(await pullAgain()).toMatchObject({ ok: false, error: 'it answered HTTP 503' });
    process.env[tokenVariable] = 'not the token';
    expect(await pullAgain()).toMatchObject({ ok: false, error: 'it answered HTTP 401' });
    process.env[tokenVariable] = feedToken;

    const alerts = await feedAlerts();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.count).toBe(4);
    expect(alerts[0]?.message).not.toContain(feedToken);
    expect(alerts[0]?.message).not.toContain('tenant=kr');
    expect(await list('?include=expired')).toMatchObject({ total: before.total });
    expect((await list('?include=expired')).indicators.some((i) => i.id === 'feed-2')).toBe(false);
  });

  it('keeps no feed schedule when no feed is configured', async () => {
    const { feedUrl: _feedUrl, feedToken: _feedToken, ...noFeed } = system.config.threatIntel;
    expect(await ensureThreatFeedSchedule(system.client, system.config.temporal.controlTaskQueue, noFeed)).toBe('removed');
    await expect(system.client.schedule.getHandle(deploymentScheduleId(THREAT_FEED_SCHEDULE_ID, system.config.temporal.controlTaskQueue)).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
    expect(await ensureThreatFeedSchedule(system.client, system.config.temporal.controlTaskQueue, noFeed)).toBe('none');
  });
});
