import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { readSecret } from '../../adapters/secrets';
import { startTemporalDevServer, type DevServerHandle, type DevServerOptions } from '../../adapters/temporal/dev-server';
import { findSoftHsmModule, projectRoot } from '../../scripts/tool-paths';
import { runCliAsync, startLongRunning, type LongRunning } from '../support/cli';
import { startEmbeddedCluster, type EmbeddedCluster } from '../support/embedded-postgres';
import type { TokenAccess } from '../support/pkcs11-listing';
import { freePort } from '../support/ports';
import { softHsmFolder } from '../support/softhsm-folder';

/**
 * keyrotor in its production topology, as separate processes that a fault scenario can freeze, kill and start again:
 * `keyrotor provision` once, then `keyrotor api`, `keyrotor worker control` and one `keyrotor worker hsm --node X` per
 * node, on a Temporal dev server (with its SQLite file) and an embedded PostgreSQL of the stack's own, so that both
 * servers can be restarted on their data too. Each stack has its own data folder, SoftHSM token folder and ports.
 */

export type StackProcess = 'api' | 'control' | `hsm:${string}`;

export interface FaultStack {
  apiUrl: string;
  adminToken: string;
  temporalAddress: string;
  dataDir: string;
  /** Each node with what pkcs11-tool needs to read its token (PIN included: throwaway test tokens only). */
  nodes: Array<{ id: string } & TokenAccess>;
  /** One API call as the admin; `body` is the parsed JSON reply (null when there is none). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the shared interface: scenarios read replies of every route
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** SIGSTOP (with freezeFirst, so it can report nothing more), then SIGKILL; resolves once the process is gone. */
  kill(process: StackProcess, options?: { freezeFirst?: boolean }): Promise<void>;
  /** SIGSTOP: the process stops where it is; its outstanding poll may still take a task, which then goes nowhere. */
  freeze(process: StackProcess): void;
  /** SIGCONT: a frozen process goes on where it stopped. */
  thaw(process: StackProcess): void;
  /** Starts the process (again) and waits for its ready line. */
  start(process: StackProcess): Promise<void>;
  /**
   * Starts a fresh copy of the (frozen) process, then SIGKILLs the old one: a worker is back the moment the old one
   * dies, so what follows measures the system's retry, not the machine's start-up time. Resolves with the moment the
   * fresh copy was ready and the old one gone.
   */
  replace(process: StackProcess): Promise<number>;
  /** Stops the Temporal dev server, waits `downMs`, starts it again on the same SQLite file and port. */
  restartTemporal(options?: { downMs?: number }): Promise<void>;
  /** Stops PostgreSQL, waits `downMs`, starts it again on the same data folder and port. */
  restartPostgres(options?: { downMs?: number }): Promise<void>;
  /** The workflow's whole history, as the Temporal server keeps it. */
  history(workflowId: string): Promise<temporal.api.history.v1.IHistoryEvent[]>;
  /** The Temporal client the stack uses for history (describe, queries). */
  temporalClient(): Client;
  /** Everything a process printed so far (its last start), for a witness line when it misbehaves. */
  output(process: StackProcess): string;
  stop(): Promise<void>;
}

export interface FaultStackOptions {
  /** HSM nodes (3 unless said). */
  nodes?: number;
  /** Extra environment for every keyrotor process (KEYROTOR_* settings). */
  env?: Record<string, string>;
  /** Where the stack keeps its data; a fresh folder under the test run's (jest) or .keyrotor-faults/ otherwise. */
  dataDir?: string;
  log?: (line: string) => void;
}

const READY: Record<'api' | 'control' | 'hsm', RegExp> = {
  api: /API listening on/,
  control: /control worker running/,
  hsm: /running; SIGINT or SIGTERM stops it/,
};
const START_TIMEOUT_MS = 120_000;

/** The stop of every stack this process started and has not stopped yet: `npm run faults` stops them on Ctrl-C. */
const liveStacks = new Set<() => Promise<void>>();

export async function stopEveryStack(): Promise<void> {
  await Promise.allSettled([...liveStacks].map((stop) => stop()));
}

function stackDataDir(): string {
  const stamp = `stack-${process.pid}-${randomBytes(3).toString('hex')}`;
  const runDir = process.env.KEYROTOR_TEST_RUN_DIR;
  // Under jest: inside the run's folder, which global-setup removes with the run; otherwise a folder of its own.
  return runDir ? join(runDir, stamp) : join(projectRoot, '.keyrotor-faults', stamp);
}

function nodeOf(name: StackProcess): string | null {
  return name.startsWith('hsm:') ? name.slice('hsm:'.length) : null;
}

export async function startFaultStack(options: FaultStackOptions = {}): Promise<FaultStack> {
  const log = options.log ?? (() => undefined);
  const softHsmModule = findSoftHsmModule();
  if (!softHsmModule) throw new Error('SoftHSMv2 is not installed: run `npm test` or `npm start` once, whose bootstrap installs it');
  const dataDir = options.dataDir ?? stackDataDir();
  mkdirSync(dataDir, { recursive: true });

  // SoftHSM tokens of this stack only: its own configuration and token folder, for every process and for pkcs11-tool.
  const softhsmConf = softHsmFolder(join(dataDir, 'softhsm'));
  const moduleEnv = { SOFTHSM2_CONF: softhsmConf };

  const nodeIds = Array.from({ length: options.nodes ?? 3 }, (_unused, index) => `hsm-${index + 1}`);
  const configFile = join(dataDir, 'keyrotor.config.json');
  writeFileSync(configFile, JSON.stringify({ hsm: { nodes: nodeIds.map((id) => ({ id, modulePath: softHsmModule, tokenLabel: `keyrotor-${id}` })) } }));

  const postgresDir = join(dataDir, 'postgres-data');
  const postgresPort = await freePort();
  let postgres: EmbeddedCluster | undefined = await startEmbeddedCluster(postgresDir, postgresPort);
  log(`PostgreSQL on 127.0.0.1:${postgresPort} (${postgresDir})`);
  const temporalOptions: DevServerOptions = { dataDir: join(dataDir, 'temporal'), port: await freePort(), uiPort: await freePort(), namespace: 'default', log };
  let temporalServer: DevServerHandle | undefined;
  const running = new Map<StackProcess, LongRunning>();
  let connection: Connection | undefined;

  const stopServers = async (): Promise<void> => {
    liveStacks.delete(stopServers);
    await Promise.all([...running.values()].map((child) => child.stop('SIGKILL', 5000)));
    running.clear();
    await connection?.close().catch(() => undefined);
    await temporalServer?.stop();
    temporalServer = undefined;
    await postgres?.stop().catch((error: unknown) => log(`PostgreSQL stopped badly: ${error instanceof Error ? error.message : String(error)}`));
    postgres = undefined;
  };

  liveStacks.add(stopServers);
  try {
    temporalServer = await startTemporalDevServer(temporalOptions);
    const apiPort = await freePort();
    const env: Record<string, string | undefined> = {
      ...process.env,
      ...moduleEnv,
      KEYROTOR_CONFIG: configFile,
      KEYROTOR_DATA_DIR: dataDir,
      DATABASE_URL: postgres.url,
      KEYROTOR_DATABASE_OWNER_URL: postgres.ownerUrl,
      TEMPORAL_ADDRESS: temporalServer.address,
      KEYROTOR_API_PORT: String(apiPort),
      KEYROTOR_WORKER_METRICS_PORT: '0',
      KEYROTOR_ADMIN_TOKEN: undefined,
      KEYROTOR_HSM_PING_TIMEOUT_MS: '2000',
      KEYROTOR_SHUTDOWN_GRACE_MS: '2000',
      KEYROTOR_ENTROPY_ASSESSMENT_SAMPLES: '20000',
      ...options.env,
    };

    const provision = await runCliAsync(['provision'], env, 180_000);
    const adminToken = /first admin API token \(shown once, stored only as a hash\): (kr_\S+)/.exec(provision.stdout)?.[1];
    if (provision.code !== 0 || !adminToken) throw new Error(`keyrotor provision failed (${provision.code}):\n${provision.stdout}\n${provision.stderr}`);
    log(`provisioned ${nodeIds.length} node(s) in ${dataDir}`);

    const argsOf = (name: StackProcess): string[] => {
      const node = nodeOf(name);
      if (node !== null) return ['worker', 'hsm', '--node', node];
      return name === 'api' ? ['api'] : ['worker', 'control'];
    };
    const readyOf = (name: StackProcess): RegExp => READY[nodeOf(name) !== null ? 'hsm' : (name as 'api' | 'control')];
    const known = (name: StackProcess): void => {
      const node = nodeOf(name);
      if (node !== null && !nodeIds.includes(node)) throw new Error(`this stack has no node '${node}' (it has ${nodeIds.join(', ')})`);
    };
    const pidOf = (name: StackProcess): number => {
      const child = running.get(name);
      if (!child?.child.pid) throw new Error(`${name} is not running`);
      return child.child.pid;
    };

    const start = async (name: StackProcess): Promise<void> => {
      known(name);
      const before = running.get(name);
      if (before && before.child.exitCode === null && before.child.signalCode === null) throw new Error(`${name} is already running`);
      const child = startLongRunning(process.execPath, ['bin/keyrotor.js', ...argsOf(name)], env);
      running.set(name, child);
      await child.waitFor(readyOf(name), START_TIMEOUT_MS);
      log(`${name} started (pid ${child.child.pid ?? '?'})`);
    };
    const kill = async (name: StackProcess, killOptions: { freezeFirst?: boolean } = {}): Promise<void> => {
      const child = running.get(name);
      if (!child) throw new Error(`${name} is not running`);
      if (killOptions.freezeFirst) process.kill(pidOf(name), 'SIGSTOP');
      await child.stop('SIGKILL', 5000);
      running.delete(name);
      log(`${name} killed`);
    };

    const replace = async (name: StackProcess): Promise<number> => {
      const old = running.get(name);
      if (!old) throw new Error(`${name} is not running`);
      const fresh = startLongRunning(process.execPath, ['bin/keyrotor.js', ...argsOf(name)], env);
      const ready = fresh.waitFor(readyOf(name), START_TIMEOUT_MS);
      ready.catch(() => undefined);
      // The frozen process may hold a lock the fresh one needs to start (a token file): it goes after a while anyway.
      await Promise.race([ready, new Promise((resolve) => setTimeout(resolve, 30_000))]);
      await old.stop('SIGKILL', 5000);
      running.set(name, fresh);
      await ready;
      log(`${name} replaced (pid ${old.child.pid ?? '?'} killed, pid ${fresh.child.pid ?? '?'} running)`);
      return Date.now();
    };

    await Promise.all(['api', 'control', ...nodeIds.map((id) => `hsm:${id}`)].map((name) => start(name as StackProcess)));
    connection = await Connection.connect({ address: temporalServer.address });
    const client = new Client({ connection, namespace: 'default' });
    const apiUrl = `http://127.0.0.1:${apiPort}`;

    return {
      apiUrl,
      adminToken,
      temporalAddress: temporalServer.address,
      dataDir,
      nodes: nodeIds.map((id) => ({ id, modulePath: softHsmModule, tokenLabel: `keyrotor-${id}`, pin: readSecret({ file: join(dataDir, 'secrets', `${id}.pin`) }, `node ${id}: PIN`), env: moduleEnv })),
      async api(method, path, body, headers = {}) {
        const response = await fetch(`${apiUrl}${path}`, {
          method,
          headers: { ...headers, authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await response.text();
        return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
      },
      kill,
      freeze(name) {
        process.kill(pidOf(name), 'SIGSTOP');
        log(`${name} frozen`);
      },
      thaw(name) {
        process.kill(pidOf(name), 'SIGCONT');
        log(`${name} thawed`);
      },
      start,
      replace,
      async restartTemporal(restart = {}) {
        await temporalServer?.stop();
        temporalServer = undefined;
        log('Temporal stopped');
        await new Promise((resolve) => setTimeout(resolve, restart.downMs ?? 0));
        temporalServer = await startTemporalDevServer(temporalOptions);
        log('Temporal started again');
      },
      async restartPostgres(restart = {}) {
        await postgres?.stop();
        postgres = undefined;
        log('PostgreSQL stopped');
        await new Promise((resolve) => setTimeout(resolve, restart.downMs ?? 0));
        postgres = await startEmbeddedCluster(postgresDir, postgresPort);
        log('PostgreSQL started again');
      },
      async history(workflowId) {
        const { events } = await client.workflow.getHandle(workflowId).fetchHistory();
        return events ?? [];
      },
      temporalClient: () => client,
      output: (name) => running.get(name)?.output() ?? '',
      stop: stopServers,
    };
  } catch (error) {
    await stopServers();
    throw error;
  }
}
