import { useModuleEnvironment } from '../../adapters/pkcs11/module-environment';
import { loadConfig } from '../../adapters/config-loader';
import { UserError } from '../../domain/errors';
import type { RunningWorker } from '../../workers/hsm-worker';
import { temporalConnectionOptions } from '../../adapters/temporal/connection';

// The Temporal SDK, the workers and PostgreSQL's client load once the configuration and the arguments are found good,
// so that a mistake in them is told at once. The runtime (metrics port, logging) is installed before TEMPORAL_ADDRESS
// is checked, as before: a taken metrics port is told first.
/* eslint-disable @typescript-eslint/no-require-imports */
const temporalWorker = (): typeof import('@temporalio/worker') => require('@temporalio/worker') as typeof import('@temporalio/worker');
const runtime = (): typeof import('../runtime') => require('../runtime') as typeof import('../runtime');
const hsmWorker = (): typeof import('../../workers/hsm-worker') => require('../../workers/hsm-worker') as typeof import('../../workers/hsm-worker');
const controlWorker = (): typeof import('../../workers/control-worker') => require('../../workers/control-worker') as typeof import('../../workers/control-worker');
const postgres = (): typeof import('../../adapters/postgres/database') => require('../../adapters/postgres/database') as typeof import('../../adapters/postgres/database');
/* eslint-enable @typescript-eslint/no-require-imports */

const say = (message: string): void => {
  process.stdout.write(`[keyrotor worker] ${message}\n`);
};

function requireTemporalAddress(address: string | undefined): string {
  if (!address) throw new UserError('temporal_address_required', 'a separate worker needs a running Temporal: set TEMPORAL_ADDRESS (host:port)');
  return address;
}

async function runUntilSignal(worker: RunningWorker, cleanup: () => Promise<void>): Promise<void> {
  say(`${worker.name} running; SIGINT or SIGTERM stops it after its running activities`);
  const stopped = await Promise.race([runtime().untilSignal().then((signal) => `${signal}`), worker.done.then(() => 'worker stopped')]);
  say(`${stopped}: stopping`);
  await worker.shutdown();
  await cleanup();
  say('stopped');
}

/** `keyrotor worker hsm --node ID`: the HSM worker of one node until SIGINT or SIGTERM. */
export async function runHsmWorker(nodeId: string): Promise<void> {
  const config = loadConfig();
  const node = config.hsm.nodes.find((candidate) => candidate.id === nodeId);
  if (!node) throw new UserError('unknown_node', `no HSM node '${nodeId}' is configured (known: ${config.hsm.nodes.map((n) => n.id).join(', ')})`);
  runtime().installRuntime(config);
  const address = requireTemporalAddress(config.temporal.address);
  // The node's own module environment (its SoftHSM token folder, say), before the module is loaded.
  useModuleEnvironment(config.dataDir, [node]);
  const connection = await temporalWorker().NativeConnection.connect(temporalConnectionOptions(config, address));
  const running = await hsmWorker().startHsmWorker({ node, connection, namespace: config.temporal.namespace, shutdownGraceMs: config.shutdownGraceMs, entropy: config.entropy });
  await runUntilSignal(running, () => connection.close());
}

/** `keyrotor worker control`: a control worker until SIGINT or SIGTERM. */
export async function runControlWorker(): Promise<void> {
  const config = loadConfig();
  if (!config.database.url) throw new UserError('database_url_required', 'a separate control worker needs a PostgreSQL server: set DATABASE_URL');
  runtime().installRuntime(config);
  const address = requireTemporalAddress(config.temporal.address);
  const db = postgres().Database.connect(config.database.url);
  const connection = await temporalWorker().NativeConnection.connect(temporalConnectionOptions(config, address));
  const running = await controlWorker().startControlWorker({ connection, namespace: config.temporal.namespace, shutdownGraceMs: config.shutdownGraceMs, db, config });
  await runUntilSignal(running, async () => {
    await connection.close();
    await db.close();
  });
}
