import { loadConfig } from '../../adapters/config-loader';
import type { HealthReport } from '../../api/services/health';
import { ExternalError } from '../../domain/errors';

export interface HealthOptions {
  url?: string;
  json?: boolean;
}

/** `keyrotor health`: the running system's /health, as a table or JSON; exit 1 unless it is ok. */
export async function runHealth(options: HealthOptions): Promise<void> {
  const api = options.url ? undefined : loadConfig().api;
  const base = options.url ?? `http://${api?.host}:${api?.port}`;
  let response: Response;
  try {
    response = await fetch(`${base}/health`, { signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    throw new ExternalError('api_unreachable', `cannot reach keyrotor at ${base} (${(error as Error).message}); is \`npm start\` running?`);
  }
  const report = (await response.json()) as HealthReport;
  if (options.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    process.stdout.write(`status: ${report.status}\n`);
    for (const [name, component] of Object.entries(report.components)) {
      process.stdout.write(`  ${name.padEnd(10)} ${component.status.padEnd(5)} ${component.latencyMs} ms${'reason' in component ? `  ${component.reason}` : ''}\n`);
    }
    for (const node of report.nodes) {
      const detail = node.status === 'up' ? `${node.tokenLabel} (${node.model}, serial ${node.serialNumber}), HSM ${node.hsmMs} ms` : node.reason;
      process.stdout.write(`  ${node.id.padEnd(10)} ${node.status.padEnd(5)} ${detail}\n`);
    }
    for (const pool of report.entropy) {
      if (pool.status === 'stale') process.stdout.write(`  entropy of ${pool.nodeId}: stale, ${pool.reason ?? ''}\n`);
    }
  }
  process.exitCode = report.status === 'ok' ? 0 : 1;
}
