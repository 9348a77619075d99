import { Context } from '@temporalio/activity';
import { EntropyHoldError, type EntropyProvenance, type NodeEntropy } from '../domain/entropy/node-entropy';
import * as keys from '../adapters/pkcs11/keys';
import type { TokenSessionPool } from '../adapters/pkcs11/session-pool';
import { withTypedFailures } from './failures';
import { withHeartbeats } from './heartbeat';

type Input<F extends (pool: TokenSessionPool, input: never) => unknown> = Parameters<F>[1];

export interface GenerateVersionInput extends keys.GenerateKeyPairInput {
  entropyPolicy: 'hold' | 'hsm-only';
}

/** The generated pair with its entropy provenance, or why the key's entropy policy holds generation back for now. */
export type GenerateVersionResult = (keys.GenerateKeyPairResult & { entropyProvenance: EntropyProvenance }) | { entropyHeld: string };

/**
 * The key operations of one node, as activities on its task queue. Each is idempotent (objects are found by CKA_ID or
 * label before anything is made), so Temporal may retry any of them after a crash; each heartbeats, so that the retry
 * comes within the workflow's heartbeat timeout of the crash.
 */
export function createHsmKeyActivities(pool: TokenSessionPool, harvester: NodeEntropy) {
  return withHeartbeats(withTypedFailures({
    /**
     * Seeds the HSM from the node's measured pool (C_SeedRandom), then generates; the provenance says which it was. A
     * pool below its minimum under a `hold` policy is an answer, not a failure: the key shows what it waits for and asks
     * again, without a retry storm in the worker's log.
     */
    async generateKeyPair(input: GenerateVersionInput): Promise<GenerateVersionResult> {
      let seeding: ReturnType<NodeEntropy['seedForKeyGeneration']>;
      try {
        seeding = harvester.seedForKeyGeneration(input.entropyPolicy);
      } catch (error) {
        if (error instanceof EntropyHoldError) return { entropyHeld: error.message };
        throw error;
      }
      const { seed, provenance } = seeding;
      if (seed) {
        try {
          await keys.seedRandom(pool, { seed: seed.toString('base64') });
        } finally {
          seed.fill(0);
        }
      }
      const generated = await keys.generateKeyPair(pool, { keyType: input.keyType, label: input.label });
      return { ...generated, entropyProvenance: provenance };
    },
    harvestEntropy: (_input: { nodeId: string }) => harvester.harvest(Context.current().cancellationSignal),
    describeKey: (input: Input<typeof keys.describeKey>) => keys.describeKey(pool, input),
    wrapPrivateKey: (input: Input<typeof keys.wrapPrivateKey>) => keys.wrapPrivateKey(pool, input),
    importReplica: (input: Input<typeof keys.importReplica>) => keys.importReplica(pool, input),
    signDigest: (input: Input<typeof keys.signDigest>) => keys.signDigest(pool, input),
    setSigning: (input: Input<typeof keys.setSigning>) => keys.setSigning(pool, input),
    destroyKeyObjects: (input: Input<typeof keys.destroyKeyObjects>) => keys.destroyKeyObjects(pool, input),
    verifyArchivedBlob: (input: Input<typeof keys.verifyArchivedBlob>) => keys.verifyArchivedBlob(pool, input),
  }));
}

export type HsmKeyActivities = ReturnType<typeof createHsmKeyActivities>;
