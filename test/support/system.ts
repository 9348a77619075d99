import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowBundle } from '@temporalio/worker';
import pg from 'pg';
import { Database } from '../../adapters/postgres/database';
import { createToken, type Role } from '../../adapters/postgres/token-repository';
import { parseConfig, type KeyrotorConfig } from '../../domain/config';
import { findSoftHsmModule, projectRoot } from '../../scripts/tool-paths';
import { startSystem, type RunningSystem } from '../../workers/system';
import { unreplayableRuns } from './replay-check';
import { loadTestWorkflowBundle } from './workflow-bundle';

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run integration tests through jest (test/support/global-setup.ts)`);
  return value;
}

export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex')}`;
}

/**
 * A fresh database on the shared test PostgreSQL server, with two roles of its own as a deployment has them: one that
 * owns it and runs the migrations, and the application's, which owns nothing (README, "PostgreSQL roles").
 */
export async function createTestDatabase(): Promise<{ url: string; ownerUrl: string }> {
  const serverUrl = requireEnv('KEYROTOR_TEST_DATABASE_URL');
  const name = uniqueName('t_');
  const passwords = { owner: randomBytes(12).toString('hex'), app: randomBytes(12).toString('hex') };
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE ${name}_owner LOGIN PASSWORD '${passwords.owner}'`);
    await admin.query(`CREATE ROLE ${name}_app LOGIN PASSWORD '${passwords.app}'`);
    await admin.query(`CREATE DATABASE ${name} OWNER ${name}_owner`);
  } finally {
    await admin.end();
  }
  const urlOf = (role: string, password: string): string => {
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    url.username = role;
    url.password = password;
    return url.toString();
  };
  return { url: urlOf(`${name}_app`, passwords.app), ownerUrl: urlOf(`${name}_owner`, passwords.owner) };
}

/**
 * The test database of `config` as the server's superuser, for what only an intruder could do (switching the audit
 * log's trigger off, ageing rows): the system itself connects as a role that may not.
 */
export function superuserDatabase(config: KeyrotorConfig): Database {
  const url = new URL(requireEnv('KEYROTOR_TEST_DATABASE_URL'));
  url.pathname = new URL(config.database.url as string).pathname;
  return Database.connect(url.toString(), { max: 2, applicationName: 'keyrotor-test-superuser' });
}

let bundle: Promise<WorkflowBundle> | undefined;

/** The workflow bundle the global setup made for the whole run (test/support/workflow-bundle.ts), read once per file. */
export function testWorkflowBundle(): Promise<WorkflowBundle> {
  bundle ??= loadTestWorkflowBundle();
  return bundle;
}

export function softHsmModule(): string {
  const module = findSoftHsmModule();
  if (!module) throw new Error('SoftHSMv2 is not installed: run `npm test`, whose bootstrap installs it');
  return module;
}

/**
 * A configuration like the default one (three SoftHSM nodes), with node ids and token labels of its own so that test
 * files never share a task queue or a token, its own data folder and database, and the shared Temporal server.
 * `usage` is the file's usage section; `{prefix}` in it stands for the node ids' prefix (`{prefix}-hsm-2`).
 */
export async function testConfig(overrides: { env?: Record<string, string>; hsm?: Record<string, unknown>; usage?: Record<string, unknown> } = {}): Promise<KeyrotorConfig> {
  const prefix = uniqueName('');
  const dataDir = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), `system-${prefix}`);
  mkdirSync(dataDir, { recursive: true });
  const database = await createTestDatabase();
  return parseConfig({
    env: {
      KEYROTOR_DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      KEYROTOR_DATABASE_OWNER_URL: database.ownerUrl,
      TEMPORAL_ADDRESS: requireEnv('KEYROTOR_TEST_TEMPORAL_ADDRESS'),
      KEYROTOR_API_PORT: '0',
      KEYROTOR_HSM_PING_TIMEOUT_MS: '2000',
      KEYROTOR_SHUTDOWN_GRACE_MS: '2000',
      // Its own control queue too: a workflow a test file leaves running (a key's lifecycle wakes up on its timers) must
      // never run its activities on a later file's control worker, against that file's database.
      KEYROTOR_CONTROL_TASK_QUEUE: `keyrotor.control.${prefix}`,
      ...overrides.env,
    },
    file: {
      hsm: {
        nodes: [1, 2, 3].map((n) => ({ id: `${prefix}-hsm-${n}`, tokenLabel: `kr-${prefix}-hsm-${n}`, modulePath: softHsmModule() })),
        ...overrides.hsm,
      },
      ...(overrides.usage ? { usage: JSON.parse(JSON.stringify(overrides.usage).replaceAll('{prefix}', prefix)) as unknown } : {}),
    },
    projectRoot,
    softHsmModule: softHsmModule(),
  });
}

/**
 * The whole system for a test file. Its `stop` first replays every workflow run the system ran (test/support/replay-check.ts)
 * and, once stopped, fails with the runs that did not replay: every integration test is also a replay test.
 */
export async function startTestSystem(
  config?: KeyrotorConfig,
  options: { schedules?: boolean; log?: (line: string) => void; /** false for a test that leaves a run that cannot replay on purpose. */ replayCheck?: boolean } = {},
): Promise<RunningSystem> {
  const system = await startSystem(config ?? (await testConfig()), {
    log: options.log ?? (() => undefined),
    workflowBundle: await testWorkflowBundle(),
    listen: false,
    apiLogger: false,
    schedules: options.schedules ?? false,
  });
  if (options.replayCheck === false) return system;
  const stop = system.stop.bind(system);
  system.stop = async () => {
    let failed: string[] = [];
    try {
      failed = await unreplayableRuns(system, await testWorkflowBundle());
    } finally {
      await stop();
    }
    if (failed.length > 0) throw new Error(`${failed.length} workflow run(s) of this test cannot go on (test/support/replay-check.ts):\n${failed.join('\n')}`);
  };
  return system;
}

/** An API token of the given role, made through the repository as an admin would through the API. */
export async function tokenFor(system: RunningSystem, role: Role): Promise<string> {
  const { token } = await createToken(system.db, { name: `test ${role}`, role, actor: 'test' });
  return token;
}

/**
 * One API call as `token`, injected into the system's app (no port): the reply's status, its JSON body ({} when it has
 * none) and its content type.
 */
export async function callApiAs<T = Record<string, unknown>>(
  system: RunningSystem,
  token: string,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  payload?: unknown,
): Promise<{ status: number; body: T; contentType: string | undefined }> {
  const reply = await system.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
  const contentType = reply.headers['content-type'];
  return { status: reply.statusCode, body: reply.body === '' ? ({} as T) : reply.json<T>(), contentType: typeof contentType === 'string' ? contentType : undefined };
}
