import * as keys from '../adapters/pkcs11/keys';
import {
  inspectNode,
  listInventory,
  writeAuditAnchor,
  writeSnapshot,
  type InspectNodeInput,
  type WriteAuditAnchorInput,
  type WriteAuditAnchorResult,
  type WriteSnapshotInput,
  type WriteSnapshotResult,
} from '../adapters/pkcs11/keymap-objects';
import { decodeBase64 } from '../adapters/pkcs11/public-key';
import type { TokenSessionPool } from '../adapters/pkcs11/session-pool';
import { KeyrotorError } from '../domain/errors';
import { CLUSTER_KEK_LABEL } from '../domain/identifiers';
import type { SigningKeyType } from '../domain/keys/key-types';
import type { NodeRepairs } from '../domain/keymap/plan';
import type { InventoryEntry, NodeInspection } from '../domain/keymap/types';
import { withTypedFailures } from './failures';
import { withHeartbeats } from './heartbeat';

export interface WrappedForReplication {
  fingerprint: string;
  wrapped: string;
  keyType: SigningKeyType;
  publicKey: keys.WrapPrivateKeyResult['publicKey'];
}

export interface ItemFailure {
  what: string;
  error: string;
}

export interface RepairOutcome {
  replicated: number;
  publicKeysRestored: number;
  destroyed: number;
  signingDisabled: number;
  bytesWritten: number;
  failures: ItemFailure[];
}

/**
 * Runs one item of a batch. A retryable failure (a busy or restarting token) fails the whole activity, so Temporal
 * retries it (every item is idempotent); a permanent one is reported with its item and the batch goes on.
 */
async function item<T>(what: string, failures: ItemFailure[], work: () => Promise<T>): Promise<T | undefined> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof KeyrotorError) || error.retryable) throw error;
    failures.push({ what, error: error.message });
    return undefined;
  }
}

/** The key map sync's work on one node, in batches: one activity per batch rather than one per key. */
export function createHsmKeymapActivities(pool: TokenSessionPool) {
  return withHeartbeats(withTypedFailures({
    inspectKeymapNode: (input: InspectNodeInput): Promise<NodeInspection> => inspectNode(pool, input),

    listKeymapInventory: (input: { buckets: number[] | null; signingKey: { fingerprint: string } | null }): Promise<{ entries: InventoryEntry[] }> => listInventory(pool, input),

    /** Wraps private keys under the cluster KEK for replicas on other nodes: ciphertext under a key that never leaves the HSMs. */
    async wrapForReplication(input: { fingerprints: string[] }): Promise<{ wrapped: WrappedForReplication[]; failures: ItemFailure[] }> {
      const wrapped: WrappedForReplication[] = [];
      const failures: ItemFailure[] = [];
      for (const fingerprint of input.fingerprints) {
        const result = await item(`wrap ${fingerprint}`, failures, () => keys.wrapPrivateKey(pool, { fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL }));
        if (result) wrapped.push({ fingerprint, wrapped: result.wrapped, keyType: result.keyType, publicKey: result.publicKey });
      }
      return { wrapped, failures };
    },

    /** Imports replicas (checked: fingerprint and a sign/verify round trip), each idempotent. */
    async importReplicas(input: { items: Array<WrappedForReplication & { label: string }> }): Promise<RepairOutcome> {
      const outcome: RepairOutcome = { replicated: 0, publicKeysRestored: 0, destroyed: 0, signingDisabled: 0, bytesWritten: 0, failures: [] };
      for (const replica of input.items) {
        const result = await item(`replicate ${replica.label} (${replica.fingerprint})`, outcome.failures, () =>
          keys.importReplica(pool, { ...replica, unwrappingKeyLabel: CLUSTER_KEK_LABEL }));
        if (result?.created) {
          outcome.replicated += 1;
          outcome.bytesWritten += decodeBase64(replica.wrapped, 'wrapped').length
            + Object.values(replica.publicKey).reduce((sum: number, part: string) => sum + Buffer.from(part, 'base64').length, 0);
        }
      }
      return outcome;
    },

    /** Destroys what must be gone, restores public keys from the map, switches signing off where a version must not sign. */
    async repairKeyObjects(input: NodeRepairs): Promise<RepairOutcome> {
      const outcome: RepairOutcome = { replicated: 0, publicKeysRestored: 0, destroyed: 0, signingDisabled: 0, bytesWritten: 0, failures: [] };
      for (const target of input.destroy) {
        const result = await item(`destroy ${target.name} v${target.version}`, outcome.failures, () => keys.destroyKeyObjects(pool, target));
        outcome.destroyed += result?.destroyed ?? 0;
      }
      for (const target of input.restorePublic) {
        const result = await item(`restore the public key of ${target.name} v${target.version}`, outcome.failures, () => keys.restorePublicKey(pool, target));
        if (result?.created) {
          outcome.publicKeysRestored += 1;
          outcome.bytesWritten += result.bytesWritten;
        }
      }
      for (const target of input.disableSigning) {
        const result = await item(`switch signing off for ${target.name} v${target.version}`, outcome.failures, () => keys.setSigning(pool, { fingerprint: target.fingerprint, enabled: false }));
        if (result?.changed) outcome.signingDisabled += 1;
      }
      return outcome;
    },

    writeKeymapSnapshot: (input: WriteSnapshotInput): Promise<WriteSnapshotResult> => writeSnapshot(pool, input),

    writeAuditAnchor: (input: WriteAuditAnchorInput): Promise<WriteAuditAnchorResult> => writeAuditAnchor(pool, input),
  }));
}

export type HsmKeymapActivities = ReturnType<typeof createHsmKeymapActivities>;
