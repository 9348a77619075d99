import { Client, Connection } from '@temporalio/client';
import { Runtime, type Logger } from '@temporalio/worker';
import { loadConfig, processSetting } from '../../adapters/config-loader';
import { temporalConnectionOptions } from '../../adapters/temporal/connection';
import { replayRuns, runsOfDeployment } from '../../adapters/temporal/replay-check';
import { ExternalError } from '../../domain/errors';
import { workflowsPath } from '../../workers/control-worker';

export interface ReplayCheckOptions {
  all?: boolean;
  json?: boolean;
}

/**
 * `keyrotor replay-check`: every open run of this deployment's workflows (with --all, the closed ones too) replayed
 * against the workflow code this keyrotor holds, before or after an upgrade. Exit 0 when all replay, 1 otherwise.
 */
export async function runReplayCheck(options: ReplayCheckOptions): Promise<void> {
  const config = loadConfig();
  // The replay worker's own logs (its start and stop, each failed replay again) stay out of the report, which says it all.
  const silent: Logger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
  Runtime.install({ logger: silent, shutdownSignals: [], telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } } });
  const address = config.temporal.address ?? `127.0.0.1:${config.temporal.devServerPort}`;
  let connection: Connection;
  try {
    connection = await Connection.connect(temporalConnectionOptions(config, address));
  } catch (error) {
    throw new ExternalError('temporal_unreachable', `cannot reach Temporal at ${address} (${(error as Error).message}); set TEMPORAL_ADDRESS, or run \`npm start\` for the embedded one`);
  }
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const bundle = processSetting('workflowBundle');
    const query = runsOfDeployment(config.temporal.controlTaskQueue, { openOnly: options.all !== true });
    const { replayed, failed, failing } = await replayRuns(client, query, bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath });
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ replayed, failed, failing }, null, 2)}\n`);
    } else {
      process.stdout.write(`${replayed} ${options.all ? '' : 'open '}run(s) replayed: ${failed.length} do not replay, ${failing.length} fail their workflow task\n`);
      for (const run of failed) process.stdout.write(`  does not replay: ${run.workflowId} (run ${run.runId}): ${run.error}\n`);
      for (const run of failing) process.stdout.write(`  fails its workflow task: ${run.workflowId} (run ${run.runId}): ${run.error}\n`);
    }
    process.exitCode = failed.length === 0 && failing.length === 0 ? 0 : 1;
  } finally {
    await connection.close();
  }
}
