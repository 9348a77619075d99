import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, startLongRunning, type LongRunning } from '../support/cli';
import { eventually } from '../support/eventually';
import { freePort } from '../support/ports';
import { testConfig } from '../support/system';

/**
 * The services as separate processes — `keyrotor provision`, `keyrotor api`, `keyrotor worker control` and one
 * `keyrotor worker hsm --node` per node — against the shared PostgreSQL and Temporal, configured only by environment
 * and a configuration file, as a deployment would run them.
 */
describe('keyrotor as separate processes', () => {
  const running: LongRunning[] = [];

  afterAll(async () => {
    await Promise.all(running.map((process) => process.stop('SIGTERM', 20_000)));
  });

  it('provisions once, then runs the API and the workers apart, and a key rotates through them', async () => {
    const config = await testConfig();
    const configFile = join(config.dataDir, 'keyrotor.config.json');
    writeFileSync(configFile, JSON.stringify({ hsm: { nodes: config.hsm.nodes.map(({ id, modulePath, tokenLabel }) => ({ id, modulePath, tokenLabel })) } }));
    const apiPort = await freePort();
    const env = {
      ...process.env,
      KEYROTOR_CONFIG: configFile,
      KEYROTOR_DATA_DIR: config.dataDir,
      DATABASE_URL: config.database.url,
      KEYROTOR_DATABASE_OWNER_URL: config.database.ownerUrl,
      TEMPORAL_ADDRESS: config.temporal.address,
      // The file's own control queue, as every test system has: on the default one its processes made the deployment-wide
      // schedules under their unscoped ids on the shared server, which schedules.test.ts creates by hand beside it.
      KEYROTOR_CONTROL_TASK_QUEUE: config.temporal.controlTaskQueue,
      KEYROTOR_API_PORT: String(apiPort),
      KEYROTOR_WORKER_METRICS_PORT: '0',
      KEYROTOR_ADMIN_TOKEN: undefined,
      KEYROTOR_ENTROPY_ASSESSMENT_SAMPLES: '20000',
    };

    const provision = runCli(['provision'], env);
    expect(provision.stderr).toBe('');
    expect(provision.code).toBe(0);
    const adminToken = /first admin API token \(shown once, stored only as a hash\): (kr_\S+)/.exec(provision.stdout)?.[1];
    expect(adminToken).toBeDefined();
    expect(provision.stdout).toContain('keyrotor-cluster-kek created');
    // A second provision changes nothing and makes no second admin token.
    const again = runCli(['provision'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('keyrotor-cluster-kek present');
    expect(again.stdout).not.toContain('first admin API token');

    const keyrotor = (args: string[], ready: RegExp): Promise<LongRunning> => {
      const child = startLongRunning(process.execPath, ['bin/keyrotor.js', ...args], env);
      running.push(child);
      return child.waitFor(ready, 90_000).then(() => child);
    };
    await Promise.all([
      keyrotor(['api'], /API listening on/),
      keyrotor(['worker', 'control'], /control worker running/),
      ...config.hsm.nodes.map((node) => keyrotor(['worker', 'hsm', '--node', node.id], /running; SIGINT or SIGTERM/)),
    ]);

    const base = `http://127.0.0.1:${apiPort}`;
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };
    expect((await call('POST', '/keys', { name: 'apart', type: 'ec-p256', policy: { publicationLead: '0s' } })).status).toBe(202);
    await eventually(async () => ((await call('GET', '/keys/apart')).json.activeVersion === 1 ? true : undefined), 'v1 of apart');
    const rotated = await call('POST', '/keys/apart/rotate', { reason: 'through separate processes' });
    expect(rotated).toMatchObject({ status: 200, json: { version: 2 } });

    for (const child of running.splice(0)) expect(await child.stop('SIGTERM', 20_000)).toBe(0);
  });
});
