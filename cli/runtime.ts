import { DefaultLogger, Runtime } from '@temporalio/worker';
import { portProblemOf } from '../adapters/listen';
import type { KeyrotorConfig } from '../domain/config';
import { processSetting } from '../adapters/config-loader';
import { meaningOfStopSignal, type StopRequest } from '../domain/stop-signals';

/**
 * Installs the Temporal runtime of this process before any worker or connection exists: worker logs at WARN (or
 * KEYROTOR_WORKER_LOG_LEVEL) and the workers' own Prometheus metrics on workerMetricsPort (0: none).
 */
export function installRuntime(config: KeyrotorConfig): void {
  try {
    Runtime.install({
      logger: new DefaultLogger(processSetting('workerLogLevel') as 'WARN'),
      // keyrotor orders its own shutdown on these signals.
      shutdownSignals: [],
      ...(config.workerMetricsPort > 0
        ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${config.workerMetricsPort}` } } } }
        : {}),
    });
  } catch (error) {
    // The runtime binds the metrics port at once and says only "Address already in use": name the port and the setting.
    throw portProblemOf(error, '127.0.0.1', config.workerMetricsPort, { what: 'the workers\' metrics', setting: 'KEYROTOR_WORKER_METRICS_PORT (workerMetricsPort)', otherwise: 'to 0 for none' }) ?? error;
  }
}

/**
 * Resolves with the first SIGINT or SIGTERM; a second request exits at once. The copy of the first signal that npm
 * forwards is not a second request (domain/stop-signals.ts).
 */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first: StopRequest | undefined;
    const on = (signal: NodeJS.Signals): void => {
      const now = Date.now();
      const meaning = meaningOfStopSignal(first, signal, now);
      if (meaning === 'same-request') return;
      if (meaning === 'stop-now') {
        process.stdout.write(`${signal} again: exiting without waiting\n`);
        process.exit(130);
      }
      first = { signal, atMs: now };
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
