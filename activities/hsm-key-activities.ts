import { Context } from '@temporalio/activity';
import type { NodeEntropyHarvester, PoolSnapshot } from '../adapters/entropy/node-harvester';
import * as keys from '../adapters/pkcs11/keys';
import type { TokenSessionPool } from '../adapters/pkcs11/session-pool';
import { withTypedFailures } from './failures';

type Input<F extends (pool: TokenSessionPool, input: never) => unknown> = Parameters<F>[1];

export interface GenerateVersionInput extends keys.GenerateKeyPairInput {
  entropyPolicy: 'hold' | 'hsm-only';
}

export interface GenerateVersionResult extends keys.GenerateKeyPairResult {
  entropyProvenance: PoolSnapshot & { mode: 'pool' | 'hsm-only' };
}

/**
 * The key operations of one node, as activities on its task queue. Each is idempotent (objects are found by CKA_ID or
 * label before anything is made), so Temporal may retry any of them after a crash.
 */
export function createHsmKeyActivities(pool: TokenSessionPool, harvester: NodeEntropyHarvester) {
  return withTypedFailures({
    /** Seeds the HSM from the node's measured pool (C_SeedRandom), then generates; the provenance says which it was. */
    async generateKeyPair(input: GenerateVersionInput): Promise<GenerateVersionResult> {
      const { seed, provenance } = harvester.seedForKeyGeneration(input.entropyPolicy);
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
  });
}

export type HsmKeyActivities = ReturnType<typeof createHsmKeyActivities>;
