import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import { buildKeyMap, keymapDigest } from '../../../domain/keymap/build';
import {
  SNAPSHOT_SHARDS,
  buildSnapshot,
  checkSnapshot,
  headObjectValue,
  shardOf,
  signedText,
  snapshotWrites,
  type Snapshot,
  type SnapshotObjectsRead,
} from '../../../domain/keymap/snapshot';
import type { ObjectSignature } from '../../../domain/signed-object';
import { key, source, version } from './fixtures';

function signer(): { fingerprint: string; sign: (text: string) => ObjectSignature; verify: (text: string, signature: ObjectSignature) => boolean } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const fingerprint = createHash('sha256').update(spki).digest('hex');
  return {
    fingerprint,
    // What the HSM returns for CKM_ECDSA over a SHA-256 digest: raw r||s.
    sign: (text) => ({ alg: 'ES256', keyFingerprint: fingerprint, value: sign('sha256', Buffer.from(text), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64') }),
    verify: (text, signature) => verify('sha256', Buffer.from(text), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature.value, 'base64')),
  };
}

const keys = Array.from({ length: 40 }, (_, i) => key(`key-${i}`, [version(`key-${i}`, 1, 'retiring', { graceDeadline: '2031-02-01T00:00:00.000Z' }), version(`key-${i}`, 2, 'active')]));

function snapshotOf(keyList = keys, epoch = 7): Snapshot {
  const map = buildKeyMap(source(keyList));
  return buildSnapshot(map, epoch, keymapDigest(map));
}

/** What a node holds after a clean write of this snapshot. */
function objectsOf(snapshot: Snapshot, signature: ObjectSignature): SnapshotObjectsRead {
  const heads = [headObjectValue(snapshot.head, signature)];
  return { heads, shards: snapshot.shards.map((value) => [value]), bytesRead: [...heads, ...snapshot.shards].reduce((sum, value) => sum + value.length, 0) };
}

describe('the signed snapshot of the key map', () => {
  const key1 = signer();
  const snapshot = snapshotOf();
  const stored = objectsOf(snapshot, key1.sign(signedText(snapshot.head)));
  const check = (read: SnapshotObjectsRead, current: { epoch: number; digest: string } | null = null) =>
    checkSnapshot({ read, signingKeyFingerprint: key1.fingerprint, verify: key1.verify, current });

  it('holds the epoch, the digest, the entropy health of every node and each key\'s schedule, spread over the shards', () => {
    expect(snapshot.head).toMatchObject({ epoch: 7, digest: keymapDigest(buildKeyMap(source(keys))), keys: 40, nodes: [{ id: 'hsm-1', entropy: { status: 'healthy' } }, { id: 'hsm-2' }, { id: 'hsm-3' }] });
    expect(snapshot.shards).toHaveLength(SNAPSHOT_SHARDS);
    const entries = snapshot.shards.flatMap((value) => (JSON.parse(value) as { keys: Array<Record<string, unknown>> }).keys);
    expect(entries).toHaveLength(40);
    expect(entries.find((entry) => entry.key === 'key-3')).toEqual({
      key: 'key-3', phase: 'grace', activeVersion: 2, activeKid: 'key-3.v2.' + keys[3]!.versions[1]!.fingerprint.slice(0, 8), nextRotationAt: '2031-01-01T00:00:00.000Z',
      predictedRotationAt: '2031-01-01T00:00:00.000Z', predictedTrigger: 'age', nextEvaluationAt: null, lastRiskScore: null, graceEndsAt: '2031-02-01T00:00:00.000Z', purges: [],
    });
    // Forty keys land in most of the sixteen shards.
    expect(snapshot.shards.filter((value) => (JSON.parse(value) as { keys: unknown[] }).keys.length > 0).length).toBeGreaterThan(10);
  });

  it('verifies what was written, and reports shard digests only when the snapshot is not the current one', () => {
    expect(check(stored, { epoch: 7, digest: snapshot.head.digest })).toEqual({ status: 'valid', epoch: 7, digest: snapshot.head.digest, bytesRead: stored.bytesRead, shardDigests: null });
    expect(check(stored, { epoch: 8, digest: snapshot.head.digest })).toMatchObject({ status: 'valid', shardDigests: snapshot.head.shards });
  });

  it.each<[string, (read: SnapshotObjectsRead) => SnapshotObjectsRead, RegExp]>([
    ['a changed epoch', (read) => ({ ...read, heads: [read.heads[0]!.replace('"epoch":7', '"epoch":9')] }), /signature of the head does not verify/],
    ['a changed shard', (read) => ({ ...read, shards: read.shards.map((values, i) => (i === shardOf('key-5') ? [values[0]!.replace('"phase":"grace"', '"phase":"active"')] : values)) }), /shard \d+ does not match/],
    ['white space added', (read) => ({ ...read, heads: [read.heads[0]!.replace('{', '{ ')] }), /not in canonical form/],
    ['not JSON', (read) => ({ ...read, heads: ['garbage'] }), /not JSON/],
    ['a second head', (read) => ({ ...read, heads: [...read.heads, read.heads[0]!] }), /2 head objects/],
    ['a missing shard', (read) => ({ ...read, shards: read.shards.map((values, i) => (i === 3 ? [] : values)) }), /0 objects for shard 3/],
    ['shards without a head', (read) => ({ ...read, heads: [] }), /shard objects without a head/],
  ])('reports %s as tampered', (_what, alter, problem) => {
    const reading = check(alter(stored));
    expect(reading.status).toBe('tampered');
    expect(reading.status === 'tampered' && reading.problem).toMatch(problem);
  });

  it('reports a snapshot signed by any other key as tampered, and says when it cannot verify at all', () => {
    const other = signer();
    const forged = objectsOf(snapshot, other.sign(signedText(snapshot.head)));
    expect(check(forged)).toMatchObject({ status: 'tampered', problem: expect.stringMatching(/not by the cluster map-signing key/) });
    const sameFingerprint = { ...forged, heads: [headObjectValue(snapshot.head, { ...other.sign(signedText(snapshot.head)), keyFingerprint: key1.fingerprint })] };
    expect(check(sameFingerprint)).toMatchObject({ status: 'tampered', problem: expect.stringMatching(/does not verify/) });
    expect(checkSnapshot({ read: stored, signingKeyFingerprint: null, verify: key1.verify, current: null }).status).toBe('unverifiable');
    expect(check({ heads: [], shards: Array.from({ length: SNAPSHOT_SHARDS }, () => []), bytesRead: 0 })).toEqual({ status: 'missing', bytesRead: 0 });
  });

  it('writes nothing for an unchanged map, the head and one shard when one key changes, everything when the node holds nothing valid', () => {
    const current = check(stored, { epoch: 7, digest: snapshot.head.digest });
    expect(snapshotWrites(current, snapshot)).toEqual({ head: false, shards: [] });

    const changedKeys = keys.map((k) => (k.name === 'key-5' ? { ...k, phase: 'active', versions: [version('key-5', 1, 'archived'), version('key-5', 2, 'active')] } : k));
    const next = snapshotOf(changedKeys, 8);
    const held = check(stored, { epoch: 8, digest: next.head.digest });
    expect(snapshotWrites(held, next)).toEqual({ head: true, shards: [shardOf('key-5')] });

    expect(snapshotWrites({ status: 'missing', bytesRead: 0 }, next)).toEqual({ head: true, shards: [...Array(SNAPSHOT_SHARDS).keys()] });
    expect(snapshotWrites({ status: 'tampered', problem: 'x', bytesRead: 10 }, next).shards).toHaveLength(SNAPSHOT_SHARDS);
  });

  it('puts a key in the same shard whatever else changes', () => {
    expect(shardOf('payments')).toBe(shardOf('payments'));
    const counts = new Array<number>(SNAPSHOT_SHARDS).fill(0);
    for (let i = 0; i < 1600; i += 1) counts[shardOf(`key-${i}`)] = (counts[shardOf(`key-${i}`)] ?? 0) + 1;
    // A hash spread: no shard gets more than twice its share.
    expect(Math.max(...counts)).toBeLessThan(200);
  });
});
