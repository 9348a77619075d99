import { canonicalJson } from '../canonical-json';
import { isObjectSignature, openSignedObject, sha256Hex, signedObjectValue, type ObjectSignature, type SignatureCheck } from '../signed-object';
import type { KeyMap, KeyMapNode, SnapshotReading } from './types';

/**
 * The signed snapshot of the map that every node holds as PKCS#11 data objects: a head (epoch, digest, the entropy
 * health of every node, and the SHA-256 of each shard), signed by the cluster map-signing key, and SNAPSHOT_SHARDS
 * shards holding the rotation schedule of the keys that hash into them. A change to one key rewrites the head and one
 * shard, not the whole schedule; an unchanged map rewrites nothing.
 */

export const SNAPSHOT_FORMAT = 'keyrotor.keymap-snapshot/1';
export const SNAPSHOT_SHARDS = 16;

/** One key's rotation schedule as the nodes hold it. */
export interface ScheduleEntry {
  key: string;
  phase: string;
  activeVersion: number | null;
  activeKid: string | null;
  /** The maxAge deadline of the active version. */
  nextRotationAt: string | null;
  predictedRotationAt: string | null;
  predictedTrigger: string | null;
  nextEvaluationAt: string | null;
  lastRiskScore: number | null;
  /** When the retiring version's grace period ends. */
  graceEndsAt: string | null;
  /** Archived versions and when they are purged. */
  purges: Array<{ version: number; at: string | null }>;
}

export interface SnapshotShard {
  format: string;
  shard: number;
  keys: ScheduleEntry[];
}

export interface SnapshotHead {
  format: string;
  epoch: number;
  digest: string;
  keys: number;
  nodes: KeyMapNode[];
  /** SHA-256 of each shard object's value, hex, by shard number. */
  shards: string[];
}

/** What is written: the head to sign, and each shard's object value (canonical JSON). */
export interface Snapshot {
  head: SnapshotHead;
  shards: string[];
}

/** The shard a key's schedule lives in: spread by a hash of the name, stable whatever other keys exist. */
export function shardOf(name: string): number {
  return parseInt(sha256Hex(name).slice(0, 8), 16) % SNAPSHOT_SHARDS;
}

export function scheduleOf(key: KeyMap['keys'][number]): ScheduleEntry {
  const active = key.versions.find((version) => version.state === 'active');
  const retiring = key.versions.find((version) => version.state === 'retiring');
  return {
    key: key.name,
    phase: key.phase,
    activeVersion: active?.version ?? null,
    activeKid: active?.kid ?? null,
    nextRotationAt: key.nextRotationAt,
    predictedRotationAt: key.prediction.predictedRotationAt,
    predictedTrigger: key.prediction.predictedTrigger,
    nextEvaluationAt: key.prediction.nextEvaluationAt,
    lastRiskScore: key.prediction.lastRiskScore,
    graceEndsAt: retiring?.graceDeadline ?? null,
    purges: key.versions.filter((version) => version.state === 'archived').map((version) => ({ version: version.version, at: version.purgeAfter })),
  };
}

export function buildSnapshot(map: KeyMap, epoch: number, digest: string): Snapshot {
  const entries: ScheduleEntry[][] = Array.from({ length: SNAPSHOT_SHARDS }, () => []);
  for (const key of map.keys) (entries[shardOf(key.name)] as ScheduleEntry[]).push(scheduleOf(key));
  const shards = entries.map((keys, shard) => canonicalJson({ format: SNAPSHOT_FORMAT, shard, keys } satisfies SnapshotShard));
  return {
    head: { format: SNAPSHOT_FORMAT, epoch, digest, keys: map.keys.length, nodes: map.nodes, shards: shards.map(sha256Hex) },
    shards,
  };
}

/** The bytes the map-signing key signs: the head's canonical JSON. */
export function signedText(head: SnapshotHead): string {
  return canonicalJson(head);
}

export function headObjectValue(head: SnapshotHead, signature: ObjectSignature): string {
  return signedObjectValue('head', head, signature);
}

const HEX64 = /^[0-9a-f]{64}$/;

function parseHead(value: string): { head: SnapshotHead; signature: ObjectSignature } | string {
  const opened = openSignedObject(value, 'head', 'head');
  if (typeof opened === 'string') return opened;
  const head = opened.body as Partial<SnapshotHead> | undefined;
  if (!head || head.format !== SNAPSHOT_FORMAT) return `the head object is not a ${SNAPSHOT_FORMAT} head`;
  if (!Number.isSafeInteger(head.epoch) || typeof head.digest !== 'string' || !HEX64.test(head.digest)) return 'the head object has no valid epoch and digest';
  if (!Array.isArray(head.shards) || head.shards.length !== SNAPSHOT_SHARDS || !head.shards.every((shard) => typeof shard === 'string' && HEX64.test(shard))) {
    return `the head object does not list ${SNAPSHOT_SHARDS} shard digests`;
  }
  if (!isObjectSignature(opened.signature)) return 'the head object carries no signature';
  return { head: head as SnapshotHead, signature: opened.signature };
}

export interface SnapshotObjectsRead {
  /** Values of every head object found (one is expected). */
  heads: string[];
  /** Values of the objects found with each shard's label, by shard number. */
  shards: string[][];
  bytesRead: number;
}

/**
 * Checks what a node holds: exactly one head, signed by the map-signing key, and every shard exactly once and equal
 * to the digest the head lists. `current` is the map the sync expects: a valid snapshot of it need not report its shards.
 */
export function checkSnapshot(input: {
  read: SnapshotObjectsRead;
  signingKeyFingerprint: string | null;
  verify: SignatureCheck;
  current: { epoch: number; digest: string } | null;
}): SnapshotReading {
  const { read } = input;
  const bytesRead = read.bytesRead;
  if (read.heads.length === 0) return read.shards.some((values) => values.length > 0) ? { status: 'tampered', problem: 'shard objects without a head object', bytesRead } : { status: 'missing', bytesRead: 0 };
  if (read.heads.length > 1) return { status: 'tampered', problem: `${read.heads.length} head objects where there must be one`, bytesRead };
  const parsed = parseHead(read.heads[0] as string);
  if (typeof parsed === 'string') return { status: 'tampered', problem: parsed, bytesRead };
  const { head, signature } = parsed;
  if (!input.signingKeyFingerprint) return { status: 'unverifiable', problem: 'no map-signing key is recorded yet', bytesRead };
  if (signature.keyFingerprint !== input.signingKeyFingerprint) return { status: 'tampered', problem: `signed by key ${signature.keyFingerprint}, not by the cluster map-signing key`, bytesRead };
  if (!input.verify(signedText(head), signature)) return { status: 'tampered', problem: 'the signature of the head does not verify', bytesRead };
  for (let shard = 0; shard < SNAPSHOT_SHARDS; shard += 1) {
    const values = read.shards[shard] ?? [];
    if (values.length !== 1) return { status: 'tampered', problem: `${values.length} objects for shard ${shard} where there must be one`, bytesRead };
    if (sha256Hex(values[0] as string) !== head.shards[shard]) return { status: 'tampered', problem: `shard ${shard} does not match the digest its signed head lists`, bytesRead };
  }
  const isCurrent = input.current !== null && input.current.epoch === head.epoch && input.current.digest === head.digest;
  return { status: 'valid', epoch: head.epoch, digest: head.digest, bytesRead, shardDigests: isCurrent ? null : head.shards };
}

/** Which objects a node needs rewritten to hold `snapshot`: none when it holds it already. */
export function snapshotWrites(reading: SnapshotReading, snapshot: Snapshot): { head: boolean; shards: number[] } {
  if (reading.status === 'valid' && reading.epoch === snapshot.head.epoch && reading.digest === snapshot.head.digest) return { head: false, shards: [] };
  const held = reading.status === 'valid' ? reading.shardDigests : null;
  const shards = snapshot.head.shards.map((digest, index) => (held && held[index] === digest ? -1 : index)).filter((index) => index >= 0);
  return { head: true, shards };
}
