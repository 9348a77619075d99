import { canonicalJson } from '../canonical-json';
import { sha256Hex } from '../signed-object';
import { KEY_NAME_CHARACTERS, pkcs11Label, type Lineage, type VersionState } from '../keys/key-model';
import { mapPredictionOf } from './prediction';
import type { Holding, InventoryEntry, KeyMap, KeyMapKey, KeyMapSource, MapLineage, SourceKey } from './types';

const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

const lineageOf = ({ previousVersion, trigger, reason, actor }: Lineage): MapLineage => ({ parentVersion: previousVersion, trigger, reason, actor });

/**
 * The key map from what the database holds: keys by name, versions by number, holdings only for member nodes and
 * only where a node holds something. Deterministic: the same source always gives the same map, and so the same digest.
 */
export function buildKeyMap(source: KeyMapSource): KeyMap {
  const members = new Set(source.nodes.map((node) => node.id));
  const holdings = new Map<string, Record<string, Holding>>();
  for (const row of source.holdings) {
    if (!members.has(row.nodeId) || (!row.privateKey && !row.publicKey)) continue;
    const id = `${row.name}/${row.version}`;
    const held = holdings.get(id) ?? {};
    held[row.nodeId] = { privateKey: row.privateKey, publicKey: row.publicKey, canSign: row.privateKey ? row.canSign : null };
    holdings.set(id, held);
  }
  const keys: KeyMapKey[] = [...source.keys].sort(byName).map((key) => ({
    name: key.name,
    keyType: key.keyType,
    phase: key.phase,
    activeVersion: key.activeVersion,
    policy: key.policy,
    nextRotationAt: key.nextRotationAt,
    prediction: mapPredictionOf(key),
    versions: [...key.versions].sort((a, b) => a.version - b.version).map(({ spki: _spki, lineage, ...version }) => ({
      ...version,
      label: pkcs11Label(key.name, version.version),
      lineage: lineageOf(lineage),
      nodes: holdings.get(`${key.name}/${version.version}`) ?? {},
    })),
  }));
  return { keys, nodes: [...source.nodes].sort(byId) };
}

/** SHA-256 of the map's canonical JSON (keys sorted at every level, no white space), hex. */
export function keymapDigest(map: KeyMap): string {
  return sha256Hex(canonicalJson(map));
}

/**
 * What every node must hold of a version in this state. Compromised versions keep their private key (with signing
 * off) only until the lifecycle archives them, which it does at once.
 */
export function expectedHolding(state: VersionState): Holding | null {
  switch (state) {
    case 'active':
    case 'retiring':
      return { privateKey: true, publicKey: true, canSign: true };
    case 'compromised':
      return { privateKey: true, publicKey: true, canSign: false };
    case 'archived':
      return { privateKey: false, publicKey: true, canSign: null };
    case 'pending':
    case 'purged':
      return null;
  }
}

/** The managed objects every node should hold, as inventory entries. */
export function expectedInventory(source: Pick<KeyMapSource, 'keys'>): InventoryEntry[] {
  const entries: InventoryEntry[] = [];
  for (const key of source.keys) {
    for (const version of key.versions) {
      const expected = expectedHolding(version.state);
      if (!expected) continue;
      const label = pkcs11Label(key.name, version.version);
      if (expected.privateKey) entries.push({ class: 'privateKey', id: version.fingerprint, label, canSign: expected.canSign, fingerprint: null });
      if (expected.publicKey) entries.push({ class: 'publicKey', id: version.fingerprint, label, canSign: null, fingerprint: version.fingerprint });
    }
  }
  return entries;
}

/** An order-free digest of an inventory: the node and the control side compare these instead of whole listings. */
export function inventoryDigest(entries: readonly InventoryEntry[]): string {
  return sha256Hex(`[${entries.map((entry) => canonicalJson(entry)).sort().join(',')}]`);
}

/**
 * Inventories are compared bucket by bucket when their digests differ, so that a node sends the objects of the buckets
 * that differ rather than its whole listing. Objects fall into buckets by CKA_ID (a fingerprint spreads evenly).
 */
export const INVENTORY_BUCKETS = 64;

export function inventoryBucketOf(id: string): number {
  return /^[0-9a-f]{2}/.test(id) ? parseInt(id.slice(0, 2), 16) % INVENTORY_BUCKETS : 0;
}

/** The first 64 bits of each bucket's digest: enough to see which buckets differ (the whole inventory has its full digest). */
export function inventoryBucketDigests(entries: readonly InventoryEntry[]): string[] {
  const buckets = Array.from({ length: INVENTORY_BUCKETS }, (): InventoryEntry[] => []);
  for (const entry of entries) (buckets[inventoryBucketOf(entry.id)] as InventoryEntry[]).push(entry);
  return buckets.map((bucket) => inventoryDigest(bucket).slice(0, 16));
}

/** What a node's inventory is compared with: its digest, its bucket digests, the epoch of the map it came from. */
export interface ExpectedInventory {
  digest: string;
  buckets: string[];
  epoch: number;
}

export function expectationOf(source: KeyMapSource): ExpectedInventory {
  const entries = expectedInventory(source);
  return { digest: inventoryDigest(entries), buckets: inventoryBucketDigests(entries), epoch: source.epoch };
}

/** How close a lifecycle deadline may be before the sync leaves the key to the lifecycle. */
export const LIFECYCLE_MARGIN_MS = 2 * 60_000;

/**
 * Why the lifecycle owns the key right now, from what it recorded: a sync never touches a key that is being created,
 * rotated or decommissioned, has a version half-made, or has a lifecycle step due within the margin.
 */
export function recordedBusyReason(key: SourceKey, nowMs: number): string | null {
  if (key.phase === 'creating' || key.phase === 'rotating' || key.phase === 'decommissioning') return `the key is ${key.phase}`;
  const soon = nowMs + LIFECYCLE_MARGIN_MS;
  for (const version of key.versions) {
    if (version.state === 'pending') return `v${version.version} is pending (being generated or replicated)`;
    if (version.state === 'compromised') return `v${version.version} is compromised and being archived`;
    if (version.state === 'retiring' && version.graceDeadline && Date.parse(version.graceDeadline) <= soon) {
      return `the grace period of v${version.version} ends at ${version.graceDeadline}: its archiving is due`;
    }
    if (version.state === 'archived' && version.purgeAfter && Date.parse(version.purgeAfter) <= soon) {
      return `v${version.version} is due for purge at ${version.purgeAfter}`;
    }
  }
  if ((key.phase === 'active' || key.phase === 'grace') && key.nextRotationAt && Date.parse(key.nextRotationAt) <= soon) {
    return `its maxAge rotation is due at ${key.nextRotationAt}`;
  }
  return null;
}

const PKCS11_LABEL = new RegExp(`^keyrotor:(${KEY_NAME_CHARACTERS}{1,64}):v([1-9]\\d{0,8})$`);

/** `keyrotor:<name>:v<n>` back into its parts: lets a sync recognise a version whose generation is not recorded yet. */
export function parsePkcs11Label(label: string): { name: string; version: number } | null {
  const match = PKCS11_LABEL.exec(label);
  return match ? { name: match[1] as string, version: Number(match[2]) } : null;
}
