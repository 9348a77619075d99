import { loadConfig } from '../../adapters/config-loader';
import { startSystem } from '../../workers/system';
import { installRuntime, untilSignal } from '../runtime';

const say = (message: string): void => {
  process.stdout.write(`[keyrotor] ${message}\n`);
};

/** `keyrotor start`: the whole system in this process until SIGINT or SIGTERM. */
export async function runStart(): Promise<void> {
  const config = loadConfig();
  installRuntime(config);
  const system = await startSystem(config, { log: say });
  say('ready');
  say(`  API                ${system.apiUrl}`);
  say(`  dashboard          ${system.apiUrl}/ui/`);
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
  const signal = await untilSignal();
  say(`${signal}: stopping (waiting up to ${config.shutdownGraceMs} ms for running work)`);
  await system.stop();
  say('stopped');
}
