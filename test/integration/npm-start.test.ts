import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { runCliAsync, startLongRunning, type LongRunning } from '../support/cli';
import { freePort } from '../support/ports';
import { requireEnv, uniqueName } from '../support/system';

/**
 * `npm start` exactly as a newcomer runs it, on embedded defaults: its own SoftHSM tokens, embedded PostgreSQL and the
 * Temporal dev server, all in a fresh data folder. Only the ports are moved so that it cannot clash with a running copy.
 */
describe('npm start', () => {
  const dataDir = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('npm-start-'));
  let env: Record<string, string | undefined>;
  let ports: Record<string, number>;
  let running: LongRunning | undefined;

  beforeAll(async () => {
    mkdirSync(dataDir, { recursive: true });
    ports = { api: await freePort(), pg: await freePort(), temporal: await freePort(), ui: await freePort(), metrics: await freePort() };
    env = {
      ...process.env,
      // The embedded defaults: no external database, Temporal or SoftHSM configuration.
      DATABASE_URL: undefined,
      TEMPORAL_ADDRESS: undefined,
      SOFTHSM2_CONF: undefined,
      KEYROTOR_ADMIN_TOKEN: undefined,
      KEYROTOR_DATA_DIR: dataDir,
      KEYROTOR_API_PORT: String(ports.api),
      KEYROTOR_PG_PORT: String(ports.pg),
      KEYROTOR_TEMPORAL_PORT: String(ports.temporal),
      KEYROTOR_TEMPORAL_UI_PORT: String(ports.ui),
      KEYROTOR_WORKER_METRICS_PORT: String(ports.metrics),
      // The first harvest assesses every source; 1,000,000 samples each would only slow this test down.
      KEYROTOR_ENTROPY_ASSESSMENT_SAMPLES: '20000',
    };
  });

  afterEach(async () => {
    await running?.stop('SIGKILL', 5000);
    running = undefined;
  });

  const healthOf = async (): Promise<{ status: number; body: { status: string; nodes: Array<{ id: string; status: string }> } }> => {
    const response = await fetch(`http://127.0.0.1:${ports.api}/health`);
    return { status: response.status, body: (await response.json()) as { status: string; nodes: Array<{ id: string; status: string }> } };
  };

  it('brings the whole system up, stops cleanly on SIGTERM, and finds the same data on the next start', async () => {
    running = startLongRunning('npm', ['start'], env);
    const [, adminToken] = await running.waitFor(/first admin API token \(shown once, stored only as a hash\): (kr_\S+)/, 180_000);
    await running.waitFor(/Ctrl-C stops everything/, 10_000);
    expect(running.output()).toContain(`API                http://127.0.0.1:${ports.api}`);
    expect(running.output()).toContain(`Temporal Web UI    http://127.0.0.1:${ports.ui}`);

    const health = await healthOf();
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
    expect(health.body.nodes.map((node) => `${node.id}:${node.status}`)).toEqual(['hsm-1:up', 'hsm-2:up', 'hsm-3:up']);
    expect((await fetch(`http://127.0.0.1:${ports.ui}/`)).status).toBe(200);
    expect(await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text()).toContain('temporal_');
    // Secrets stay out of the output: the admin token is printed once, the PINs never.
    expect(running.output()).not.toMatch(/pin[^s]*[:=]\s*\S{20,}/i);

    expect(await running.stop('SIGTERM', 30_000)).toBe(0);
    expect(running.output()).toContain('[keyrotor] stopped');

    running = startLongRunning('npm', ['start'], env);
    await running.waitFor(/Ctrl-C stops everything/, 180_000);
    expect(running.output()).not.toContain('first admin API token');
    expect((await healthOf()).body.status).toBe('ok');

    const audit = await fetch(`http://127.0.0.1:${ports.api}/audit?action=system.started`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(audit.status).toBe(200);
    const { entries } = (await audit.json()) as { entries: Array<{ details: { createdTokens: string[] } }> };
    expect(entries.map((entry) => entry.details.createdTokens)).toEqual([['hsm-1', 'hsm-2', 'hsm-3'], []]);

    // Workflows of the first run are still in Temporal's database.
    const connection = await Connection.connect({ address: `127.0.0.1:${ports.temporal}` });
    try {
      const client = new Client({ connection });
      let healthChecks = 0;
      for await (const execution of client.workflow.list({ query: "WorkflowType = 'healthCheckWorkflow'" })) {
        if (execution.status.name === 'COMPLETED') healthChecks += 1;
      }
      expect(healthChecks).toBe(2);
    } finally {
      await connection.close();
    }
    expect(await running.stop('SIGTERM', 30_000)).toBe(0);
  });

  it('stops once and in order when its whole process group gets SIGTERM (npm forwards a copy), and exits 0', async () => {
    running = startLongRunning('npm', ['start'], env, { group: true });
    await running.waitFor(/Ctrl-C stops everything/, 180_000);
    expect((await healthOf()).body.status).toBe('ok');

    // As `kill -TERM -<pgid>` or Ctrl-C in a terminal: npm, keyrotor and whatever runs in their group get the signal,
    // and npm forwards it to keyrotor once more.
    expect(await running.stopGroup('SIGTERM', 60_000)).toBe(0);
    const output = running.output();
    expect(output.match(/\[keyrotor\] SIGTERM: stopping/g)).toHaveLength(1);
    expect(output).not.toContain('again: exiting without waiting');
    expect(output.match(/\[keyrotor\] stopped/g)).toHaveLength(1);
    // Nothing is left running: the Temporal dev server and PostgreSQL were stopped (their pid files are gone).
    expect(existsSync(join(dataDir, 'temporal-dev-server.pid'))).toBe(false);
    expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
  });

  it('refuses an API port that is taken before it creates anything, and exits non-zero', async () => {
    const occupied: Server = createServer();
    await new Promise<void>((resolve) => occupied.listen({ host: '127.0.0.1', port: ports.api }, resolve));
    const freshDir = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('npm-start-taken-'));
    try {
      const result = await runCliAsync(['start'], { ...env, KEYROTOR_DATA_DIR: freshDir });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`the API cannot listen on 127.0.0.1:${ports.api}`);
      expect(result.stderr).toContain('KEYROTOR_API_PORT');
      expect(result.stderr).not.toContain('unexpected failure');
      // Nothing was created: no token, no database, no Temporal data.
      expect(existsSync(freshDir) ? readdirSync(freshDir) : []).toEqual([]);
    } finally {
      await new Promise((resolve) => occupied.close(resolve));
    }
  });

  it.each([
    ['embedded PostgreSQL', 'pg', 'KEYROTOR_PG_PORT'],
    ['the Temporal dev server', 'temporal', 'KEYROTOR_TEMPORAL_PORT'],
    ['the Temporal Web UI', 'ui', 'KEYROTOR_TEMPORAL_UI_PORT'],
    ["the workers' metrics", 'metrics', 'KEYROTOR_WORKER_METRICS_PORT'],
  ])('refuses a taken port of %s, naming the port and %s\'s setting, before it creates anything', async (what, port, setting) => {
    const occupied: Server = createServer();
    await new Promise<void>((resolve) => occupied.listen({ host: '127.0.0.1', port: ports[port] }, resolve));
    const freshDir = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('npm-start-taken-'));
    try {
      const result = await runCliAsync(['start'], { ...env, KEYROTOR_DATA_DIR: freshDir });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`${what} cannot listen on 127.0.0.1:${ports[port]}: something else already uses that port`);
      expect(result.stderr).toContain(setting);
      expect(result.stderr).not.toContain('unexpected failure');
      expect(existsSync(freshDir) ? readdirSync(freshDir) : []).toEqual([]);
    } finally {
      await new Promise((resolve) => occupied.close(resolve));
    }
  });
});
