import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { readSecret } from '../../adapters/secrets';
import { ensureAccessLogSchedules } from '../../adapters/temporal/schedules';
import type { KeyrotorConfig } from '../../domain/config';
import { WORKFLOW_TYPES, accessLogScheduleId } from '../../domain/identifiers';
import type { KeyUsage } from '../../api/schemas/key-usage';
import type { AccessLogReadResult } from '../../workflows/access-log-read';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { callApiAs, requireEnv, softHsmModule, startTestSystem, testConfig, tokenFor, uniqueName } from '../support/system';

const run = promisify(execFile);
const SPY = ['/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so', '/usr/lib/aarch64-linux-gnu/pkcs11/pkcs11-spy.so', '/usr/lib/pkcs11/pkcs11-spy.so'].find((path) => existsSync(path));
const CLIENT = join(__dirname, '../support/spy-client.js');

/** Every Uint8Array of a Temporal history as text (payloads are JSON bytes), so that a search sees what it carries. */
function historyText(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (item instanceof Uint8Array ? Buffer.from(item).toString('utf8') : item));
}

/**
 * An application on hsm-2 signs through OpenSC's pkcs11-spy.so with its replica of a keyrotor key, in a process of its
 * own, and reports nothing. keyrotor's `access-logs/<node>` schedule reads the spy's log on hsm-2's queue and stores
 * what it shows as `hsm-log` uses of the configured application.
 */
describe('usage observed at the HSM: a PKCS#11 spy log read into the key usage', () => {
  const dir = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('access-log-'));
  const log = join(dir, 'billing-spy.log');
  const key = uniqueName('observed-');
  let config: KeyrotorConfig;
  let system: RunningSystem;
  let operator: string;
  let node: string;
  let pin: string;
  let fingerprint: string;
  /** What the system printed, both runs of it. */
  const printed: string[] = [];
  const print = (line: string): void => {
    printed.push(line);
  };

  const api = <T = Record<string, unknown>>(method: 'GET' | 'POST', url: string, payload?: unknown) => callApiAs<T>(system, operator, method, url, payload);
  /** The application: `count` signatures with the version's private key on hsm-2, through the spy into `log`. */
  const sign = async (count: number): Promise<void> => {
    const input = { module: SPY, tokenLabel: config.hsm.nodes[1]?.tokenLabel, pin, steps: [{ op: 'sign', find: { id: fingerprint }, count }] };
    await run(process.execPath, [CLIENT, JSON.stringify(input)], { env: { ...process.env, PKCS11SPY: softHsmModule(), PKCS11SPY_OUTPUT: log } });
  };
  const observed = async (): Promise<{ usage: KeyUsage; hsmLog: number }> => {
    const usage = (await api<KeyUsage>('GET', `/keys/${key}/usage?hours=24`)).body;
    const hsmLog = usage.uses.filter((use) => use.source === 'hsm-log').reduce((sum, use) => sum + use.count, 0);
    return { usage, hsmLog };
  };
  const readsOf = async (client: Client): Promise<AccessLogReadResult[]> => {
    const results: AccessLogReadResult[] = [];
    // A schedule's runs carry its id in TemporalScheduledById (their workflow ids add the time of the run).
    for await (const execution of client.workflow.list({ query: `WorkflowType = '${WORKFLOW_TYPES.accessLogRead}' AND TemporalScheduledById = '${accessLogScheduleId(node)}' AND ExecutionStatus = 'Completed'` })) {
      results.push((await client.workflow.getHandle(execution.workflowId, execution.runId).result()) as AccessLogReadResult);
    }
    return results;
  };

  beforeAll(async () => {
    if (!SPY) throw new Error('OpenSC’s pkcs11-spy.so is not installed: apt-get install opensc-pkcs11 (the bootstrap installs it)');
    mkdirSync(dir, { recursive: true });
    config = await testConfig({
      env: { KEYROTOR_ACCESS_LOG_INTERVAL: '5s' },
      usage: { accessLogs: [{ path: log, app: 'billing', node: '{prefix}-hsm-2', format: 'pkcs11-spy' }] },
    });
    node = config.hsm.nodes[1]?.id as string;
    system = await startTestSystem(config, { log: print });
    // Made by the provisioning at start.
    pin = readSecret(config.hsm.nodes[1]?.pin ?? { env: 'none' }, 'hsm-2 PIN');
    operator = await tokenFor(system, 'operator');
    expect((await api('POST', '/keys', { name: key, type: 'ec-p256', reason: 'observed at the HSM', policy: { publicationLead: '0s' } })).status).toBe(202);
    fingerprint = await eventually(async () => {
      const versions = (await api<{ versions: Array<{ state: string; fingerprint: string }> }>('GET', `/keys/${key}`)).body.versions;
      return versions[0]?.state === 'active' ? versions[0].fingerprint : undefined;
    }, 'v1 active');
  });

  afterAll(async () => {
    await system?.client.schedule.getHandle(accessLogScheduleId(node)).delete().catch(() => undefined);
    await system?.stop();
  });

  it('shows 50 signatures of an application that reports nothing as hsm-log uses of that application, within the read interval', async () => {
    await sign(50);
    expect(readFileSync(log, 'utf8')).toContain('C_Login');
    expect(await ensureAccessLogSchedules(system.client, config.temporal.controlTaskQueue, config.hsm.nodes.map((each) => each.id), config.usage)).toEqual([node]);
    const { usage } = await eventually(async () => {
      const seen = await observed();
      return seen.hsmLog >= 50 ? seen : undefined;
    }, '50 hsm-log signatures', 120_000);
    expect(usage.uses).toEqual([{ source: 'hsm-log', app: 'billing', node, version: 1, op: 'sign', count: 50, lastAt: expect.any(String) }]);
    expect(usage.actual.reduce((sum, hour) => sum + hour.bySource['hsm-log'], 0)).toBe(50);
    expect(usage.actual.reduce((sum, hour) => sum + hour.bySource['app-report'], 0)).toBe(0);
    // The one series counts them: no application reported anything, and the HSM saw 50.
    expect(usage.actual.reduce((sum, hour) => sum + hour.count, 0)).toBe(50);
  });

  it('loses and double-counts nothing when keyrotor restarts and the log is rotated while the application signs', async () => {
    const signing = sign(20);
    await system.stop();
    await signing;
    renameSync(log, `${log}.1`);
    await sign(15);
    system = await startTestSystem(config, { log: print });
    operator = await tokenFor(system, 'operator');
    await ensureAccessLogSchedules(system.client, config.temporal.controlTaskQueue, config.hsm.nodes.map((each) => each.id), config.usage);
    await eventually(async () => ((await observed()).hsmLog >= 85 ? true : undefined), '85 hsm-log signatures', 120_000);
    // One more complete read after the last signature: it stores nothing, and the count stays exact.
    const before = (await readsOf(system.client)).length;
    await system.client.schedule.getHandle(accessLogScheduleId(node)).trigger();
    const reads = await eventually(async () => {
      const all = await readsOf(system.client);
      return all.length > before ? all : undefined;
    }, 'one more read of the log', 120_000);
    expect(reads.some((read) => read.logs.some((each) => each.events.includes('rotated')))).toBe(true);
    expect((await observed()).hsmLog).toBe(85);
    const rows = await system.db.query<{ n: string }>("SELECT sum(count) AS n FROM usage_events WHERE key = $1 AND source = 'hsm-log'", [key]);
    expect(Number(rows.rows[0]?.n)).toBe(85);
  });

  it('keeps every byte of the PIN the spy logged out of PostgreSQL, the API reply, the Temporal history and what the system printed', async () => {
    const logged = readFileSync(`${log}.1`, 'utf8') + readFileSync(log, 'utf8');
    // The spy dumps 16 bytes a line (hex, then the characters), so the 24-character PIN stands in two pieces; each is
    // sought as text, as the spy's hex and as plain hex.
    const pieces = [pin.slice(0, 16), pin.slice(16)];
    const hex = (text: string): string[] => [Buffer.from(text).toString('hex'), [...Buffer.from(text)].map((byte) => byte.toString(16).toUpperCase().padStart(2, '0')).join(' ')];
    const forms = pieces.flatMap((piece) => [piece, ...hex(piece)]);
    // The spy wrote the PIN: the search below looks for something that is there to find.
    for (const piece of pieces) expect(logged).toContain(piece);

    const stored = await system.db.query<{ text: string }>(
      `SELECT (SELECT coalesce(json_agg(u), '[]')::text FROM usage_events u) || (SELECT coalesce(json_agg(p), '[]')::text FROM access_log_positions p)
         || (SELECT coalesce(json_agg(a), '[]')::text FROM audit_log a) AS text`,
    );
    const reply = JSON.stringify((await observed()).usage);
    let histories = '';
    for await (const execution of system.client.workflow.list({ query: `TemporalScheduledById = '${accessLogScheduleId(node)}'` })) {
      histories += historyText(await system.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory());
    }
    expect(histories).toContain('readAccessLog');
    expect(printed.length).toBeGreaterThan(0);
    for (const form of forms) {
      expect(printed.join('\n')).not.toContain(form);
      expect(stored.rows[0]?.text).not.toContain(form);
      expect(reply).not.toContain(form);
      expect(histories).not.toContain(form);
    }
  });

  it('the same signatures, never reported, raise an unreported-use alert, enter the risk score, and with a low threshold rotate the key on risk', async () => {
    type Evaluation = { rotate: boolean; components: Array<{ name: string; value: number; detail: string }> };
    expect((await api('POST', `/keys/${key}/evaluate`)).status).toBe(200);
    const [newest] = (await api<{ items: Evaluation[] }>('GET', `/keys/${key}/risk?limit=1`)).body.items;
    const unreported = newest?.components.find((component) => component.name === 'unreported');
    expect(unreported?.value).toBeCloseTo(85 / 90, 6);
    expect(unreported?.detail).toBe(`85 operation(s) the HSM saw and no application reported (billing on ${node} with v1: 85 of 85 seen in ${log})`);
    expect(newest?.rotate).toBe(false);
    const alert = await eventually(async () => {
      const { alerts } = (await api<{ alerts: Array<{ dedupKey: string; severity: string; message: string }> }>('GET', '/alerts?state=open')).body;
      return alerts.find((each) => each.dedupKey === `key:${key}:unreported-use`);
    }, 'the unreported-use alert');
    expect(alert).toMatchObject({ severity: 'warning', message: expect.stringContaining(`${key} that no application reported: 85 of v1 by billing on ${node} (access log ${log})`) });

    expect((await callApiAs(system, operator, 'PATCH', `/keys/${key}/policy`, { riskThreshold: 0.6, minRotationInterval: '1s' })).status).toBe(200);
    const evaluated = (await api<{ score: number; threshold: number }>('POST', `/keys/${key}/evaluate`)).body;
    expect(evaluated.threshold).toBe(0.6);
    expect(evaluated.score).toBeGreaterThanOrEqual(0.6);
    type Version = { version: number; state: string; lineage: { trigger: string; evidence?: { score: number; components: Array<{ name: string; value: number }> } } };
    const v2 = await eventually(async () => {
      const versions = (await api<{ versions: Version[] }>('GET', `/keys/${key}`)).body.versions;
      return versions.find((version) => version.version === 2 && version.state === 'active');
    }, 'v2 active after the risk rotation');
    expect(v2.lineage.trigger).toBe('risk');
    expect(v2.lineage.evidence?.score).toBeGreaterThanOrEqual(0.6);
    expect(v2.lineage.evidence?.components.find((component) => component.name === 'unreported')?.value).toBeCloseTo(85 / 90, 6);
  });
});
