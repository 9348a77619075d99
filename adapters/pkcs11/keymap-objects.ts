import * as pkcs11js from 'pkcs11js';
import { UserError } from '../../domain/errors';
import { anchorObjectValue, readAnchor, type AnchorReading, type AuditAnchor } from '../../domain/audit/anchor';
import {
  AUDIT_ANCHOR_LABEL,
  CLUSTER_WRAPPING_KEY_LABELS,
  KEYMAP_SNAPSHOT_APPLICATION,
  KEYMAP_SNAPSHOT_LABEL,
  MAP_SIGNING_KEY_LABEL,
  keymapSnapshotShardLabel,
} from '../../domain/identifiers';
import { inventoryBucketDigests, inventoryBucketOf, inventoryDigest } from '../../domain/keymap/build';
import { SNAPSHOT_SHARDS, checkSnapshot, headObjectValue, type SnapshotHead, type SnapshotObjectsRead } from '../../domain/keymap/snapshot';
import type { ObjectSignature } from '../../domain/signed-object';
import type { InventoryEntry, NodeInspection, SnapshotReading } from '../../domain/keymap/types';
import { KeyKind, ObjectClass, readAttributeValues, template } from './attributes';
import { HsmError } from './errors';
import { createObjectsAlone, sweepUnfinishedObjects } from './keys';
import { fingerprintOf, spkiFromComponents, verifySignature } from './public-key';
import type { PooledSession, TokenSessionPool } from './session-pool';
import { findObjects } from './token';

/**
 * What the key map sync does on one token: an inventory of every token object (infrastructure set apart), the
 * signed snapshot checked against the map-signing public key, and the snapshot written as data objects.
 */

export interface InspectNodeInput {
  /** The inventory digest the map expects, and the map epoch it was computed at. */
  expected: { digest: string; epoch: number };
  /** The map the sync expects the snapshot to hold; a valid snapshot of it need not list its shard digests. */
  current: { epoch: number; digest: string } | null;
  signingKey: { fingerprint: string; spki: string } | null;
}

export interface WriteSnapshotInput {
  /** The signed head, or null to leave the head as it is. */
  head: { head: SnapshotHead; signature: ObjectSignature } | null;
  shards: Array<{ shard: number; value: string }>;
  signingKey: { fingerprint: string; spki: string };
  expect: { epoch: number; digest: string };
}

export interface WriteAuditAnchorInput {
  anchor: AuditAnchor;
  signature: ObjectSignature;
  signingKey: { fingerprint: string; spki: string };
}

export interface WriteAuditAnchorResult {
  bytesWritten: number;
  /** What the token holds after the write, read back and checked. */
  reading: AnchorReading;
}

export interface WriteSnapshotResult {
  bytesWritten: number;
  headWritten: boolean;
  shardsWritten: number;
  /** What the token holds after the write, read back and checked. */
  reading: SnapshotReading;
}

const SNAPSHOT_LABELS = new Set([KEYMAP_SNAPSHOT_LABEL, ...Array.from({ length: SNAPSHOT_SHARDS }, (_, shard) => keymapSnapshotShardLabel(shard))]);
const WRAPPING_KEY_LABELS = new Set<string>(CLUSTER_WRAPPING_KEY_LABELS);


/** The fingerprint a public key object's own components give; null when they are not a key type keyrotor reads. */
function publicFingerprint(session: PooledSession, object: pkcs11js.Handle): string | null {
  const { pkcs11, session: handle } = session;
  try {
    const { keyType } = readAttributeValues(pkcs11, handle, object, ['keyType']);
    if (keyType === KeyKind.ec) return fingerprintOf(spkiFromComponents(readAttributeValues(pkcs11, handle, object, ['ecParams', 'ecPoint'])));
    if (keyType === KeyKind.rsa) return fingerprintOf(spkiFromComponents(readAttributeValues(pkcs11, handle, object, ['modulus', 'publicExponent'])));
  } catch {
    // A curve or size keyrotor does not manage: the object is reported without a fingerprint.
  }
  return null;
}

function readSnapshotObjects(session: PooledSession, found: Array<{ label: string; object: pkcs11js.Handle }>): SnapshotObjectsRead {
  const read: SnapshotObjectsRead = { heads: [], shards: Array.from({ length: SNAPSHOT_SHARDS }, () => []), bytesRead: 0 };
  for (const { label, object } of found) {
    const { value } = readAttributeValues(session.pkcs11, session.session, object, ['value']);
    read.bytesRead += value.length;
    const text = value.toString('utf8');
    if (label === KEYMAP_SNAPSHOT_LABEL) read.heads.push(text);
    else (read.shards[Number(label.slice(KEYMAP_SNAPSHOT_LABEL.length + 1))] as string[]).push(text);
  }
  return read;
}

function snapshotVerifier(spki: string | undefined): (text: string, signature: ObjectSignature) => boolean {
  return (text, signature) => {
    if (!spki) return false;
    try {
      return verifySignature(Buffer.from(spki, 'base64'), 'ec-p256', Buffer.from(text, 'utf8'), Buffer.from(signature.value, 'base64'));
    } catch {
      return false;
    }
  };
}

function readAnchorObjects(session: PooledSession, objects: pkcs11js.Handle[], signingKey: { fingerprint: string; spki: string } | null): AnchorReading {
  let bytesRead = 0;
  const values = objects.map((object) => {
    const { value } = readAttributeValues(session.pkcs11, session.session, object, ['value']);
    bytesRead += value.length;
    return value.toString('utf8');
  });
  return readAnchor({ values, bytesRead, signingKeyFingerprint: signingKey?.fingerprint ?? null, verify: snapshotVerifier(signingKey?.spki) });
}

function findSnapshotObjects(session: PooledSession): Array<{ label: string; object: pkcs11js.Handle }> {
  const found: Array<{ label: string; object: pkcs11js.Handle }> = [];
  for (const object of findObjects(session.pkcs11, session.session, template({ class: ObjectClass.data, token: true }))) {
    const { label } = readAttributeValues(session.pkcs11, session.session, object, ['label']);
    if (SNAPSHOT_LABELS.has(label)) found.push({ label, object });
  }
  return found;
}

interface TokenInventory {
  inventory: InventoryEntry[];
  signingKeys: NodeInspection['signingKeys'];
  snapshotObjects: Array<{ label: string; object: pkcs11js.Handle }>;
  anchorObjects: pkcs11js.Handle[];
}

/** The classes listed with what is read of each object. */
const LISTED_CLASSES = [
  { objectClass: 'privateKey', value: ObjectClass.privateKey, names: ['id', 'label', 'sign'] },
  { objectClass: 'secretKey', value: ObjectClass.secretKey, names: ['id', 'label', 'sign'] },
  { objectClass: 'publicKey', value: ObjectClass.publicKey, names: ['id', 'label'] },
  { objectClass: 'certificate', value: pkcs11js.CKO_CERTIFICATE, names: ['id', 'label'] },
  { objectClass: 'data', value: ObjectClass.data, names: ['label'] },
] as const;

/**
 * Every token object, with the infrastructure (wrapping keys, the map-signing key, the snapshot and anchor objects) set apart.
 * One search of the whole token, then each object's class and what its class lists (public keys one more read, for
 * their fingerprint). A search costs as much as the token has objects, whatever its template: SoftHSM's file store
 * reads every object's file for each one (bench/README.md, "SoftHSM's file store"), so six searches, one per class
 * and one for the rest, cost six times this one. Session objects are left out: they die with their session.
 */
function readInventory(session: PooledSession, signingKeyFingerprint: string | null): TokenInventory {
  const { pkcs11, session: handle } = session;
  const inventory: InventoryEntry[] = [];
  const signingKeys = new Map<string, { id: string; privateKey: boolean; publicKey: boolean }>();
  const snapshotObjects: Array<{ label: string; object: pkcs11js.Handle }> = [];
  const anchorObjects: pkcs11js.Handle[] = [];
  for (const object of findObjects(pkcs11, handle, template({ token: true }))) {
    const { class: classValue } = readAttributeValues(pkcs11, handle, object, ['class']);
    const listed = LISTED_CLASSES.find((candidate) => candidate.value === classValue);
    if (!listed) {
      // Whatever else the token holds (hardware features, domain parameters, vendor classes) is a stranger too.
      // Objects of these classes need not carry a label (it is a storage attribute); the class then names them.
      let label = `(object class 0x${classValue.toString(16)})`;
      try {
        label = readAttributeValues(pkcs11, handle, object, ['label']).label;
      } catch {
        // No CKA_LABEL: keep the class as its name in the report.
      }
      inventory.push({ class: 'other', id: '', label, canSign: null, fingerprint: null });
      continue;
    }
    const { objectClass, names } = listed;
    const read = readAttributeValues(pkcs11, handle, object, names) as { label: string; id?: Buffer; sign?: boolean };
    const { label } = read;
    if (objectClass === 'data') {
      if (SNAPSHOT_LABELS.has(label)) snapshotObjects.push({ label, object });
      else if (label === AUDIT_ANCHOR_LABEL) anchorObjects.push(object);
      else inventory.push({ class: 'data', id: '', label, canSign: null, fingerprint: null });
      continue;
    }
    if (objectClass === 'secretKey' && WRAPPING_KEY_LABELS.has(label)) continue;
    const id = (read.id as Buffer).toString('hex');
    if ((objectClass === 'privateKey' || objectClass === 'publicKey') && label === MAP_SIGNING_KEY_LABEL) {
      const held = signingKeys.get(id) ?? { id, privateKey: false, publicKey: false };
      held[objectClass] = true;
      signingKeys.set(id, held);
      // Before a map-signing key is recorded, a pair with its label is one that an interrupted sync made: not a stranger.
      if (!signingKeyFingerprint || signingKeyFingerprint === id) continue;
    }
    const fingerprint = objectClass === 'publicKey' ? publicFingerprint(session, object) : null;
    inventory.push({ class: objectClass, id, label, canSign: read.sign ?? null, fingerprint });
  }
  return { inventory, signingKeys: [...signingKeys.values()], snapshotObjects, anchorObjects };
}

function checkFingerprint(signingKey: { fingerprint: string } | null): void {
  if (signingKey && !/^[0-9a-f]{64}$/.test(signingKey.fingerprint)) throw new UserError('invalid_fingerprint', 'signingKey.fingerprint is not 64 lowercase hex digits');
}

/**
 * The node's side of a sync: digests its inventory and compares it with the one the map expects. Only a digest
 * crosses the network when they agree; when they differ, the digest of each bucket, so that the sync asks for the
 * objects of the buckets that differ and nothing else. Reads the snapshot objects and the audit anchor and checks them.
 */
export async function inspectNode(pool: TokenSessionPool, input: InspectNodeInput): Promise<NodeInspection> {
  checkFingerprint(input.signingKey);
  // Leftovers of a creation cut off inside the library are no key of anyone's: they go before the inventory is read.
  await sweepUnfinishedObjects(pool);
  return pool.withSession('inspecting the token for the key map', (session) => {
    const { inventory, signingKeys, snapshotObjects, anchorObjects } = readInventory(session, input.signingKey?.fingerprint ?? null);
    const digest = inventoryDigest(inventory);
    const snapshot = checkSnapshot({
      read: readSnapshotObjects(session, snapshotObjects),
      signingKeyFingerprint: input.signingKey?.fingerprint ?? null,
      verify: snapshotVerifier(input.signingKey?.spki),
      current: input.current,
    });
    return {
      nodeId: pool.nodeId,
      reachable: true as const,
      inventoryDigest: digest,
      objectCount: inventory.length,
      comparedEpoch: input.expected.epoch,
      bucketDigests: digest === input.expected.digest ? null : inventoryBucketDigests(inventory),
      inventory: null,
      listedBuckets: null,
      signingKeys,
      snapshot,
      auditAnchor: readAnchorObjects(session, anchorObjects, input.signingKey),
    };
  });
}

/** The inventory entries of some buckets (null: all of them), for a node whose inventory differs from the map's. */
export async function listInventory(pool: TokenSessionPool, input: { buckets: number[] | null; signingKey: { fingerprint: string } | null }): Promise<{ entries: InventoryEntry[] }> {
  checkFingerprint(input.signingKey);
  const wanted = input.buckets === null ? null : new Set(input.buckets);
  return pool.withSession('listing token objects for the key map', (session) => {
    const { inventory } = readInventory(session, input.signingKey?.fingerprint ?? null);
    return { entries: wanted === null ? inventory : inventory.filter((entry) => wanted.has(inventoryBucketOf(entry.id))) };
  });
}

/**
 * Writes snapshot objects: each new object is created before the ones it replaces are destroyed, so the token never
 * lacks a snapshot, and a retry after a crash leaves one object per label. Then reads everything back and checks it:
 * the acknowledgement is what the token holds, not what was sent.
 */
export async function writeSnapshot(pool: TokenSessionPool, input: WriteSnapshotInput): Promise<WriteSnapshotResult> {
  const writes = [
    ...input.shards.map(({ shard, value }) => {
      if (!Number.isInteger(shard) || shard < 0 || shard >= SNAPSHOT_SHARDS) throw new UserError('invalid_shard', `shard ${shard} is not 0..${SNAPSHOT_SHARDS - 1}`);
      return { label: keymapSnapshotShardLabel(shard), value };
    }),
    // The head last: a head names its shards by digest, so it must not point at shards not written yet.
    ...(input.head === null ? [] : [{ label: KEYMAP_SNAPSHOT_LABEL, value: headObjectValue(input.head.head, input.head.signature) }]),
  ];
  return createObjectsAlone(pool, () => pool.withSession('writing the key map snapshot', (session) => {
    const { pkcs11, session: handle } = session;
    let bytesWritten = 0;
    // The objects each write replaces, found in one search rather than one per label: a search costs as much as the
    // token has objects (SoftHSM's file store), and a sync after any change writes up to 16 shards and the head.
    // Snapshot objects are made only here, one call at a time per token (createObjectsAlone), so none appears meanwhile.
    const existing = findSnapshotObjects(session);
    for (const { label, value } of writes) {
      const previous = existing.filter((found) => found.label === label).map((found) => found.object);
      const bytes = Buffer.from(value, 'utf8');
      pkcs11.C_CreateObject(handle, template({
        class: ObjectClass.data, token: true, private: true, modifiable: false, label, application: KEYMAP_SNAPSHOT_APPLICATION, value: bytes,
      }));
      bytesWritten += bytes.length;
      for (const object of previous) pkcs11.C_DestroyObject(handle, object);
    }
    const reading = checkSnapshot({
      read: readSnapshotObjects(session, findSnapshotObjects(session)),
      signingKeyFingerprint: input.signingKey.fingerprint,
      verify: snapshotVerifier(input.signingKey.spki),
      current: input.expect,
    });
    if (reading.status !== 'valid' || reading.epoch !== input.expect.epoch || reading.digest !== input.expect.digest) {
      throw new HsmError(session.nodeId, undefined, `the snapshot read back after writing is ${reading.status === 'valid' ? `of epoch ${reading.epoch}` : `${reading.status}${'problem' in reading ? ` (${reading.problem})` : ''}`}, not epoch ${input.expect.epoch}`, true);
    }
    return { bytesWritten, headWritten: input.head !== null, shardsWritten: input.shards.length, reading };
  }));
}

/**
 * Writes the audit anchor like a snapshot object: the new object first, then the ones it replaces destroyed; then
 * read back and checked, so that the acknowledgement is what the token holds.
 */
export async function writeAuditAnchor(pool: TokenSessionPool, input: WriteAuditAnchorInput): Promise<WriteAuditAnchorResult> {
  checkFingerprint(input.signingKey);
  const bytes = Buffer.from(anchorObjectValue(input.anchor, input.signature), 'utf8');
  return createObjectsAlone(pool, () => pool.withSession('writing the audit anchor', (session) => {
    const { pkcs11, session: handle } = session;
    const previous = findObjects(pkcs11, handle, template({ class: ObjectClass.data, token: true, label: AUDIT_ANCHOR_LABEL }));
    pkcs11.C_CreateObject(handle, template({
      class: ObjectClass.data, token: true, private: true, modifiable: false, label: AUDIT_ANCHOR_LABEL, application: KEYMAP_SNAPSHOT_APPLICATION, value: bytes,
    }));
    for (const object of previous) pkcs11.C_DestroyObject(handle, object);
    const reading = readAnchorObjects(session, findObjects(pkcs11, handle, template({ class: ObjectClass.data, token: true, label: AUDIT_ANCHOR_LABEL })), input.signingKey);
    if (reading.status !== 'valid' || reading.anchor.seq !== input.anchor.seq || reading.anchor.hash !== input.anchor.hash) {
      throw new HsmError(session.nodeId, undefined, `the audit anchor read back after writing is ${reading.status === 'valid' ? `of entry ${reading.anchor.seq}` : `${reading.status}${'problem' in reading ? ` (${reading.problem})` : ''}`}, not entry ${input.anchor.seq}`, true);
    }
    return { bytesWritten: bytes.length, reading };
  }));
}
