import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { raiseAlert } from '../../adapters/postgres/alert-repository';
import { buildDashboard } from '../../scripts/build-dashboard';
import { projectRoot } from '../../scripts/tool-paths';
import type { RunningSystem } from '../../workers/system';
import { launchChromium } from '../support/browser';
import { eventually } from '../support/eventually';
import { recordSyntheticEvaluations } from '../support/synthetic-evaluations';
import { recordSyntheticKeys } from '../support/synthetic-keys';
import { callApiAs, requireEnv, startTestSystem, testConfig, tokenFor } from '../support/system';

const SCREENSHOTS = join(projectRoot, 'docs', 'screenshots');
/** Long enough that no grace period ends during the run; extensions stay under the cap. */
const policy = { gracePeriod: '2h', maxGracePeriod: '1d', retention: '1h', maxAge: '30d', minRotationInterval: '1s', publicationLead: '0s' };
/** Quick harvests (small assessments, a short battery) every 20 s, so the entropy charts have several points. */
const entropyEnv = {
  KEYROTOR_ENTROPY_ASSESSMENT_SAMPLES: '20000',
  KEYROTOR_ENTROPY_SAMPLES: '8192',
  KEYROTOR_ENTROPY_MINIMUM_BITS: '512',
  KEYROTOR_ENTROPY_BATTERY_BITS: '100000',
  KEYROTOR_ENTROPY_INTERVAL_SECONDS: '20',
};

interface KeyDetail {
  activeVersion: number | null;
  versions: Array<{ version: number; state: string; lineage: { trigger: string; reason: string; actor: string } }>;
  deadlines: { graceDeadline: string | null };
}

describe('the dashboard in Chromium against the real stack', () => {
  let system: RunningSystem;
  let baseUrl: string;
  let operator: string;
  let auditor: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const api = (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>, token = operator) => callApiAs(system, token, method, url, payload);
  const keyDetail = async (name: string): Promise<KeyDetail> => (await api('GET', `/keys/${name}`)).body as unknown as KeyDetail;
  const waitForActive = (name: string, version: number): Promise<KeyDetail> =>
    eventually(async () => {
      const key = await keyDetail(name);
      return key.activeVersion === version ? key : undefined;
    }, `${name} v${version} active`, 120_000);

  /** A fresh browser session (its own sessionStorage), collecting script errors and CSP violations. */
  const newSession = async (viewport = { width: 1280, height: 900 }): Promise<{ context: BrowserContext; page: Page }> => {
    const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1 });
    const p = await ctx.newPage();
    p.on('pageerror', (error) => pageErrors.push(`page error: ${error.message}`));
    p.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) pageErrors.push(`CSP: ${message.text()}`);
    });
    return { context: ctx, page: p };
  };
  const signIn = async (p: Page, token: string): Promise<void> => {
    await p.goto(`${baseUrl}/ui/`);
    await p.fill('input[name=token]', token);
    await p.click('form.signin button[type=submit]');
    await p.waitForSelector('[data-view=overview]');
  };
  const open = async (p: Page, hash: string, view: string): Promise<void> => {
    await p.evaluate((target) => {
      window.location.hash = target;
    }, hash);
    await p.waitForSelector(`main[data-view="${view}"][data-state=ready]`, { timeout: 60_000 });
  };
  const shot = async (p: Page, name: string, fullPage = true): Promise<void> => {
    // Toasts of earlier steps would cover the view.
    await p.evaluate(() => document.querySelectorAll('.toast').forEach((toast) => toast.remove()));
    await p.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage });
  };

  beforeAll(async () => {
    await buildDashboard();
    mkdirSync(SCREENSHOTS, { recursive: true });
    const config = await testConfig({ env: { ...entropyEnv, KEYROTOR_TEMPORAL_UI_URL: requireEnv('KEYROTOR_TEST_TEMPORAL_UI_URL') } });
    system = await startTestSystem(config, { schedules: true });
    baseUrl = (await system.app.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
    operator = await tokenFor(system, 'operator');
    auditor = await tokenFor(system, 'auditor');
    browser = await launchChromium();
    ({ page } = await newSession());
    for (const name of ['payments-signing', 'orders-signing', 'ledger-export']) {
      expect((await api('POST', '/keys', { name, type: 'ec-p256', policy, reason: 'dashboard test' })).status).toBe(202);
    }
  });

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
  });

  it('serves the dashboard from the API\'s own origin with a strict CSP, and nothing outside its bundle', async () => {
    const index = await system.app.inject({ method: 'GET', url: '/ui/' });
    expect(index.statusCode).toBe(200);
    expect(index.headers['content-security-policy']).toContain("script-src 'self'");
    expect(index.headers['content-security-policy']).toContain("connect-src 'self'");
    expect((await system.app.inject({ method: 'GET', url: '/ui/app.js' })).headers['content-type']).toBe('text/javascript; charset=utf-8');
    for (const url of ['/ui/..%2Fpackage.json', '/ui/.build-stamp', '/ui/%2e%2e%2f%2e%2e%2fpackage.json', '/ui/missing.js']) {
      expect({ url, status: (await system.app.inject({ method: 'GET', url })).statusCode }).toEqual({ url, status: 404 });
    }
    // What the page reads about the token and the deployment is public API, in the OpenAPI document.
    const paths = Object.keys((await system.app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>().paths);
    expect(paths).toEqual(expect.arrayContaining(['/whoami', '/info', '/keys']));
    expect((await api('GET', '/whoami', undefined, auditor)).body).toMatchObject({ role: 'auditor', mayAct: false });
    expect((await api('GET', '/whoami')).body).toMatchObject({ role: 'operator', mayAct: true });
    expect((await api('GET', '/info', undefined, auditor)).body).toMatchObject({
      nodes: system.config.hsm.nodes.map((node) => node.id),
      temporal: { namespace: 'default', webUiUrl: requireEnv('KEYROTOR_TEST_TEMPORAL_UI_URL') },
    });
    expect((await system.app.inject({ method: 'GET', url: '/whoami' })).statusCode).toBe(401);
  });

  it('refuses an unknown token, signs an operator in for this browser session only, and shows three nodes up', async () => {
    await page.goto(`${baseUrl}/`);
    expect(page.url()).toBe(`${baseUrl}/ui/`);
    await page.fill('input[name=token]', 'kr_not-a-token-at-all');
    await page.click('form.signin button[type=submit]');
    await page.waitForFunction(() => /unknown or revoked/.test(document.querySelector('.signin-error')?.textContent ?? ''));
    await shot(page, 'signin');

    await page.fill('input[name=token]', operator);
    await page.click('form.signin button[type=submit]');
    await page.waitForSelector('main[data-view=overview][data-state=ready]', { timeout: 60_000 });
    expect(await page.textContent('[data-testid=whoami]')).toContain('operator');
    const nodes = await page.$$eval('.node-card', (cards) => cards.map((card) => ({ id: card.getAttribute('data-node'), status: card.getAttribute('data-status') })));
    expect(nodes).toEqual(system.config.hsm.nodes.map((node) => ({ id: node.id, status: 'up' })));

    // The token lives in sessionStorage only: a reload keeps the session, a new browser session asks again.
    expect(await page.evaluate(() => ({ session: sessionStorage.getItem('keyrotor.token') !== null, local: localStorage.length }))).toEqual({ session: true, local: 0 });
    await page.reload();
    await page.waitForSelector('main[data-view=overview]');
    const other = await newSession();
    await other.page.goto(`${baseUrl}/ui/`);
    await other.page.waitForSelector('form.signin');
    await other.context.close();
  });

  it('shows a rotated key with both versions on its timeline, its lineage and a link to its workflow', async () => {
    await waitForActive('payments-signing', 1);
    expect((await api('POST', '/keys/payments-signing/rotate', { reason: 'quarterly rotation' })).status).toBe(200);

    await open(page, '#/keys', 'keys');
    await page.click('tr[data-key="payments-signing"] a');
    await page.waitForSelector('main[data-view=key][data-state=ready]');
    const lanes = await page.$$eval('[data-testid=version-timeline] .lane', (rows) => rows.map((row) => [row.getAttribute('data-version'), row.getAttribute('data-state')]));
    expect(lanes).toEqual([['1', 'retiring'], ['2', 'active']]);
    const v2 = await page.textContent('.versions-table tr[data-version="2"] .lineage');
    expect(v2).toContain('manual');
    expect(v2).toContain('quarterly rotation');
    expect(v2).toContain('after v1');
    // Each number says which API field it shows.
    expect(await page.getAttribute('.versions-table tr[data-version="2"] .lineage [data-source]', 'data-source')).toBe('GET /keys/:name versions[2].lineage.trigger');

    const link = await page.getAttribute('a.temporal-link', 'href');
    expect(link).toBe(`${requireEnv('KEYROTOR_TEST_TEMPORAL_UI_URL')}/namespaces/default/workflows/${encodeURIComponent('key/payments-signing')}`);
    // The link opens the key's workflow in the Temporal Web UI itself.
    const temporalUi = await page.context().newPage();
    await temporalUi.goto(link as string);
    await temporalUi.waitForFunction(() => document.body.innerText.includes('key/payments-signing') && /Running/i.test(document.body.innerText), undefined, { timeout: 60_000 });
    await temporalUi.close();
    await shot(page, 'key-detail');
  });

  it('rotates a key from the page after a reason and a confirmation, and shows the new version', async () => {
    await waitForActive('orders-signing', 1);
    await open(page, '#/keys/orders-signing', 'key');
    await page.click('[data-action=rotate]');
    const confirm = page.locator('#rotate-dialog [data-action=confirm]');
    expect(await confirm.isDisabled()).toBe(true);
    await page.fill('#rotate-dialog textarea[name=reason]', 'rotated from the dashboard');
    expect(await confirm.isDisabled()).toBe(true);
    await page.check('#rotate-dialog input[name=confirm]');
    await shot(page, 'rotate-dialog');
    await confirm.click();
    await page.waitForSelector('main[data-view=key][data-state=ready] .lane[data-version="2"][data-state=active]', { timeout: 120_000 });
    expect(await page.$$eval('.lane', (rows) => rows.map((row) => row.getAttribute('data-state')))).toEqual(['retiring', 'active']);
    const recorded = await keyDetail('orders-signing');
    expect(recorded.activeVersion).toBe(2);
    expect(recorded.versions.find((v) => v.version === 2)?.lineage).toMatchObject({ trigger: 'manual', reason: 'rotated from the dashboard', actor: expect.stringContaining('test operator') });

    // A second rotation during the grace period is refused by the API, and the dialog says why; nothing changes.
    await page.click('[data-action=rotate]');
    await page.fill('#rotate-dialog textarea[name=reason]', 'again');
    await page.check('#rotate-dialog input[name=confirm]');
    await page.click('#rotate-dialog [data-action=confirm]');
    await page.waitForFunction(() => /409 grace_period_running/.test(document.querySelector('#rotate-dialog .dialog-error')?.textContent ?? ''));
    await page.click('#rotate-dialog [data-action=cancel]');
    expect((await keyDetail('orders-signing')).activeVersion).toBe(2);
  });

  it('extends a grace period from the page', async () => {
    const before = Date.parse((await keyDetail('payments-signing')).deadlines.graceDeadline as string);
    await open(page, '#/keys/payments-signing', 'key');
    await page.click('[data-action=extend-grace]');
    await page.fill('#grace-dialog input[name=extendBy]', '90m');
    await page.fill('#grace-dialog textarea[name=reason]', 'billing still verifies with v1');
    await page.click('#grace-dialog [data-action=confirm]');
    await page.waitForSelector('.toast');
    const expected = new Date(before + 90 * 60_000).toISOString();
    // The signal reaches the workflow a moment after the answer; the page shows the deadline the API reports.
    await eventually(async () => ((await keyDetail('payments-signing')).deadlines.graceDeadline === expected ? true : undefined), 'the moved deadline');
    await open(page, '#/keys/payments-signing', 'key');
    const shown = await page.getAttribute('.grace-deadline', 'title');
    expect(shown).toBe('GET /keys/:name deadlines.graceDeadline');
    expect(await page.textContent('.grace-deadline')).toBe(`${expected.slice(0, 10)} ${expected.slice(11, 19)} UTC`);
  });

  it('emergency rotation needs the key\'s name typed, then retires the old version as compromised', async () => {
    await waitForActive('ledger-export', 1);
    await open(page, '#/keys/ledger-export', 'key');
    await page.click('[data-action=emergency]');
    await page.fill('#emergency-dialog textarea[name=reason]', 'backup tape lost');
    await page.fill('#emergency-dialog input[name=typed]', 'ledger');
    expect(await page.locator('#emergency-dialog [data-action=confirm]').isDisabled()).toBe(true);
    await page.fill('#emergency-dialog input[name=typed]', 'ledger-export');
    await page.click('#emergency-dialog [data-action=confirm]');
    await page.waitForSelector('main[data-view=key][data-state=ready] .lane[data-version="2"][data-state=active]', { timeout: 120_000 });
    const v1 = (await keyDetail('ledger-export')).versions.find((v) => v.version === 1) as unknown as { compromisedAt: string | null };
    expect(v1.compromisedAt).not.toBeNull();
  });

  it('shows a new alert without a reload and acknowledges it', async () => {
    await open(page, '#/alerts', 'alerts');
    await page.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    const subject = 'key/payments-signing';
    const { alert } = await raiseAlert(system.db, { dedupKey: `test:${Date.now()}`, severity: 'critical', source: 'prediction', subject, message: 'usage spike: 40 times the forecast' }, []);
    await raiseAlert(system.db, { dedupKey: `test-warn:${Date.now()}`, severity: 'warning', source: 'entropy', subject: 'node/hsm-2', message: 'credited pool bits below the minimum' }, []);
    const row = `tr[data-alert="${alert.id}"]`;
    await page.waitForSelector(`${row}.fresh`, { timeout: 30_000 });
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=alert-badge]')?.getAttribute('data-count')) >= 2, undefined, { timeout: 30_000 });
    await shot(page, 'alerts');

    await page.click(`${row} [data-action=acknowledge]`);
    await page.waitForSelector(row, { state: 'detached', timeout: 30_000 });
    const acknowledged = (await api('GET', '/alerts?state=acknowledged')).body.alerts as Array<{ id: string; acknowledgedBy: string }>;
    expect(acknowledged.find((a) => a.id === alert.id)?.acknowledgedBy).toContain('test operator');
  });

  it('shows every node\'s entropy sources, health tests and their history', async () => {
    await eventually(async () => {
      const history = (await api('GET', '/entropy/history?limit=500')).body.reports as Array<{ nodeId: string }>;
      return system.config.hsm.nodes.every((node) => history.filter((r) => r.nodeId === node.id).length >= 2) ? true : undefined;
    }, 'two harvests from every node', 240_000);
    await open(page, '#/entropy', 'entropy');
    const panels = await page.$$eval('.node-entropy', (sections) => sections.map((s) => s.getAttribute('data-node')).sort());
    expect(panels).toEqual(system.config.hsm.nodes.map((node) => node.id).sort());
    const sources = await page.$$eval('.node-entropy .sources-table tbody tr', (rows) => rows.map((row) => row.getAttribute('data-source-name')));
    expect(sources).toEqual(expect.arrayContaining(['hsm-rng', 'hsm-timing', 'cpu-jitter', 'os-rng']));
    // Three charts per node (pool, min-entropy, SP 800-22), each drawn by uPlot on a canvas.
    await page.waitForFunction((n) => document.querySelectorAll('.node-entropy .chart canvas').length >= n * 3, system.config.hsm.nodes.length);
    await shot(page, 'entropy');
  });

  it('keeps the keys view paged and filtered with 1,000 more keys, and shows them on the schedule', async () => {
    await recordSyntheticKeys(system.db, { prefix: 'bulk-', count: 1000, nodeId: system.config.hsm.nodes[0]!.id });
    // Three hourly evaluations for two keys of the first page, one for a third: two trends to draw, one point alone.
    const hourAgo = (hours: number): number => Date.now() - hours * 3_600_000;
    for (const key of ['bulk-0000', 'bulk-0001']) await recordSyntheticEvaluations(system.db, { key, points: [{ atMs: hourAgo(3), score: 0.2 }, { atMs: hourAgo(2), score: 0.5 }, { atMs: hourAgo(1), score: 0.3 }] });
    await recordSyntheticEvaluations(system.db, { key: 'bulk-0002', points: [{ atMs: hourAgo(1), score: 0.4 }] });
    const filtered = (await api('GET', '/keys?prefix=bulk-09&limit=500')).body as { keys: Array<{ name: string }>; total: number };
    expect(filtered.total).toBe(100);
    expect(filtered.keys.every((k) => k.name.startsWith('bulk-09'))).toBe(true);
    expect((await api('GET', '/keys?prefix=BULK%25')).status).toBe(400);
    const inGrace = (await api('GET', '/keys?phase=grace')).body.keys as Array<{ name: string; graceDeadline: string | null }>;
    expect(inGrace.map((k) => k.name)).toEqual(['orders-signing', 'payments-signing']);
    expect(inGrace.find((k) => k.name === 'payments-signing')?.graceDeadline).toBe((await keyDetail('payments-signing')).deadlines.graceDeadline);

    await open(page, '#/keys', 'keys');
    expect(await page.textContent('.list-status')).toBe('1–50 of 1,003 keys');
    expect(await page.$$eval('.keys-table tbody tr', (rows) => rows.length)).toBe(50);
    await page.click('[data-page=next]');
    await page.waitForSelector('main[data-view=keys][data-state=ready]');
    expect(await page.textContent('.list-status')).toBe('51–100 of 1,003 keys');

    await page.fill('input[name=prefix]', 'bulk-09');
    await page.waitForFunction(() => document.querySelector('main[data-view=keys][data-state=ready] .list-status')?.textContent === '1–50 of 100 keys');
    expect(await page.$$eval('.keys-table tbody tr', (rows) => rows.map((row) => row.getAttribute('data-key')).every((name) => name?.startsWith('bulk-09')))).toBe(true);

    await open(page, '#/keys?phase=grace', 'keys');
    expect(await page.$$eval('.keys-table tbody tr', (rows) => rows.map((row) => row.getAttribute('data-key')))).toEqual(['orders-signing', 'payments-signing']);
    // The page's trends come with one request for its 50 rows, not one per row.
    const trendRequests: string[] = [];
    const onRequest = (request: { url: () => string }): void => {
      const path = new URL(request.url()).pathname;
      if (path === '/risk-trends' || /^\/keys\/[^/]+\/risk$/.test(path)) trendRequests.push(path);
    };
    page.on('request', onRequest);
    await open(page, '#/keys', 'keys');
    await page.waitForSelector('main[data-view=keys][data-trends=done]', { timeout: 60_000 });
    page.off('request', onRequest);
    expect(trendRequests).toEqual(['/risk-trends']);
    const sparklines = await page.$$eval('.keys-table tbody tr', (rows) =>
      rows.filter((row) => row.querySelector('.trend .sparkline canvas')).map((row) => [row.getAttribute('data-key'), row.querySelector('.trend .sparkline')?.getAttribute('data-source')]));
    expect(sparklines).toEqual([
      ['bulk-0000', 'GET /risk-trends trends[].points[].score'],
      ['bulk-0001', 'GET /risk-trends trends[].points[].score'],
    ]);
    await shot(page, 'keys');

    await open(page, '#/schedule', 'schedule');
    const graceEnds = await page.$$eval('li[data-kind=grace-end]', (items) => items.map((item) => item.getAttribute('data-key')).sort());
    expect(graceEnds).toEqual(['orders-signing', 'payments-signing']);
    expect(await page.$$eval('li[data-kind=age-rotation]', (items) => items.length)).toBeGreaterThan(100);
    await shot(page, 'schedule', false);

    await open(page, '#/overview', 'overview');
    expect(await page.textContent('#phases')).toContain('1,001');
    await shot(page, 'overview');
  });

  it('shows an auditor no action buttons, and the API refuses the actions anyway', async () => {
    const session = await newSession();
    await signIn(session.page, auditor);
    expect(await session.page.textContent('[data-testid=whoami]')).toContain('auditor');
    await open(session.page, '#/keys/payments-signing', 'key');
    expect(await session.page.$$('[data-testid=key-actions], [data-action=rotate], [data-action=extend-grace], [data-action=emergency]')).toHaveLength(0);
    await open(session.page, '#/alerts', 'alerts');
    await session.page.waitForSelector('.alerts-table tbody tr');
    expect(await session.page.$$('[data-action=acknowledge]')).toHaveLength(0);

    const alertId = ((await api('GET', '/alerts?state=open')).body.alerts as Array<{ id: string }>)[0]!.id;
    // The page's own token, sent by hand: what a curious auditor could do from the console.
    const statuses = await session.page.evaluate(async (id) => {
      const headers = { authorization: `Bearer ${sessionStorage.getItem('keyrotor.token') ?? ''}`, 'content-type': 'application/json' };
      const post = async (path: string, body: unknown) => (await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) })).status;
      return [
        await post('/keys/payments-signing/rotate', { reason: 'auditor' }),
        await post('/keys/payments-signing/grace', { extendBy: '1h', reason: 'auditor' }),
        await post(`/alerts/${id}/ack`, {}),
      ];
    }, alertId);
    expect(statuses).toEqual([403, 403, 403]);
    expect((await keyDetail('payments-signing')).activeVersion).toBe(2);
    expect(((await api('GET', '/alerts?state=open')).body.alerts as Array<{ id: string }>).map((a) => a.id)).toContain(alertId);
    await session.context.close();
  });

  it('works at phone width', async () => {
    const phone = await newSession({ width: 390, height: 844 });
    await signIn(phone.page, operator);
    await phone.page.waitForSelector('main[data-view=overview][data-state=ready]', { timeout: 60_000 });
    const overflow = async (): Promise<number> => phone.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(await overflow()).toBeLessThanOrEqual(0);
    await shot(phone.page, 'phone-overview');
    await open(phone.page, '#/keys/payments-signing', 'key');
    expect(await overflow()).toBeLessThanOrEqual(0);
    expect(await phone.page.isVisible('[data-action=rotate]')).toBe(true);
    await shot(phone.page, 'phone-key-detail');
    await open(phone.page, '#/keys', 'keys');
    expect(await overflow()).toBeLessThanOrEqual(0);
    await phone.context.close();
  });

  it('ran without a script error or a Content-Security-Policy violation', () => {
    expect(pageErrors).toEqual([]);
  });
});
