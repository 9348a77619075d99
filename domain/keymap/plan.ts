import type { KeyType } from '../keys/key-model';
import { pkcs11Label } from '../keys/key-model';
import { isEncryptionKeyType } from '../keys/key-types';
import { expectedHolding, inventoryBucketOf, parsePkcs11Label } from './build';
import type { InventoryClass, InventoryEntry, KeyMapSource, MapSigningKey, NodeInspection, NodeObservation, SourceKey, SourceVersion } from './types';

/**
 * The repair plan of one sync: compares what every reachable node holds with what the map says it must hold and
 * lists the repairs. Pure; the workflow carries the plan out, one batch per node and activity.
 */

/**
 * Encryption keys (a secret key, or a private key that decrypts) are held by the rules of their lifecycle, which sets
 * their usage on every node at each transition; the key map lists them but repairs only signing keys.
 */
const ENCRYPTION_KEYS_LEFT_TO_LIFECYCLE = 'an encryption key: its objects and usage are kept by its lifecycle; the key map does not repair them';

export interface ReplicationItem {
  /** The managed key, or null for the map-signing key. */
  name: string | null;
  version: number | null;
  fingerprint: string;
  label: string;
  keyType: KeyType;
  targets: string[];
}

/** Wrapped on `source` under the cluster KEK, unwrapped on each item's targets. */
export interface ReplicationBatch {
  source: string;
  items: ReplicationItem[];
}

export interface VersionRef {
  name: string;
  version: number;
  fingerprint: string;
}

export interface NodeRepairs {
  destroy: Array<VersionRef & { privateKey: boolean; publicKey: boolean }>;
  restorePublic: Array<VersionRef & { label: string; spki: string }>;
  disableSigning: VersionRef[];
}

export type DriftKind =
  | 'missing-private-key'
  | 'missing-public-key'
  | 'left-over'
  | 'signing-on'
  | 'signing-off'
  | 'duplicate'
  | 'label-mismatch'
  | 'forged-public-key'
  | 'unknown'
  | 'in-flight'
  | 'map-signing-key-missing';

export interface DriftItem {
  kind: DriftKind;
  key: string | null;
  version: number | null;
  class: InventoryClass | null;
  id: string;
  label: string;
  detail: string;
}

export interface NodeDrift {
  nodeId: string;
  /** matched: the inventory digest was the expected one; listed: the node sent its listing; unreachable. */
  inventory: 'matched' | 'listed' | 'unreachable';
  items: DriftItem[];
}

export interface UnknownObject {
  nodeId: string;
  class: InventoryClass;
  id: string;
  label: string;
}

export interface SyncPlan {
  replicate: ReplicationBatch[];
  repairs: Record<string, NodeRepairs>;
  drift: NodeDrift[];
  skipped: Array<{ key: string; why: string }>;
  unknown: UnknownObject[];
  unrepairable: Array<{ nodeId: string; key: string | null; version: number | null; problem: string }>;
}

export interface PlanInput {
  source: KeyMapSource;
  observations: readonly NodeObservation[];
  signingKey: MapSigningKey | null;
  /** Keys the lifecycle owns this round (recorded or live), with the reason. */
  busy: ReadonlyMap<string, string>;
  /** Most items per replication batch (one wrap activity, one import activity per target). */
  batchSize: number;
}

/** A node's objects of one CKA_ID, by class. */
interface Held {
  privateKeys: InventoryEntry[];
  publicKeys: InventoryEntry[];
  others: InventoryEntry[];
}

function indexInventory(inventory: readonly InventoryEntry[]): Map<string, Held> {
  const byId = new Map<string, Held>();
  for (const entry of inventory) {
    const held = byId.get(entry.id) ?? { privateKeys: [], publicKeys: [], others: [] };
    if (entry.class === 'privateKey') held.privateKeys.push(entry);
    else if (entry.class === 'publicKey') held.publicKeys.push(entry);
    else held.others.push(entry);
    byId.set(entry.id, held);
  }
  return byId;
}

/** Whether the node listed the bucket of this CKA_ID; if not, the bucket matched the expectation. */
export function listingCovers(inspection: NodeInspection, id: string): boolean {
  return inspection.inventory !== null && (inspection.listedBuckets === null || inspection.listedBuckets.includes(inventoryBucketOf(id)));
}

/** Whether a matched bucket still tells about this key: only if nothing of the key changed after the epoch compared. */
export function matchedKnows(inspection: NodeInspection, key: Pick<SourceKey, 'changedAtEpoch'>): boolean {
  return key.changedAtEpoch <= inspection.comparedEpoch;
}

/** What a node holds of a version, in the terms a repair needs; undefined when the node's listing cannot tell. */
interface VersionOnNode {
  privateKey: InventoryEntry | undefined;
  publicKey: InventoryEntry | undefined;
  /** A problem that stops automatic repair of this version on this node. */
  blocked: DriftItem | null;
  labelMismatch: DriftItem | null;
}

function versionOnNode(key: SourceKey, version: SourceVersion, held: Held | undefined): VersionOnNode {
  const label = pkcs11Label(key.name, version.version);
  const item = (kind: DriftKind, entry: InventoryEntry | null, detail: string): DriftItem => ({
    kind, key: key.name, version: version.version, class: entry?.class ?? null, id: version.fingerprint, label: entry?.label ?? label, detail,
  });
  const privateKeys = held?.privateKeys ?? [];
  const publicKeys = held?.publicKeys ?? [];
  let blocked: DriftItem | null = null;
  if (privateKeys.length > 1 || publicKeys.length > 1) {
    blocked = item('duplicate', null, `${privateKeys.length} private and ${publicKeys.length} public objects carry this CKA_ID; remove the extra ones by hand`);
  }
  const forged = publicKeys.find((entry) => entry.fingerprint !== version.fingerprint);
  if (forged) {
    blocked = item('forged-public-key', forged, `the public key object carries the CKA_ID of ${key.name} v${version.version} but its content has fingerprint ${forged.fingerprint ?? '(unreadable)'}`);
  }
  const misnamed = [...privateKeys, ...publicKeys].find((entry) => entry.label !== label);
  return {
    privateKey: privateKeys[0],
    publicKey: publicKeys[0],
    blocked,
    labelMismatch: misnamed ? item('label-mismatch', misnamed, `labelled '${misnamed.label}' instead of '${label}'`) : null,
  };
}

/** Builds the plan. Every decision is made here, so that it can be tested without an HSM. */
export function planSync(input: PlanInput): SyncPlan {
  const { source, busy } = input;
  const inspections = input.observations.filter((observation): observation is NodeInspection => observation.reachable);
  const listings = new Map(inspections.filter((inspection) => inspection.inventory !== null).map((inspection) => [inspection.nodeId, indexInventory(inspection.inventory as InventoryEntry[])]));
  const drift = new Map<string, NodeDrift>(input.observations.map((observation) => [
    observation.nodeId,
    { nodeId: observation.nodeId, inventory: !observation.reachable ? 'unreachable' : observation.inventory === null ? 'matched' : 'listed', items: [] },
  ]));
  const note = (nodeId: string, item: DriftItem): void => {
    (drift.get(nodeId) as NodeDrift).items.push(item);
  };
  const repairs: Record<string, NodeRepairs> = {};
  const repairsOf = (nodeId: string): NodeRepairs => (repairs[nodeId] ??= { destroy: [], restorePublic: [], disableSigning: [] });
  const replication = new Map<string, ReplicationItem & { preferred: string | null; holders: string[] }>();
  const skipped = new Map<string, string>();
  const unrepairable: SyncPlan['unrepairable'] = [];

  const knownIds = new Map<string, { key: SourceKey; version: SourceVersion }>();
  for (const key of source.keys) for (const version of key.versions) knownIds.set(version.fingerprint, { key, version });

  for (const key of source.keys) {
    const why = busy.get(key.name) ?? (isEncryptionKeyType(key.keyType) ? ENCRYPTION_KEYS_LEFT_TO_LIFECYCLE : undefined);
    if (why) {
      skipped.set(key.name, why);
      continue;
    }
    for (const version of key.versions) {
      const expected = expectedHolding(version.state);
      const ref: VersionRef = { name: key.name, version: version.version, fingerprint: version.fingerprint };
      const label = pkcs11Label(key.name, version.version);
      const holders: string[] = [];
      const lacking: string[] = [];
      for (const inspection of inspections) {
        const nodeId = inspection.nodeId;
        const listing = listings.get(nodeId);
        if (!listing || !listingCovers(inspection, version.fingerprint)) {
          if (matchedKnows(inspection, key)) {
            if (expected?.privateKey) holders.push(nodeId);
          } else {
            skipped.set(key.name, 'it changed while this sync was running');
          }
          continue;
        }
        const found = versionOnNode(key, version, listing.get(version.fingerprint));
        if (found.labelMismatch) note(nodeId, found.labelMismatch);
        if (found.blocked) {
          note(nodeId, found.blocked);
          unrepairable.push({ nodeId, key: key.name, version: version.version, problem: found.blocked.detail });
          continue;
        }
        const item = (kind: DriftKind, detail: string): DriftItem => ({ kind, key: key.name, version: version.version, class: null, id: version.fingerprint, label, detail });
        if (!expected) {
          if (found.privateKey || found.publicKey) {
            note(nodeId, item('left-over', `v${version.version} is ${version.state}: its objects must be gone`));
            repairsOf(nodeId).destroy.push({ ...ref, privateKey: Boolean(found.privateKey), publicKey: Boolean(found.publicKey) });
          }
          continue;
        }
        if (expected.privateKey && version.state !== 'compromised') {
          if (found.privateKey && found.publicKey) holders.push(nodeId);
          if (!found.privateKey) {
            note(nodeId, item('missing-private-key', `v${version.version} is ${version.state}: every node must hold its private key`));
            lacking.push(nodeId);
          } else if (found.privateKey.canSign === false) {
            note(nodeId, item('signing-off', `CKA_SIGN is off on an ${version.state} version; left as found (only the lifecycle switches signing)`));
          }
          if (found.privateKey && !found.publicKey) {
            note(nodeId, item('missing-public-key', `v${version.version} is ${version.state}: its public key is missing`));
            if (version.spki !== null) repairsOf(nodeId).restorePublic.push({ ...ref, label, spki: version.spki });
          }
          continue;
        }
        // Archived and compromised versions: the public key stays until the purge, the private key must go or not sign.
        if (!found.publicKey) {
          note(nodeId, item('missing-public-key', `v${version.version} is ${version.state}: its public key stays until the purge`));
          if (version.spki !== null) repairsOf(nodeId).restorePublic.push({ ...ref, label, spki: version.spki });
        }
        if (found.privateKey && !expected.privateKey) {
          note(nodeId, item('left-over', `v${version.version} is archived: its private key must be gone from every node`));
          repairsOf(nodeId).destroy.push({ ...ref, privateKey: true, publicKey: false });
        } else if (found.privateKey?.canSign === true) {
          note(nodeId, item('signing-on', `v${version.version} is compromised: its private key must not sign`));
          repairsOf(nodeId).disableSigning.push(ref);
        }
      }
      if (lacking.length > 0) {
        replication.set(version.fingerprint, {
          name: key.name, version: version.version, fingerprint: version.fingerprint, label, keyType: key.keyType, targets: lacking,
          preferred: version.generatedOn, holders,
        });
      }
    }
  }

  // The map-signing key: on every reachable node, replicated like a managed key.
  if (input.signingKey) {
    const { fingerprint, label, keyType } = input.signingKey;
    const holders: string[] = [];
    const lacking: string[] = [];
    for (const inspection of inspections) {
      const found = inspection.signingKeys.find((candidate) => candidate.id === fingerprint);
      if (found?.privateKey && found.publicKey) {
        holders.push(inspection.nodeId);
      } else {
        lacking.push(inspection.nodeId);
        note(inspection.nodeId, { kind: 'map-signing-key-missing', key: null, version: null, class: null, id: fingerprint, label, detail: 'the cluster map-signing key is missing' });
      }
    }
    if (lacking.length > 0) replication.set(fingerprint, { name: null, version: null, fingerprint, label, keyType, targets: lacking, preferred: null, holders });
  }

  // Objects the map does not know: reported and left in place. A version whose generation is not recorded yet belongs
  // to a key the lifecycle owns, and is only noted.
  const unknown: UnknownObject[] = [];
  for (const [nodeId, listing] of listings) {
    for (const [id, held] of listing) {
      const known = knownIds.get(id);
      if (known && isEncryptionKeyType(known.key.keyType)) continue;
      const strangers = known ? held.others : [...held.privateKeys, ...held.publicKeys, ...held.others];
      for (const entry of strangers) {
        const parsed = parsePkcs11Label(entry.label);
        if (!known && parsed && busy.has(parsed.name)) {
          note(nodeId, { kind: 'in-flight', key: parsed.name, version: parsed.version, class: entry.class, id, label: entry.label, detail: `${parsed.name} v${parsed.version} is not recorded yet; its lifecycle is at work (${busy.get(parsed.name) as string})` });
          continue;
        }
        note(nodeId, { kind: 'unknown', key: known?.key.name ?? null, version: known?.version.version ?? null, class: entry.class, id, label: entry.label, detail: 'the map does not know this object: quarantined (reported, never deleted automatically)' });
        unknown.push({ nodeId, class: entry.class, id, label: entry.label });
      }
    }
  }

  const batches = new Map<string, ReplicationItem[]>();
  for (const item of replication.values()) {
    const { preferred, holders, ...rest } = item;
    const sourceNode = preferred && holders.includes(preferred) ? preferred : holders[0];
    if (!sourceNode) {
      for (const target of item.targets) unrepairable.push({ nodeId: target, key: item.name, version: item.version, problem: `no reachable node holds ${item.name === null ? 'the map-signing key' : `${item.name} v${item.version}`} to replicate it from` });
      continue;
    }
    batches.set(sourceNode, [...(batches.get(sourceNode) ?? []), rest]);
  }
  const replicate: ReplicationBatch[] = [];
  for (const [sourceNode, items] of batches) {
    for (let offset = 0; offset < items.length; offset += input.batchSize) replicate.push({ source: sourceNode, items: items.slice(offset, offset + input.batchSize) });
  }

  return {
    replicate,
    repairs,
    drift: [...drift.values()],
    skipped: [...skipped].map(([key, why]) => ({ key, why })),
    unknown: unknown.sort((a, b) => `${a.nodeId} ${a.class} ${a.id} ${a.label}`.localeCompare(`${b.nodeId} ${b.class} ${b.id} ${b.label}`)),
    unrepairable,
  };
}
