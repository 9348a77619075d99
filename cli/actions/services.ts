import { Client, Connection } from '@temporalio/client';
import { loadConfig, processSetting } from '../../adapters/config-loader';
import { provisionCluster, type ProvisionReport } from '../../adapters/pkcs11/provision';
import { serveNodeProvisioning } from '../../adapters/pkcs11/provision-node';
import { reconcileClusterWrappingKeys } from '../../adapters/postgres/cluster-wrapping-key-repository';
import { Database } from '../../adapters/postgres/database';
import { openApplicationDatabase } from '../../adapters/postgres/roles';
import { ensureAdminToken } from '../../adapters/postgres/token-repository';
import { ensureEverySchedule } from '../../adapters/temporal/schedules';
import { ensureSearchAttributes } from '../../adapters/temporal/search-attributes';
import { AlertDispatcher } from '../../adapters/webhooks/alert-dispatcher';
import { buildApp } from '../../api/app';
import type { KeyrotorConfig } from '../../domain/config';
import { UserError } from '../../domain/errors';
import { untilSignal } from '../runtime';
import { temporalConnectionOptions } from '../../adapters/temporal/connection';
import { listenApi } from '../../adapters/listen';

const say = (message: string): void => {
  process.stdout.write(`[keyrotor] ${message}\n`);
};

/** The separate services run against a PostgreSQL server and a Temporal cluster; only `start` embeds them. */
function externalServices(config: KeyrotorConfig): { databaseUrl: string; temporalAddress: string } {
  const missing = [!config.database.url && 'DATABASE_URL', !config.temporal.address && 'TEMPORAL_ADDRESS'].filter(Boolean);
  if (missing.length > 0) throw new UserError('external_services_required', `this command runs beside a PostgreSQL server and a Temporal cluster: set ${missing.join(' and ')} (or use keyrotor start for the embedded ones)`);
  return { databaseUrl: config.database.url as string, temporalAddress: config.temporal.address as string };
}

/** `keyrotor provision`: sets up HSM tokens, the database, Temporal's search attributes and schedules, and the first admin token. */
export async function runProvision(): Promise<void> {
  const config = loadConfig();
  const { databaseUrl, temporalAddress } = externalServices(config);
  say(`checking ${config.hsm.nodes.length} HSM node(s)`);
  // The database opens before provisioning returns: nodes holding other cluster wrapping keys than those it recorded
  // stop here, and what provisioning made is undone.
  let opened: Database | undefined;
  let report: ProvisionReport;
  try {
    report = await provisionCluster(config, say, async (made) => {
      const { db, applied } = await openApplicationDatabase({ url: databaseUrl, ...(config.database.ownerUrl ? { ownerUrl: config.database.ownerUrl } : {}) }, say);
      opened = db;
      say(applied.length > 0 ? `applied migrations ${applied.join(', ')}` : 'database schema is up to date');
      await reconcileClusterWrappingKeys(db, made.wrappingKeys);
    });
  } catch (error) {
    await opened?.close();
    throw error;
  }
  if (!opened) throw new Error('provisioning returned without opening the database');
  const db = opened;
  say(`wrapping keys: ${Object.entries(report.wrappingKeys).map(([label, key]) => `${label} ${key.state} (check value ${key.checkValue})`).join(', ')}`);
  try {
    const connection = await Connection.connect(temporalConnectionOptions(config, temporalAddress));
    try {
      const added = await ensureSearchAttributes(connection, config.temporal.namespace);
      say(added.length > 0 ? `registered search attributes ${added.join(', ')}` : 'search attributes are registered');
      const client = new Client({ connection, namespace: config.temporal.namespace });
      await ensureEverySchedule(client, config, say);
    } finally {
      await connection.close();
    }
    const { created } = await ensureAdminToken(db, processSetting('adminToken'));
    if (created) say(`first admin API token (shown once, stored only as a hash): ${created}`);
  } finally {
    await db.close();
  }
  say('provisioned');
}

/** `keyrotor provision-node --node ID`: one node of `provision` in a process of its own (its requests on standard input). */
export async function runProvisionNode(nodeId: string): Promise<void> {
  await serveNodeProvisioning(nodeId);
}

/** `keyrotor api`: the API server alone until SIGINT or SIGTERM. */
export async function runApi(): Promise<void> {
  const config = loadConfig();
  const { databaseUrl, temporalAddress } = externalServices(config);
  const db = Database.connect(databaseUrl);
  const connection = await Connection.connect(temporalConnectionOptions(config, temporalAddress));
  const app = await buildApp({ config, db, temporal: new Client({ connection, namespace: config.temporal.namespace }) });
  const dispatcher = new AlertDispatcher(db, config.alerts.webhooks, { allowedTargets: config.webhooks.allowedTargets }, say);
  dispatcher.start();
  const closeAll = async (): Promise<void> => {
    await app.close();
    await dispatcher.stop();
    await connection.close();
    await db.close();
  };
  let url: string;
  try {
    url = await listenApi(app, config.api.host, config.api.port);
  } catch (error) {
    // Left open, the pool and the dispatcher's timer would keep a failed process alive.
    await closeAll();
    throw error;
  }
  say(`API listening on ${url} (dashboard: ${url}/ui/)`);
  const signal = await untilSignal();
  say(`${signal}: stopping`);
  await closeAll();
  say('stopped');
}
