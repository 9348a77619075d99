import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { UserError } from '../../domain/errors';
import { SEARCH_ATTRIBUTE_NAMES } from '../../domain/identifiers';
import { findOnPath, findTemporalCli } from '../../scripts/tool-paths';
import { isAlive } from '../processes';

export interface DevServerOptions {
  dataDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  log: (message: string) => void;
  /** Seconds to wait for the frontend to accept connections. */
  startTimeoutSeconds?: number;
  /**
   * Dynamic configuration values (`--dynamic-config-value name=value`, the value as JSON), for a server that must
   * behave as a loaded one does: a test gives `history.cacheMaxSize` a tiny size to see workflow contexts evicted.
   */
  dynamicConfig?: Readonly<Record<string, string | number | boolean>>;
}

export interface DevServerHandle {
  address: string;
  uiUrl: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

function portAcceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function dynamicConfigArgs(values: DevServerOptions['dynamicConfig']): string[] {
  return Object.entries(values ?? {}).flatMap(([name, value]) => ['--dynamic-config-value', `${name}=${JSON.stringify(value)}`]);
}

/** The dev server's SQLite file: write-ahead log, each commit synced (see startTemporalDevServer). */
const SQLITE_PRAGMAS = ['--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=full'] as const;

/**
 * Runs `temporal server start-dev` with a persistent SQLite file in the data folder, the Web UI, and keyrotor's
 * search attributes. The file is in write-ahead-log mode with full sync: each commit is one append and one fsync of
 * the log, where SQLite's default rollback journal syncs the journal and the database, and readers no longer block the
 * writer. A commit is as durable as before (synchronous=full); bench/rotation.ts measured 0.21 of the raw PKCS#11 rate
 * with the journal and 0.29–0.31 with the log. The CLI is found as the bootstrap installed it ($TEMPORAL_CLI, PATH,
 * .tools); without one the Temporal SDK's own download is the last resort.
 */
export async function startTemporalDevServer(options: DevServerOptions): Promise<DevServerHandle> {
  const { dataDir, port, uiPort, namespace, log } = options;
  mkdirSync(dataDir, { recursive: true });
  const dbFile = join(dataDir, 'temporal.db');
  const pidFile = join(dataDir, PID_FILE);
  await stopLeftover(pidFile, dbFile, log);
  if (await portAcceptsConnections(port)) {
    throw new UserError('port_in_use', `port ${port} is already in use, so the Temporal dev server cannot start; stop what uses it, set KEYROTOR_TEMPORAL_PORT, or point TEMPORAL_ADDRESS at a running server`);
  }
  const cli = findTemporalCli();
  if (!cli) return startWithSdkDownload(options);
  const args = [
    'server', 'start-dev',
    '--db-filename', dbFile,
    ...SQLITE_PRAGMAS,
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--ui-port', String(uiPort),
    '--namespace', namespace,
    '--ui-disable-news-fetch',
    '--log-level', 'warn',
    ...SEARCH_ATTRIBUTE_NAMES.flatMap((name) => ['--search-attribute', `${name}=Keyword`]),
    ...dynamicConfigArgs(options.dynamicConfig),
  ];
  const logFile = createWriteStream(join(dataDir, 'temporal-dev-server.log'), { flags: 'a' });
  // The server runs in a process group of its own: a signal to keyrotor's group (Ctrl-C, `kill -TERM -<pgid>`) must
  // not stop it before the workers have drained, which needs it. keyrotor stops it last. So that it still dies with
  // keyrotor when keyrotor is killed, it is started under `setpriv --pdeathsig KILL` where util-linux has it; a server
  // left over all the same is stopped by the next start (its pid file).
  const setpriv = findOnPath('setpriv');
  const [command, commandArgs] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', cli.path, ...args]] : [cli.path, args];
  const child: ChildProcess = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (child.pid !== undefined) writeFileSync(pidFile, `${child.pid}\n`);
  child.stdout?.pipe(logFile);
  child.stderr?.pipe(logFile);
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
    rmSync(pidFile, { force: true });
  });
  const deadline = Date.now() + (options.startTimeoutSeconds ?? 60) * 1000;
  while (!(await portAcceptsConnections(port))) {
    if (exited !== undefined) {
      throw new Error(`the Temporal dev server exited with code ${exited}; see ${join(dataDir, 'temporal-dev-server.log')}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the Temporal dev server did not listen on port ${port} in time; see ${join(dataDir, 'temporal-dev-server.log')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  log(`Temporal dev server (${cli.source}: ${cli.path}) listening on 127.0.0.1:${port}`);
  return {
    address: `127.0.0.1:${port}`,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    pid: child.pid,
    stop: () => stopChild(child, () => exited !== undefined),
  };
}

const PID_FILE = 'temporal-dev-server.pid';

/**
 * Stops a dev server that an earlier keyrotor left running on this data folder (keyrotor was killed where setpriv is
 * missing, or its pid was reused): without this the next start would find its port taken. Only a process whose
 * command line names this data folder's database file is touched.
 */
async function stopLeftover(pidFile: string, dbFile: string, log: (message: string) => void): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  let commandLine = '';
  try {
    commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    // No such process (or no /proc): nothing is left over.
  }
  if (Number.isInteger(pid) && pid > 0 && commandLine.includes(dbFile)) {
    log(`stopping a Temporal dev server (pid ${pid}) left running by an earlier keyrotor`);
    process.kill(pid, 'SIGTERM');
    for (let waited = 0; isAlive(pid); waited += 100) {
      if (waited === 10_000) process.kill(pid, 'SIGKILL');
      if (waited > 20_000) throw new Error(`the Temporal dev server pid ${pid} did not stop; stop it by hand (kill -9 ${pid}) and start again`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  rmSync(pidFile, { force: true });
}

async function stopChild(child: ChildProcess, hasExited: () => boolean): Promise<void> {
  if (hasExited()) return;
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await done;
  clearTimeout(timer);
}

async function startWithSdkDownload(options: DevServerOptions): Promise<DevServerHandle> {
  options.log('no Temporal CLI found; asking the Temporal SDK to download its dev server');
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const { defineSearchAttributeKey, SearchAttributeType } = await import('@temporalio/common');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      ip: '127.0.0.1',
      port: options.port,
      ui: true,
      uiPort: options.uiPort,
      namespace: options.namespace,
      dbFilename: join(options.dataDir, 'temporal.db'),
      extraArgs: [...SQLITE_PRAGMAS, ...dynamicConfigArgs(options.dynamicConfig)],
      searchAttributes: SEARCH_ATTRIBUTE_NAMES.map((name) => defineSearchAttributeKey(name, SearchAttributeType.KEYWORD)),
    },
  });
  return { address: `127.0.0.1:${options.port}`, uiUrl: `http://127.0.0.1:${options.uiPort}`, pid: undefined, stop: () => env.teardown() };
}
