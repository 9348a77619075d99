import { DefaultLogger, Runtime } from '@temporalio/worker';
import { portProblemOf } from '../adapters/listen';
import type { KeyrotorConfig } from '../domain/config';

/**
 * Installs the Temporal runtime of this process before any worker or connection exists: worker logs at WARN (or
 * KEYROTOR_WORKER_LOG_LEVEL) and the workers' own Prometheus metrics on workerMetricsPort (0: none).
 */
export function installRuntime(config: KeyrotorConfig): void {
  try {
    Runtime.install({
      logger: new DefaultLogger((process.env.KEYROTOR_WORKER_LOG_LEVEL ?? 'WARN') as 'WARN'),
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

/** Resolves with the first SIGINT or SIGTERM; a second one exits at once. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const on = (signal: NodeJS.Signals): void => {
      if (received) {
        process.stdout.write(`${signal} again: exiting without waiting\n`);
        process.exit(130);
      }
      received = true;
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
