import * as envelope from '../adapters/pkcs11/envelope';
import type { TokenSessionPool } from '../adapters/pkcs11/session-pool';
import { withTypedFailures } from './failures';
import { withHeartbeats } from './heartbeat';

type Input<F extends (pool: TokenSessionPool, input: never) => unknown> = Parameters<F>[1];

/**
 * The envelope operations of one node (adapters/pkcs11/envelope.ts), on its task queue. A data key exists in the HSM
 * only as a session object, and leaves it wrapped under a KEK version or sealed to the API's transport key: what these
 * answer, and so what Temporal's history holds, is never a data key in clear.
 */
export function createHsmEnvelopeActivities(pool: TokenSessionPool) {
  return withHeartbeats(withTypedFailures({
    generateDataKey: (input: Input<typeof envelope.generateDataKey>) => envelope.generateDataKey(pool, input),
    unwrapDataKey: (input: Input<typeof envelope.unwrapDataKey>) => envelope.unwrapDataKey(pool, input),
    rewrapDataKeys: (input: Input<typeof envelope.rewrapDataKeys>) => envelope.rewrapDataKeys(pool, input),
  }));
}

export type HsmEnvelopeActivities = ReturnType<typeof createHsmEnvelopeActivities>;
