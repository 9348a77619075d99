import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { parse } from 'yaml';
import { startTemporalDevServer, type DevServerHandle } from '../../adapters/temporal/dev-server';
import { projectRoot } from '../../scripts/tool-paths';
import { runCli, startLongRunning, type LongRunning } from '../support/cli';
import { eventually } from '../support/eventually';
import { freePort } from '../support/ports';
import { requireEnv, uniqueName } from '../support/system';

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
}

const compose = parse(readFileSync(join(projectRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };
const services = compose.services;

/** The ENV of the Dockerfile's final stage: what every keyrotor container starts with. */
function imageEnvironment(): Record<string, string> {
  const dockerfile = readFileSync(join(projectRoot, 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of finalStage.split('\n').filter((l) => l.startsWith('ENV '))) {
    for (const [, key, value] of line.slice(4).matchAll(/(\w+)=(\S+)/g)) env[key as string] = value as string;
  }
  return env;
}

describe('docker-compose.yml describes the production topology', () => {
  it('has every service with its image or build, command, health check and dependencies', () => {
    const summary = Object.fromEntries(Object.entries(services).map(([name, s]) => [name, {
      from: s.build ? `build ${s.build}` : s.image?.split(':')[0],
      command: s.command?.join(' ') ?? null,
      replicas: s.deploy?.replicas ?? 1,
      health: Boolean(s.healthcheck),
      after: Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([dependency, { condition }]) => [dependency, condition])),
    }]));
    const keyrotor = (command: string, replicas = 1, health = false) => ({ from: 'build .', command, replicas, health, after: { provision: 'service_completed_successfully' } });
    expect(summary).toEqual({
      postgres: { from: 'postgres', command: null, replicas: 1, health: true, after: {} },
      'temporal-schema': { from: 'temporalio/admin-tools', command: expect.stringContaining('temporal-sql-tool'), replicas: 1, health: false, after: { postgres: 'service_healthy' } },
      temporal: { from: 'temporalio/server', command: null, replicas: 1, health: true, after: { 'temporal-schema': 'service_completed_successfully' } },
      'temporal-ui': { from: 'temporalio/ui', command: null, replicas: 1, health: false, after: { temporal: 'service_healthy' } },
      provision: { from: 'build .', command: 'provision', replicas: 1, health: false, after: { postgres: 'service_healthy', temporal: 'service_healthy' } },
      api: keyrotor('api', 2, true),
      'worker-control': keyrotor('worker control', 2),
      'worker-hsm-1': keyrotor('worker hsm --node hsm-1'),
      'worker-hsm-2': keyrotor('worker hsm --node hsm-2'),
      'worker-hsm-3': keyrotor('worker hsm --node hsm-3'),
    });
    expect(services['temporal-schema']?.command?.join(' ')).toContain('--db temporal setup-schema');
    expect(services.temporal?.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgres', BIND_ON_IP: '0.0.0.0' });
    expect(services['temporal-ui']?.environment).toEqual({ TEMPORAL_ADDRESS: 'temporal:7233' });
    expect(Object.keys(compose.volumes).sort()).toEqual(['keyrotor-secrets', 'postgres-data', 'softhsm-tokens']);
  });

  it('gives every keyrotor service its configuration through the environment, and holds no secret itself', () => {
    for (const name of ['provision', 'api', 'worker-control', 'worker-hsm-1', 'worker-hsm-2', 'worker-hsm-3']) {
      const service = services[name] as ComposeService;
      expect({ name, env: Object.keys(service.environment ?? {}).sort() }).toEqual({
        name,
        env: ['DATABASE_URL', 'KEYROTOR_CONFIG', 'SOFTHSM2_CONF', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', ...(name === 'provision' ? ['KEYROTOR_ADMIN_TOKEN'] : [])].sort(),
      });
      expect(service.volumes).toEqual(expect.arrayContaining(['softhsm-tokens:/var/lib/softhsm/tokens', 'keyrotor-secrets:/var/lib/keyrotor/secrets']));
    }
    const text = readFileSync(join(projectRoot, 'docker-compose.yml'), 'utf8');
    // Passwords and tokens appear only as required variables, filled from the environment at `docker compose up`.
    const secretSettings = [...text.matchAll(/^\s*\w*(?:PASSWORD|PWD|TOKEN|SECRET)\w*:\s*(\S+)/gm)].map((match) => match[1]);
    expect(secretSettings.length).toBeGreaterThanOrEqual(4);
    for (const value of secretSettings) expect(value).toMatch(/^\$\{[A-Z_]+:\?/);
    expect(text).toMatch(/postgres:\/\/keyrotor:\$\{POSTGRES_PASSWORD:\?[^}]*\}@postgres:5432\/keyrotor/);
    expect(imageEnvironment()).toEqual({ NODE_ENV: 'production', KEYROTOR_WORKFLOW_BUNDLE: '/app/workflow-bundle.js', KEYROTOR_DATA_DIR: '/var/lib/keyrotor', KEYROTOR_API_HOST: '0.0.0.0' });
  });
});

/**
 * The same topology as processes on this machine: one Temporal dev server, one PostgreSQL, then each keyrotor service
 * with exactly the command and environment the compose file (and the image's ENV) gives it. Only what a container
 * would see differently is translated: service host names to 127.0.0.1 and their ports, the database name (the
 * PostgreSQL server is the test run's), container paths to the local folders that stand for the volumes, and each
 * process's own listening ports.
 */
describe('the production topology as separate processes', () => {
  const root = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('topology-'));
  let temporal: DevServerHandle;
  const processes: LongRunning[] = [];

  afterAll(async () => {
    await Promise.all(processes.map((child) => child.stop('SIGTERM', 20_000)));
    await temporal?.stop();
  });

  it('provisions, runs two APIs, two control workers and three HSM workers, and a rotation survives a control worker stopping', async () => {
    mkdirSync(root, { recursive: true });
    const password = randomBytes(12).toString('hex');
    const adminToken = `kr_${randomBytes(32).toString('base64url')}`;
    // The run's PostgreSQL server, with the compose file's role; the database gets a name of its own on the shared server.
    const server = new URL(requireEnv('KEYROTOR_TEST_DATABASE_URL'));
    const pgPort = Number(server.port);
    const database = uniqueName('topology_');
    const admin = new pg.Client({ connectionString: server.toString() });
    await admin.connect();
    await admin.query(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'keyrotor') THEN CREATE ROLE keyrotor LOGIN; END IF; END $$`);
    await admin.query(`ALTER ROLE keyrotor PASSWORD '${password}'`);
    await admin.query(`CREATE DATABASE ${database} OWNER keyrotor`);
    await admin.end();
    const temporalPort = await freePort();
    temporal = await startTemporalDevServer({ dataDir: join(root, 'temporal'), port: temporalPort, uiPort: await freePort(), namespace: 'default', log: () => undefined });

    // Local folders standing for the container paths.
    const dataDir = join(root, 'var-lib-keyrotor');
    const tokenDir = join(root, 'softhsm-tokens');
    mkdirSync(join(dataDir, 'secrets'), { recursive: true });
    mkdirSync(tokenDir, { recursive: true });
    const softhsmConf = join(root, 'softhsm2.conf');
    writeFileSync(softhsmConf, readFileSync(join(projectRoot, 'deploy', 'softhsm2.conf'), 'utf8').replace('/var/lib/softhsm/tokens', tokenDir));
    const bundle = join(root, 'workflow-bundle.js');
    expect(runCli(['bundle-workflows', bundle], process.env).code).toBe(0);
    const paths: Record<string, string> = {
      '/etc/keyrotor/keyrotor.config.json': join(projectRoot, 'deploy', 'keyrotor.config.json'),
      '/etc/keyrotor/softhsm2.conf': softhsmConf,
      '/var/lib/keyrotor': dataDir,
      '/app/workflow-bundle.js': bundle,
    };
    const variables: Record<string, string> = { POSTGRES_PASSWORD: password, KEYROTOR_ADMIN_TOKEN: adminToken };
    const translate = (value: string): string => {
      let out = value.replace(/\$\{(\w+):\?[^}]*\}/g, (_, name: string) => variables[name] ?? '');
      out = out.replace('@postgres:5432/keyrotor', `@127.0.0.1:${pgPort}/${database}`).replace(/^temporal:7233$/, `127.0.0.1:${temporalPort}`);
      return paths[out] ?? out;
    };
    const environmentOf = async (service: string): Promise<Record<string, string | undefined>> => {
      const own = Object.fromEntries(Object.entries({ ...imageEnvironment(), ...services[service]?.environment }).map(([key, value]) => [key, translate(value)]));
      return {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...own,
        KEYROTOR_API_HOST: '127.0.0.1',
        KEYROTOR_API_PORT: String(await freePort()),
        KEYROTOR_WORKER_METRICS_PORT: String(await freePort()),
        // A first harvest assesses 1,000,000 samples per source; this test is about the topology, not the estimators.
        KEYROTOR_ENTROPY_ASSESSMENT_SAMPLES: '20000',
      };
    };
    const launch = async (service: string, ready: RegExp): Promise<{ child: LongRunning; env: Record<string, string | undefined> }> => {
      const env = await environmentOf(service);
      const child = startLongRunning(process.execPath, ['bin/keyrotor.js', ...(services[service]?.command ?? [])], env);
      processes.push(child);
      await child.waitFor(ready, 120_000);
      return { child, env };
    };

    const provision = runCli(services.provision?.command ?? [], await environmentOf('provision'), 180_000);
    expect(provision.code).toBe(0);
    expect(provision.stdout).toContain('provisioned');

    const [api1, api2, control1] = await Promise.all([
      launch('api', /API listening on/),
      launch('api', /API listening on/),
      launch('worker-control', /control worker running/),
      launch('worker-control', /control worker running/),
      launch('worker-hsm-1', /running; SIGINT or SIGTERM/),
      launch('worker-hsm-2', /running; SIGINT or SIGTERM/),
      launch('worker-hsm-3', /running; SIGINT or SIGTERM/),
    ]);
    const call = async (api: typeof api1, method: string, path: string, body?: unknown) => {
      const response = await fetch(`http://127.0.0.1:${api.env.KEYROTOR_API_PORT}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };
    expect((await call(api2, 'GET', '/health')).json).toMatchObject({ status: 'ok', nodes: [{ id: 'hsm-1', status: 'up' }, { id: 'hsm-2', status: 'up' }, { id: 'hsm-3', status: 'up' }] });

    expect((await call(api1, 'POST', '/keys', { name: 'topology', type: 'rsa-2048' })).status).toBe(202);
    await eventually(async () => ((await call(api2, 'GET', '/keys/topology')).json.activeVersion === 1 ? true : undefined), 'v1 through the other API', 120_000);

    // Stop one control worker while the rotation is under way: the other takes over its workflow and activities.
    const rotation = call(api1, 'POST', '/keys/topology/rotate', { reason: 'control worker stops mid-rotation' });
    await eventually(async () => {
      const versions = (await call(api2, 'GET', '/keys/topology')).json.versions as Array<{ version: number }> | undefined;
      return versions?.some((v) => v.version === 2) ? true : undefined;
    }, 'v2 to be generated', 60_000, 50);
    await control1.child.stop('SIGKILL', 5000);
    const rotated = await rotation;
    expect(rotated).toMatchObject({ status: 200, json: { version: 2, previous: { version: 1, state: 'retiring' } } });
    expect((await call(api2, 'GET', '/keys/topology')).json).toMatchObject({ activeVersion: 2 });
  });
});
