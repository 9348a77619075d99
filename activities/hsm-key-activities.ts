import { Context } from '@temporalio/activity';
import { EntropyHoldError, type EntropyProvenance, type NodeEntropy } from '../domain/entropy/node-entropy';
import * as encryptionKeys from '../adapters/pkcs11/encryption-keys';
import * as keys from '../adapters/pkcs11/keys';
import { isEncryptionKeyType, type DefinedKeyType } from '../domain/keys/key-types';
import type { EncryptionUsage } from '../domain/keys/encryption-usage';
import type { JweAlgorithm } from '../domain/keys/key-types';
import type { TokenSessionPool } from '../adapters/pkcs11/session-pool';
import { withTypedFailures } from './failures';
import { withHeartbeats } from './heartbeat';

type Input<F extends (pool: TokenSessionPool, input: never) => unknown> = Parameters<F>[1];

export interface GenerateVersionInput {
  keyType: DefinedKeyType;
  label: string;
  entropyPolicy: 'hold' | 'hsm-only';
}

/**
 * The generated version with its entropy provenance, or why the key's entropy policy holds generation back for now.
 * spki is null for an aes-256 key (no public part); jweAlg is set for an RSA-OAEP pair (the JWE algorithm this HSM
 * decrypts, see encryption-keys.ts jweAlgorithmOf).
 */
export type GenerateVersionResult =
  | { fingerprint: string; spki: string | null; created: boolean; jweAlg?: JweAlgorithm | null; entropyProvenance: EntropyProvenance }
  | { entropyHeld: string };

/** The type of the key an input names; signing types for inputs from before encryption keys, which carry none. */
const encryptionType = (input: { keyType?: string }) => (input.keyType !== undefined && isEncryptionKeyType(input.keyType) ? input.keyType : null);

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
      const encryption = encryptionType(input);
      if (encryption === null) return { ...(await keys.generateKeyPair(pool, { keyType: input.keyType as keys.GenerateKeyPairInput['keyType'], label: input.label })), entropyProvenance: provenance };
      const generated = await encryptionKeys.generateEncryptionKey(pool, { keyType: encryption, label: input.label });
      const jweAlg = generated.spki === null ? null : await encryptionKeys.jweAlgorithmOf(pool, { keyType: encryption, fingerprint: generated.fingerprint, spki: generated.spki });
      return { ...generated, jweAlg, entropyProvenance: provenance };
    },
    harvestEntropy: (_input: { nodeId: string }) => harvester.harvest(Context.current().cancellationSignal),
    describeKey: (input: Input<typeof keys.describeKey>) => keys.describeKey(pool, input),
    /** Wraps a version's secret part (a private key, or an aes-256 key) for a replica or the archive. */
    wrapPrivateKey: (input: Input<typeof keys.wrapPrivateKey> & { keyType?: DefinedKeyType }) => {
      const encryption = encryptionType(input);
      return encryption === null ? keys.wrapPrivateKey(pool, input) : encryptionKeys.wrapEncryptionKey(pool, { ...input, keyType: encryption });
    },
    /** A replica of an encryption key gets the usage of its version's state (decrypt-only while pending). */
    importReplica: (input: Omit<Input<typeof keys.importReplica>, 'keyType' | 'publicKey'> & { keyType: DefinedKeyType; publicKey: keys.ImportReplicaInput['publicKey'] | null; usage?: EncryptionUsage }) => {
      const encryption = encryptionType(input);
      if (encryption === null) return keys.importReplica(pool, input as keys.ImportReplicaInput);
      if (!input.usage) throw new Error(`a replica of a ${encryption} key needs the usage of its version`);
      return encryptionKeys.importEncryptionReplica(pool, { ...input, keyType: encryption, usage: input.usage });
    },
    setEncryptionUsage: (input: Input<typeof encryptionKeys.setEncryptionUsage>) => encryptionKeys.setEncryptionUsage(pool, input),
    signDigest: (input: Input<typeof keys.signDigest>) => keys.signDigest(pool, input),
    setSigning: (input: Input<typeof keys.setSigning>) => keys.setSigning(pool, input),
    destroyKeyObjects: (input: Input<typeof keys.destroyKeyObjects>) => keys.destroyKeyObjects(pool, input),
    verifyArchivedBlob: (input: Omit<Input<typeof keys.verifyArchivedBlob>, 'keyType' | 'spki'> & { keyType: DefinedKeyType; spki: string | null; fingerprint?: string }) => {
      const encryption = encryptionType(input);
      if (encryption === null) return keys.verifyArchivedBlob(pool, input as keys.VerifyArchivedBlobInput);
      return encryptionKeys.verifyArchivedEncryptionKey(pool, { ...input, keyType: encryption, fingerprint: input.fingerprint ?? '' });
    },
  }));
}

export type HsmKeyActivities = ReturnType<typeof createHsmKeyActivities>;
