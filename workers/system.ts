import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type WorkflowBundle } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { describeModuleEnvs, sharedModuleEnv } from '../adapters/pkcs11/module-environment';
import { provisionCluster, type ProvisionReport } from '../adapters/pkcs11/provision';
import { appendAudit } from '../adapters/postgres/audit-repository';
import { reconcileClusterWrappingKeys } from '../adapters/postgres/cluster-wrapping-key-repository';
import type { Database } from '../adapters/postgres/database';
import { startEmbeddedPostgres } from '../adapters/postgres/embedded';
import { openApplicationDatabase } from '../adapters/postgres/roles';
import { ensureAdminToken } from '../adapters/postgres/token-repository';
import { startTemporalDevServer } from '../adapters/temporal/dev-server';
import { ensureEverySchedule } from '../adapters/temporal/schedules';
import { ensureSearchAttributes } from '../adapters/temporal/search-attributes';
import { AlertDispatcher } from '../adapters/webhooks/alert-dispatcher';
import { buildApp } from '../api/app';
import type { KeyrotorConfig } from '../domain/config';
import { ConfigError } from '../domain/errors';
import { prepareControlWorker } from './control-worker';
import { startHsmWorker, type RunningWorker } from './hsm-worker';
import { temporalConnectionOptions } from '../adapters/temporal/connection';
import { assertApiPortFree, assertPortFree, listenApi } from '../adapters/listen';
import { processSetting } from '../adapters/config-loader';

export interface SystemOptions {
  log: (message: string) => void;
  /** Prebuilt workflow bundle (tests bundle once); otherwise the control worker bundles at start. */
  workflowBundle?: WorkflowBundle;
  /** Pass false to build the API without listening (tests use inject). */
  listen?: boolean;
  apiLogger?: boolean;
  /** Pass false to leave the schedules alone (entropy harvest, usage retention, threat feed; tests that do not need them). */
  /** Pass false to leave the entropyHarvest and keymapSync schedules alone (tests that do not harvest or sync). */
  schedules?: boolean;
}

export interface RunningSystem {
  config: KeyrotorConfig;
  provision: ProvisionReport;
  db: Database;
  databaseUrl: string;
  temporalAddress: string;
  temporalUiUrl: string | undefined;
  client: Client;
  app: FastifyInstance;
  apiUrl: string;
  /** The first admin token, when this start created it; shown once. */
  createdAdminToken: string | undefined;
  hsmWorkers: Map<string, RunningWorker>;
  controlWorker: RunningWorker;
  /** Stops one node's worker, as if its host went away (health tests). */
  stopHsmWorker(nodeId: string): Promise<void>;
  startHsmWorker(nodeId: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Brings up the whole system in this process, in dependency order: HSM nodes (checked before anything else starts, so
 * a bad configuration leaves nothing behind), PostgreSQL, Temporal, workers, API. A failure stops what had started.
 */
export async function startSystem(config: KeyrotorConfig, options: SystemOptions): Promise<RunningSystem> {
  const { log } = options;
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  const stopAll = async (): Promise<void> => {
    for (const { name, stop } of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        log(`stopping ${name} failed: ${(error as Error).message}`);
      }
    }
    stops.length = 0;
  };

  // Every HSM worker runs in this process, and a module reads its environment once per process.
  if (!sharedModuleEnv(config.hsm.nodes)) {
    throw new ConfigError([
      `hsm.nodes: keyrotor start runs every node's worker in one process, so the nodes must share one moduleEnv (${describeModuleEnvs(config.hsm.nodes)}); run keyrotor provision and one keyrotor worker hsm --node <id> per node instead (see docker-compose.yml)`,
    ]);
  }
  // A port that is taken fails the start before any token, database or server exists.
  if (options.listen !== false) await assertApiPortFree(config.api.host, config.api.port);
  // A PostgreSQL left running by a crashed start of this data folder holds its port: the embedded start stops it first.
  if (!config.database.url && !existsSync(join(config.dataDir, 'postgres', 'postmaster.pid'))) {
    await assertPortFree('127.0.0.1', config.database.embeddedPort, { what: 'embedded PostgreSQL', setting: 'KEYROTOR_PG_PORT (database.embeddedPort)', otherwise: 'set DATABASE_URL to a server' });
  }
  if (!config.temporal.address) {
    const otherwise = 'set TEMPORAL_ADDRESS to a running Temporal';
    await assertPortFree('127.0.0.1', config.temporal.devServerPort, { what: 'the Temporal dev server', setting: 'KEYROTOR_TEMPORAL_PORT (temporal.devServerPort)', otherwise });
    await assertPortFree('127.0.0.1', config.temporal.uiPort, { what: 'the Temporal Web UI', setting: 'KEYROTOR_TEMPORAL_UI_PORT (temporal.uiPort)', otherwise });
  }
  try {
    log(`checking ${config.hsm.nodes.length} HSM node(s)`);
    // The database opens once the nodes are ready and before provisioning returns: nodes that hold other cluster
    // wrapping keys than those the database recorded stop the start, and what provisioning made in it is undone.
    let opened: { db: Database; databaseUrl: string } | undefined;
    const provision = await provisionCluster(config, log, async (report) => {
      let databaseUrls: { url: string; ownerUrl?: string };
      if (config.database.url) {
        databaseUrls = { url: config.database.url, ...(config.database.ownerUrl ? { ownerUrl: config.database.ownerUrl } : {}) };
      } else {
        const pg = await startEmbeddedPostgres(config.dataDir, config.database.embeddedPort, log);
        stops.push({ name: 'embedded PostgreSQL', stop: () => pg.stop() });
        databaseUrls = { url: pg.url, ownerUrl: pg.ownerUrl };
      }
      const { db, applied } = await openApplicationDatabase(databaseUrls, log);
      stops.push({ name: 'database pool', stop: () => db.close() });
      if (applied.length === 0) log('database schema is up to date');
      opened = { db, databaseUrl: databaseUrls.url };
      await reconcileClusterWrappingKeys(db, report.wrappingKeys);
    });
    if (!opened) throw new Error('provisioning returned without opening the database');
    const { db, databaseUrl } = opened;

    let temporalAddress = config.temporal.address;
    let temporalUiUrl: string | undefined;
    if (!temporalAddress) {
      const server = await startTemporalDevServer({
        dataDir: config.dataDir,
        port: config.temporal.devServerPort,
        uiPort: config.temporal.uiPort,
        namespace: config.temporal.namespace,
        log,
      });
      stops.push({ name: 'Temporal dev server', stop: () => server.stop() });
      temporalAddress = server.address;
      temporalUiUrl = server.uiUrl;
    }
    const connection = await Connection.connect(temporalConnectionOptions(config, temporalAddress));
    stops.push({ name: 'Temporal client connection', stop: () => connection.close() });
    const added = await ensureSearchAttributes(connection, config.temporal.namespace);
    if (added.length > 0) log(`registered search attributes ${added.join(', ')}`);
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const workerConnection = await NativeConnection.connect(temporalConnectionOptions(config, temporalAddress));
    stops.push({ name: 'Temporal worker connection', stop: () => workerConnection.close() });

    const workerOptions = { connection: workerConnection, namespace: config.temporal.namespace, shutdownGraceMs: config.shutdownGraceMs };
    const hsmWorkerOptions = { ...workerOptions, entropy: config.entropy };
    // The control worker polls last, once the rest of the start (the API's routes and schemas, the HSM workers, the
    // schedules) no longer holds this process's event loop: a workflow task it takes must finish within 10 s, and after
    // a crash each key's first task replays its history. Taken during the start on a loaded machine, those first tasks
    // timed out and Temporal retried them with a backoff: keys moved again only 58–177 s after a restart.
    log('preparing the control worker (its workflow code)');
    const preparedControlWorker = await prepareControlWorker({ ...workerOptions, db, config, ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : {}) });
    // A start that fails before the control worker runs must still release it, or the worker connection cannot close.
    stops.push({ name: 'control worker (prepared)', stop: () => preparedControlWorker.discard() });
    const app = await buildApp({ config, db, temporal: client }, options.apiLogger === false ? { logger: false } : {});
    const hsmWorkers = new Map<string, RunningWorker>();
    const startNodeWorker = async (nodeId: string): Promise<void> => {
      const node = config.hsm.nodes.find((candidate) => candidate.id === nodeId);
      if (!node) throw new Error(`no HSM node '${nodeId}' is configured`);
      if (hsmWorkers.has(nodeId)) return;
      const worker = await startHsmWorker({ ...hsmWorkerOptions, node });
      worker.done.catch((error: unknown) => log(`the HSM worker of ${nodeId} stopped with an error: ${(error as Error).message}`));
      hsmWorkers.set(nodeId, worker);
    };
    const stopNodeWorker = async (nodeId: string): Promise<void> => {
      const worker = hsmWorkers.get(nodeId);
      hsmWorkers.delete(nodeId);
      await worker?.shutdown();
    };
    stops.push({ name: 'HSM workers', stop: async () => void (await Promise.allSettled([...hsmWorkers.keys()].map((id) => stopNodeWorker(id)))) });
    for (const node of config.hsm.nodes) {
      log(`starting the HSM worker of ${node.id} on task queue hsm.${node.id}`);
      await startNodeWorker(node.id);
    }

    if (options.schedules !== false) await ensureEverySchedule(client, config, log);

    const { created: createdAdminToken } = await ensureAdminToken(db, processSetting('adminToken'));
    await db.transaction((tx) =>
      appendAudit(tx, {
        actor: 'system',
        action: 'system.started',
        subject: 'cluster',
        details: { nodes: config.hsm.nodes.map((node) => node.id), wrappingKeys: provision.wrappingKeys, createdTokens: provision.createdTokens },
      }),
    );

    const dispatcher = new AlertDispatcher(db, config.alerts.webhooks, { allowedTargets: config.webhooks.allowedTargets }, log);
    dispatcher.start();
    stops.push({ name: 'alert dispatcher', stop: () => dispatcher.stop() });

    log('starting the control worker');
    const controlWorker = preparedControlWorker.run();
    controlWorker.done.catch((error: unknown) => log(`the control worker stopped with an error: ${(error as Error).message}`));
    stops.push({ name: 'control worker', stop: () => controlWorker.shutdown() });
    stops.push({ name: 'API', stop: () => app.close() });
    let apiUrl = `http://${config.api.host}:${config.api.port}`;
    if (options.listen !== false) {
      apiUrl = await listenApi(app, config.api.host, config.api.port);
    }

    return {
      config,
      provision,
      db,
      databaseUrl,
      temporalAddress,
      temporalUiUrl,
      client,
      app,
      apiUrl,
      createdAdminToken,
      hsmWorkers,
      controlWorker,
      stopHsmWorker: stopNodeWorker,
      startHsmWorker: startNodeWorker,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
