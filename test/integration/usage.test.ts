import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningSystem } from '../../workers/system';
import { runCliAsync } from '../support/cli';
import { eventually } from '../support/eventually';
import { callApiAs, startTestSystem, testConfig, tokenFor } from '../support/system';

interface Version {
  version: number;
  kid: string;
  state: string;
  verdict: { ok: boolean; usage: { evidence: string; signsAfterSwitch: number | null; note: string } } | null;
}

describe('usage events', () => {
  let system: RunningSystem;
  let operator: string;
  let reader: string;

  beforeAll(async () => {
    const config = await testConfig();
    system = await startTestSystem(config);
    operator = await tokenFor(system, 'operator');
    reader = await tokenFor(system, 'auditor');
  });

  afterAll(async () => {
    await system?.stop();
  });

  const api = (method: 'GET' | 'POST', url: string, payload?: unknown, token = operator) => callApiAs(system, token, method, url, payload);
  const versions = async (name: string): Promise<Version[]> => (await api('GET', `/keys/${name}`)).body.versions as Version[];
  const count = async (): Promise<number> => Number((await system.db.query<{ n: string }>('SELECT count(*) AS n FROM usage_events')).rows[0]?.n);

  it('refuses a malformed batch whole, naming each bad row, and stores a repeated event id once', async () => {
    await api('POST', '/keys', { name: 'usage-key', type: 'ec-p256', policy: { gracePeriod: '4s', maxGracePeriod: '1m', retention: '1h', publicationLead: '0s' } });
    const [v1] = await eventually(async () => {
      const found = await versions('usage-key');
      return found[0]?.state === 'active' ? found : undefined;
    }, 'v1');
    const event = { ts: new Date().toISOString(), key: 'usage-key', kid: v1!.kid, op: 'sign', app: 'checkout', eventId: 'evt-1' };

    const refused = await api('POST', '/usage', [event, { ...event, eventId: 'evt-2', op: 'forge' }, { ...event, eventId: 'evt-3', kid: 'someone-else.v1.x' }]);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: 'invalid_usage_batch', errors: [{ path: 'body/1', message: expect.stringContaining('op must be one of') }] });
    expect(await count()).toBe(0);
    const unknownKid = await api('POST', '/usage', [event, { ...event, eventId: 'evt-3', kid: 'usage-key.v9.deadbeef' }]);
    expect(unknownKid).toMatchObject({ status: 400, body: { errors: [{ path: 'body/1', message: "kid 'usage-key.v9.deadbeef' is not a version of key 'usage-key'" }] } });
    expect(await count()).toBe(0);

    expect((await api('POST', '/usage', { events: [event, { ...event, eventId: 'evt-2', count: 4 }] })).body).toEqual({ stored: 2, duplicates: 0 });
    expect((await api('POST', '/usage', [event])).body).toEqual({ stored: 0, duplicates: 1 });
    expect(await count()).toBe(2);
    const hourly = await system.db.query<{ count: string }>("SELECT count FROM usage_hourly WHERE key = 'usage-key' AND op = 'sign'");
    expect(hourly.rows.map((row) => Number(row.count))).toEqual([5]);
  });

  it('keyrotor ingest streams NDJSON through the API, and names the bad line of a refused batch', async () => {
    const { rows } = await system.db.query<{ kid: string }>("SELECT kid FROM key_versions WHERE name = 'usage-key' AND version = 1");
    const kid = rows[0]!.kid;
    const file = join(system.config.dataDir, 'events.ndjson');
    const lines = Array.from({ length: 250 }, (_, i) => JSON.stringify({ ts: new Date().toISOString(), key: 'usage-key', kid, op: 'verify', app: 'gateway', eventId: `bulk-${i}` }));
    writeFileSync(file, `${lines.join('\n')}\n`);
    const address = await system.app.listen({ host: '127.0.0.1', port: 0 });
    const env = { ...process.env, KEYROTOR_TOKEN: operator };
    const ok = await runCliAsync(['ingest', file, '--url', address, '--batch', '100'], env);
    expect(ok.stdout).toContain('250 stored, 0 duplicates, 250 lines');
    // Not a terminal: no progress, only the result.
    expect(ok.stderr).toBe('');
    const again = await runCliAsync(['ingest', file, '--url', address, '--json'], env);
    expect({ code: again.code, stderr: again.stderr, reply: JSON.parse(again.stdout) as unknown }).toEqual({ code: 0, stderr: '', reply: { stored: 0, duplicates: 250, lines: 250 } });
    writeFileSync(file, `${lines[0]}\n{"ts": "now", "key": "usage-key", "kid": "${kid}", "op": "sign", "app": "x"}\n`);
    const bad = await runCliAsync(['ingest', file, '--url', address], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('line 2: ts must be an ISO 8601 time');
    // A line that is not JSON stops the run after the batch before it (sent while the next one was read) is stored.
    const more = Array.from({ length: 150 }, (_, i) => JSON.stringify({ ts: new Date().toISOString(), key: 'usage-key', kid, op: 'verify', app: 'gateway', eventId: `more-${i}` }));
    writeFileSync(file, `${more.join('\n')}\n{"ts": \n`);
    const broken = await runCliAsync(['ingest', file, '--url', address, '--batch', '100'], env);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('line 151 is not JSON; nothing from line 101 on was sent');
    expect(Number((await system.db.query<{ n: string }>("SELECT count(*) AS n FROM usage_events WHERE event_id LIKE 'more-%'")).rows[0]?.n)).toBe(100);
  });

  it('archives at the maximum grace period a version still signed with, holds its purge and names the application', async () => {
    // gracePeriod = maxGracePeriod: the end-of-grace check finds the use but may not extend.
    await api('POST', '/keys', { name: 'capped-key', type: 'ec-p256', policy: { gracePeriod: '4s', maxGracePeriod: '4s', retention: '1h', publicationLead: '0s' } });
    const [v1] = await eventually(async () => {
      const found = await versions('capped-key');
      return found[0]?.state === 'active' ? found : undefined;
    }, 'v1');
    expect((await api('POST', '/keys/capped-key/rotate', { reason: 'usage test' })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await api('POST', '/usage', [{ ts: new Date().toISOString(), key: 'capped-key', kid: v1!.kid, op: 'sign', app: 'legacy-billing', eventId: 'late-1' }])).status).toBe(200);
    const archived = await eventually(async () => {
      const found = (await versions('capped-key')).find((v) => v.version === 1);
      return found?.verdict ? found : undefined;
    }, 'the verdict on v1');
    expect(archived.verdict).toMatchObject({ ok: false, usage: { evidence: 'events', signsAfterSwitch: 1, note: expect.stringContaining('legacy-billing') } });
    expect(archived.state).toBe('archived');
    // The lifecycle records the verdict first and raises its alerts in the steps after: wait for them.
    const alerts = await eventually(async () => {
      const open = (await api('GET', '/alerts?source=lifecycle&state=open', undefined, reader)).body.alerts as Array<{ message: string }>;
      return open.some((alert) => alert.message.includes('its purge is held')) && open.some((alert) => alert.message.includes('reached its maximum grace period')) ? open : undefined;
    }, 'the alerts on v1');
    expect(alerts.some((alert) => alert.message.includes('legacy-billing') && alert.message.includes('its purge is held'))).toBe(true);
    expect(alerts.some((alert) => alert.message.includes('reached its maximum grace period') && alert.message.includes('legacy-billing'))).toBe(true);
  });
});
