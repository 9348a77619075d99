import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { runCliAsync, startLongRunning, type LongRunning } from '../support/cli';
import { FIRST_ADMIN_TOKEN, READY, npmStartEnvironment, type NpmStartPorts } from '../support/npm-start';
import { requireEnv, uniqueName } from '../support/system';

/** `npm start` exactly as a newcomer runs it, on embedded defaults, in a fresh data folder (npmStartEnvironment). */
describe('npm start', () => {
  let dataDir: string;
  let env: Record<string, string | undefined>;
  let ports: NpmStartPorts;
  let running: LongRunning | undefined;

  beforeAll(async () => {
    ({ dataDir, env, ports } = await npmStartEnvironment('npm-start-'));
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
    const [, adminToken] = await running.waitFor(FIRST_ADMIN_TOKEN, 180_000);
    await running.waitFor(READY, 10_000);
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
    await running.waitFor(READY, 180_000);
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
    await running.waitFor(READY, 180_000);
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
    await new Promise<void>((resolve) => occupied.listen({ host: '127.0.0.1', port: ports[port as keyof NpmStartPorts] }, resolve));
    const freshDir = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('npm-start-taken-'));
    try {
      const result = await runCliAsync(['start'], { ...env, KEYROTOR_DATA_DIR: freshDir });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`${what} cannot listen on 127.0.0.1:${ports[port as keyof NpmStartPorts]}: something else already uses that port`);
      expect(result.stderr).toContain(setting);
      expect(result.stderr).not.toContain('unexpected failure');
      expect(existsSync(freshDir) ? readdirSync(freshDir) : []).toEqual([]);
    } finally {
      await new Promise((resolve) => occupied.close(resolve));
    }
  });

  it('a worker started on its own refuses a taken metrics port the same way, naming the port and the setting', async () => {
    const occupied: Server = createServer();
    await new Promise<void>((resolve) => occupied.listen({ host: '127.0.0.1', port: ports.metrics }, resolve));
    try {
      const result = await runCliAsync(['worker', 'hsm', '--node', 'hsm-1'], env);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`the workers' metrics cannot listen on 127.0.0.1:${ports.metrics}: something else already uses that port`);
      expect(result.stderr).toContain('KEYROTOR_WORKER_METRICS_PORT');
      expect(result.stderr).not.toContain('unexpected failure');
    } finally {
      await new Promise((resolve) => occupied.close(resolve));
    }
  });
});
