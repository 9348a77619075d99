import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Command } from 'commander';
import { loadConfig } from '../../adapters/config-loader';
import { startSystem } from '../../workers/system';

const say = (message: string): void => {
  process.stdout.write(`[keyrotor] ${message}\n`);
};

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('Run the whole system: HSM nodes, PostgreSQL, Temporal, workers and the API (embedded defaults)')
    .action(async () => {
      const config = loadConfig();
      // Must run before any worker or connection exists: it also exposes the workers' own metrics.
      Runtime.install({
        logger: new DefaultLogger((process.env.KEYROTOR_WORKER_LOG_LEVEL ?? 'WARN') as 'WARN'),
        // keyrotor orders its own shutdown (API, workers, then Temporal and PostgreSQL) on these signals.
        shutdownSignals: [],
        telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${config.workerMetricsPort}` } } },
      });
      const system = await startSystem(config, { log: say });
      say('ready');
      say(`  API                ${system.apiUrl}`);
      say(`  API docs           ${system.apiUrl}/docs  (OpenAPI: ${system.apiUrl}/openapi.json)`);
      say(`  health             ${system.apiUrl}/health`);
      say(`  Temporal Web UI    ${system.temporalUiUrl ?? '(external Temporal: use its own Web UI)'}`);
      say(`  Temporal frontend  ${system.temporalAddress}`);
      say(`  worker metrics     http://127.0.0.1:${config.workerMetricsPort}/metrics`);
      say(`  data folder        ${config.dataDir}`);
      if (system.createdAdminToken) {
        say('');
        say(`first admin API token (shown once, stored only as a hash): ${system.createdAdminToken}`);
        say('');
      }
      say('Ctrl-C stops everything');
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string): void => {
          if (stopping) {
            say(`${signal} again: exiting without waiting`);
            process.exit(130);
          }
          stopping = true;
          say(`${signal}: stopping (waiting up to ${config.shutdownGraceMs} ms for running work)`);
          system.stop().then(resolve, (error: unknown) => {
            say(`stop failed: ${(error as Error).message}`);
            resolve();
          });
        };
        process.on('SIGINT', () => stop('SIGINT'));
        process.on('SIGTERM', () => stop('SIGTERM'));
      });
      say('stopped');
    });
}
