import type { NodeEntropyHealth } from './types';

/** The fields of a harvest report's pool snapshot that the map's entropy health is made from. */
export interface PoolHealthInput {
  healthy: boolean;
  sources: Array<{ name: string; state: string }>;
}

/**
 * A node's entropy health from its newest harvest report. Coarse on purpose: credited bits move at every harvest, and
 * a map that changed with them would be rewritten onto every node every few minutes.
 */
export function entropyHealthOf(pool: PoolHealthInput | null): NodeEntropyHealth {
  if (!pool) return { status: 'unknown', unhealthySources: [] };
  const unhealthySources = pool.sources.filter((source) => source.state === 'quarantined' || source.state === 'failing').map((source) => source.name).sort();
  const status = !pool.healthy ? 'low' : unhealthySources.length > 0 ? 'degraded' : 'healthy';
  return { status, unhealthySources };
}
