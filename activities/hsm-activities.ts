import { performance } from 'node:perf_hooks';
import type { TokenSessionPool } from '../adapters/pkcs11/session-pool';
import { activityFailure, withTypedFailures } from './failures';

export interface PingHsmNodeInput {
  nodeId: string;
  /** How many random bytes to draw from the token's RNG as proof that it computes. */
  randomBytes: number;
}

export interface PingHsmNodeResult {
  nodeId: string;
  tokenLabel: string;
  manufacturer: string;
  model: string;
  serialNumber: string;
  randomBytesDrawn: number;
  /** Time the HSM took for token info plus C_GenerateRandom, in milliseconds. */
  hsmMs: number;
}

/** Activities that run on one node's task queue, against that node's token only. */
export function createHsmActivities(pool: TokenSessionPool) {
  return withTypedFailures({
    async pingHsmNode(input: PingHsmNodeInput): Promise<PingHsmNodeResult> {
      if (input.nodeId !== pool.nodeId) {
        throw activityFailure('wrong_node', `ping for node ${input.nodeId} reached the worker of node ${pool.nodeId}`);
      }
      const count = Math.min(Math.max(1, Math.trunc(input.randomBytes)), 64);
      const started = performance.now();
      const token = pool.token();
      const random = await pool.withSession('C_GenerateRandom', ({ pkcs11, session }) => pkcs11.C_GenerateRandom(session, Buffer.alloc(count)));
      return {
        nodeId: pool.nodeId,
        tokenLabel: token.label,
        manufacturer: token.manufacturer,
        model: token.model,
        serialNumber: token.serialNumber,
        // The bytes themselves stay here: only their count enters workflow history.
        randomBytesDrawn: random.length,
        hsmMs: Math.round((performance.now() - started) * 1000) / 1000,
      };
    },
  });
}

export type HsmActivities = ReturnType<typeof createHsmActivities>;
