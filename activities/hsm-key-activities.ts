import * as keys from '../adapters/pkcs11/keys';
import type { TokenSessionPool } from '../adapters/pkcs11/session-pool';
import { withTypedFailures } from './failures';

type Input<F extends (pool: TokenSessionPool, input: never) => unknown> = Parameters<F>[1];

/**
 * The key operations of one node, as activities on its task queue. Each is idempotent (objects are found by CKA_ID or
 * label before anything is made), so Temporal may retry any of them after a crash.
 */
export function createHsmKeyActivities(pool: TokenSessionPool) {
  return withTypedFailures({
    generateKeyPair: (input: Input<typeof keys.generateKeyPair>) => keys.generateKeyPair(pool, input),
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
