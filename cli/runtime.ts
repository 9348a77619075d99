import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { KeyrotorConfig } from '../domain/config';
import { processSetting } from '../adapters/config-loader';

/**
 * Installs the Temporal runtime of this process before any worker or connection exists: worker logs at WARN (or
 * KEYROTOR_WORKER_LOG_LEVEL) and the workers' own Prometheus metrics on workerMetricsPort (0: none).
 */
export function installRuntime(config: KeyrotorConfig): void {
  Runtime.install({
    logger: new DefaultLogger(processSetting('workerLogLevel') as 'WARN'),
    // keyrotor orders its own shutdown on these signals.
    shutdownSignals: [],
    ...(config.workerMetricsPort > 0
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${config.workerMetricsPort}` } } } }
      : {}),
  });
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
