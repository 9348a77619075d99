import { randomBytes } from 'node:crypto';
import type { EntropyConfig } from '../../domain/config';
import { NodeEntropy, type NoiseSource } from '../../domain/entropy/node-entropy';
import { assessInWorkerThread, batteryInWorkerThread } from './entropy-thread';

/**
 * A node's entropy harvester: the pool, DRBG and quarantine policy of the domain, given the real clock, the operating
 * system's randomness for the DRBG nonce, and the SP 800-90B assessment and the SP 800-22 battery in worker threads.
 * The sources' I/O is in ./sources.
 */
export function nodeEntropyHarvester(nodeId: string, sources: NoiseSource[], config: EntropyConfig): NodeEntropy {
  return new NodeEntropy(nodeId, sources, config, { now: () => new Date(), nonce: () => randomBytes(16), assess: assessInWorkerThread, battery: batteryInWorkerThread });
}
