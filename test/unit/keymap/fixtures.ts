import { createHash } from 'node:crypto';
import type { VersionState } from '../../../domain/keys/key-model';
import { pkcs11Label } from '../../../domain/keys/key-model';
import type { InventoryEntry, KeyMapSource, NodeInspection, SourceKey, SourceVersion } from '../../../domain/keymap/types';

export const NODES = ['hsm-1', 'hsm-2', 'hsm-3'];

export const fingerprint = (seed: string): string => createHash('sha256').update(seed).digest('hex');

export function version(name: string, n: number, state: VersionState, extra: Partial<SourceVersion> = {}): SourceVersion {
  const fp = fingerprint(`${name}/${n}`);
  return {
    version: n,
    kid: `${name}.v${n}.${fp.slice(0, 8)}`,
    fingerprint: fp,
    state,
    spki: Buffer.from(`spki of ${name} v${n}`).toString('base64'),
    generatedOn: 'hsm-1',
    createdAt: '2025-01-01T00:00:00.000Z',
    publishedAt: null,
    activatesAt: null,
    activatedAt: null,
    retiringAt: null,
    archivedAt: null,
    purgedAt: null,
    compromisedAt: null,
    graceDeadline: null,
    purgeAfter: null,
    lineage: { previousVersion: n > 1 ? n - 1 : null, trigger: n > 1 ? 'manual' : 'create', reason: 'test', actor: 'tester' },
    entropyProvenance: {
      mode: 'pool', nodeId: 'hsm-1', at: '2025-01-01T00:00:00.000Z', creditedBits: 4096, minimumCreditedBits: 512, healthy: true,
      drbg: { instantiated: true, reseeds: 1, lastReseedAt: '2025-01-01T00:00:00.000Z' }, sources: [], battery: null,
    },
    ...extra,
  };
}

export function key(name: string, versions: SourceVersion[], extra: Partial<SourceKey> = {}): SourceKey {
  return {
    name,
    keyType: 'ec-p256',
    phase: versions.some((v) => v.state === 'retiring') ? 'grace' : 'active',
    activeVersion: versions.find((v) => v.state === 'active')?.version ?? null,
    policy: { maxAge: '90d' },
    nextRotationAt: '2031-01-01T00:00:00.000Z',
    prediction: null,
    changedAtEpoch: 1,
    versions,
    ...extra,
  };
}

export function source(keys: SourceKey[], extra: Partial<KeyMapSource> = {}): KeyMapSource {
  return {
    epoch: 10,
    keys,
    nodes: NODES.map((id) => ({ id, entropy: { status: 'healthy', unhealthySources: [] } })),
    holdings: [],
    ...extra,
  };
}

/** The inventory a node holds when it has exactly these versions' objects. */
export function objectsOf(name: string, v: SourceVersion, parts: { privateKey?: boolean; publicKey?: boolean; canSign?: boolean } = {}): InventoryEntry[] {
  const label = pkcs11Label(name, v.version);
  const entries: InventoryEntry[] = [];
  if (parts.privateKey ?? true) entries.push({ class: 'privateKey', id: v.fingerprint, label, canSign: parts.canSign ?? true, fingerprint: null });
  if (parts.publicKey ?? true) entries.push({ class: 'publicKey', id: v.fingerprint, label, canSign: null, fingerprint: v.fingerprint });
  return entries;
}

export function listed(nodeId: string, inventory: InventoryEntry[], signingKeys: NodeInspection['signingKeys'] = []): NodeInspection {
  return { nodeId, reachable: true, inventoryDigest: 'x', objectCount: inventory.length, comparedEpoch: 0, bucketDigests: null, inventory, listedBuckets: null, signingKeys, snapshot: { status: 'missing', bytesRead: 0 } };
}

export function matched(nodeId: string, epoch: number, signingKeys: NodeInspection['signingKeys'] = []): NodeInspection {
  return { nodeId, reachable: true, inventoryDigest: 'x', objectCount: 0, comparedEpoch: epoch, bucketDigests: null, inventory: null, listedBuckets: null, signingKeys, snapshot: { status: 'missing', bytesRead: 0 } };
}

/** A node whose listed buckets hold `inventory`, and whose other buckets matched the map at `epoch`. */
export function partlyListed(nodeId: string, epoch: number, buckets: number[], inventory: InventoryEntry[]): NodeInspection {
  return { ...matched(nodeId, epoch), objectCount: inventory.length, inventory, listedBuckets: buckets };
}
