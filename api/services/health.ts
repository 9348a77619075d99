import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Database } from '../../adapters/postgres/database';
import { latestEntropyReports } from '../../adapters/postgres/entropy-repository';
import { type HarvestFreshness, harvestFreshness } from '../../domain/entropy/freshness';
import { WORKFLOW_TYPES, healthCheckWorkflowId } from '../../domain/identifiers';
import type { NodeHealth } from '../../workflows/health-check';
import type { Health } from '../schemas/system';

export type ComponentHealth = { status: 'up'; latencyMs: number } | { status: 'down'; latencyMs: number; reason: string };

/** The reply of GET /health, as its schema defines it. */
export type HealthReport = Health;

async function timed(check: () => Promise<unknown>, timeoutMs: number): Promise<ComponentHealth> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { status: 'up', latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    return { status: 'down', latencyMs: Math.round(performance.now() - started), reason: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

export function overallStatus(components: HealthReport['components'], nodes: readonly NodeHealth[], entropy: readonly HarvestFreshness[] = []): HealthReport['status'] {
  if (components.temporal.status === 'down' || components.postgres.status === 'down') return 'down';
  const up = nodes.filter((node) => node.status === 'up').length;
  if (up === 0) return 'down';
  // A stale pool still generates (each key's entropy policy decides how), but nobody is harvesting: worth a page.
  return up === nodes.length && entropy.every((pool) => pool.status === 'fresh') ? 'ok' : 'degraded';
}

/**
 * Checks PostgreSQL and Temporal directly, and every HSM node by a real round trip: a workflow pings each node's task
 * queue. Concurrent callers share one check in flight, so a burst of probes starts one workflow.
 */
export class HealthService {
  private inFlight: Promise<HealthReport> | undefined;
  /** A node that never reported a harvest counts from here: the first harvest may take minutes (its assessment). */
  private readonly watchedSinceMs = Date.now();

  constructor(
    private readonly db: Database,
    private readonly temporal: Client,
    private readonly nodeIds: readonly string[],
    private readonly pingTimeoutMs: number,
    private readonly controlTaskQueue: string,
    private readonly harvestIntervalSeconds: number,
  ) {}

  check(): Promise<HealthReport> {
    this.inFlight ??= this.run().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async run(): Promise<HealthReport> {
    const [postgres, temporal] = await Promise.all([
      timed(() => this.db.ping(), this.pingTimeoutMs),
      timed(() => this.temporal.connection.workflowService.getSystemInfo({}), this.pingTimeoutMs),
    ]);
    const [nodes, entropy] = await Promise.all([
      temporal.status === 'up' ? this.pingNodes() : this.allDown('Temporal is unreachable, so the nodes cannot be asked'),
      postgres.status === 'up' ? this.entropyFreshness() : [],
    ]);
    const components = { temporal, postgres };
    return { status: overallStatus(components, nodes, entropy), checkedAt: new Date().toISOString(), components, nodes, entropy };
  }

  private async entropyFreshness(): Promise<HarvestFreshness[]> {
    const latest = new Map((await latestEntropyReports(this.db)).map((report) => [report.nodeId, report.at]));
    const nowMs = Date.now();
    return this.nodeIds.map((nodeId) => harvestFreshness({ nodeId, lastHarvestAt: latest.get(nodeId) ?? null, harvestIntervalSeconds: this.harvestIntervalSeconds, watchedSinceMs: this.watchedSinceMs, nowMs }));
  }

  private allDown(reason: string): NodeHealth[] {
    return this.nodeIds.map((id) => ({ id, status: 'down' as const, reason }));
  }

  private async pingNodes(): Promise<NodeHealth[]> {
    // The workflow itself needs the control worker; past this deadline the control worker is the one that is down.
    const deadlineMs = this.pingTimeoutMs * 2 + 2000;
    try {
      const handle = await this.temporal.workflow.start(WORKFLOW_TYPES.healthCheck, {
        taskQueue: this.controlTaskQueue,
        workflowId: healthCheckWorkflowId(randomUUID()),
        args: [{ nodeIds: [...this.nodeIds], timeoutMs: this.pingTimeoutMs }],
        workflowExecutionTimeout: deadlineMs,
        staticSummary: `health check of ${this.nodeIds.length} HSM nodes`,
      });
      const result = (await handle.result()) as { nodes: NodeHealth[] };
      return result.nodes;
    } catch (error) {
      return this.allDown(`the health-check workflow did not complete within ${deadlineMs} ms (is the control worker running?): ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
