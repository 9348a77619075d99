import type { HealthVerdict } from '../sp800-90b/health-tests';
import type { EstimatorRow } from '../sp800-90b/rows';

/**
 * What a node's entropy pool looks like from outside, and what each key version records of the pool that seeded its
 * generation. Types only, importing no module that imports the key model, so that the key model can name them.
 */

export interface SourceStatus {
  name: string;
  bitsPerSample: number;
  credit: 'assessed' | 'none';
  state: 'unassessed' | 'healthy' | 'quarantined' | 'failing';
  assessment: { minEntropy: number; samples: number; at: string; estimators: EstimatorRow[] } | null;
  lastHealth: { verdict: HealthVerdict; alerts: number; failedAt: number | null; samples: number } | null;
  creditedBitsLastHarvest: number;
  error: string | null;
}

export interface BatterySummary {
  at: string;
  bits: number;
  passed: number;
  failed: string[];
  notApplicable: number;
}

/** What a node's pool looks like, without anything secret: the "entropy provenance" recorded with each key version. */
export interface PoolSnapshot {
  nodeId: string;
  at: string;
  /** Credited bits waiting in the conditioned pool for the next reseed. */
  creditedBits: number;
  minimumCreditedBits: number;
  healthy: boolean;
  drbg: { instantiated: boolean; reseeds: number; lastReseedAt: string | null };
  sources: Array<Pick<SourceStatus, 'name' | 'state'> & { minEntropy: number | null; assessedAt: string | null }>;
  battery: BatterySummary | null;
}

/** The pool snapshot a key version was generated under, and whether the pool seeded it or the HSM's RNG alone did. */
export type EntropyProvenance = PoolSnapshot & { mode: 'pool' | 'hsm-only' };
