import type { AnchorCheck } from '../../../domain/audit/anchor';
import type { SyncPlan } from '../../../domain/keymap/plan';
import type { NodeRepairSummary } from '../../../domain/keymap/sync';
import * as decide from '../../../domain/keymap/sync-outcome';
import type { SnapshotAck } from '../../../domain/keymap/sync-outcome';
import type { MapSigningKey, NodeInspection, NodeObservation } from '../../../domain/keymap/types';

const signingKey: MapSigningKey = { fingerprint: 'f'.repeat(64), spki: 'spki', keyType: 'ec-p256', label: 'keyrotor-map-signing' };
const current = { epoch: 7, digest: 'd'.repeat(64) };

function inspection(nodeId: string, extra: Partial<NodeInspection> = {}): NodeInspection {
  return {
    nodeId, reachable: true, inventoryDigest: 'i'.repeat(64), objectCount: 12, comparedEpoch: 7, bucketDigests: null, inventory: null, listedBuckets: null,
    signingKeys: [{ id: signingKey.fingerprint, privateKey: true, publicKey: true }],
    snapshot: { status: 'valid', ...current, bytesRead: 900, shardDigests: null },
    ...extra,
  };
}
const down = (nodeId: string): NodeObservation => ({ nodeId, reachable: false, reason: 'its worker did not pick up the task within 15 s (is it running?)' });

describe('key-map sync decisions', () => {
  it('lists only the buckets whose digests differ, and every bucket when none does', () => {
    expect(decide.bucketsToList(['a', 'b', 'c', 'd'], ['a', 'x', 'c', 'y'])).toEqual([1, 3]);
    expect(decide.bucketsToList(['a', 'b'], ['a', 'b'])).toBeNull();
  });

  it('plans only when a reachable node differs or lacks the map-signing key', () => {
    expect(decide.needsPlan([inspection('hsm-1'), down('hsm-2')], signingKey)).toBe(false);
    expect(decide.needsPlan([inspection('hsm-1', { inventory: [] })], signingKey)).toBe(true);
    expect(decide.needsPlan([inspection('hsm-1', { signingKeys: [{ id: signingKey.fingerprint, privateKey: true, publicKey: false }] })], signingKey)).toBe(true);
    expect(decide.needsPlan([inspection('hsm-1', { signingKeys: [] })], null)).toBe(false);
    expect(decide.emptyPlan([inspection('hsm-1'), inspection('hsm-2', { inventory: [] }), down('hsm-3')]).drift.map((drift) => drift.inventory)).toEqual(['matched', 'listed', 'unreachable']);
  });

  it('makes the map-signing key on the first reachable node and then counts it as held there', () => {
    const observations = [down('hsm-1'), inspection('hsm-2', { signingKeys: [] }), inspection('hsm-3', { signingKeys: [] })];
    expect(decide.signingKeyGenerator(observations)).toBe('hsm-2');
    expect(decide.signingKeyGenerator([down('hsm-1')])).toBeNull();
    const after = decide.withSigningKeyOn(observations, 'hsm-2', signingKey.fingerprint);
    expect(decide.mapSigner(after, signingKey, 'the snapshot')).toEqual({ signer: 'hsm-2', key: signingKey });
    expect(decide.mapSigner(observations, signingKey, 'the snapshot')).toEqual({ problem: 'no reachable node holds the map-signing key: the snapshot was not written' });
    expect(decide.mapSigner(after, null, 'the audit anchor')).toEqual({ problem: 'there is no map-signing key yet: the audit anchor was not written' });
  });

  it('sends each target only the replicas meant for it that were wrapped, and adds up repairs', () => {
    const item = (fingerprint: string, targets: string[]) => ({ name: 'k', version: 1, fingerprint, label: `k/${fingerprint}`, keyType: 'ec-p256' as const, targets });
    const batch = { source: 'hsm-1', items: [item('a', ['hsm-2', 'hsm-3']), item('b', ['hsm-3']), item('c', ['hsm-2'])] };
    const imports = decide.replicaImports(batch, [{ fingerprint: 'a', wrapped: 'wa' }, { fingerprint: 'b', wrapped: 'wb' }]);
    expect(imports).toEqual([
      { target: 'hsm-2', items: [{ fingerprint: 'a', wrapped: 'wa', label: 'k/a' }] },
      { target: 'hsm-3', items: [{ fingerprint: 'a', wrapped: 'wa', label: 'k/a' }, { fingerprint: 'b', wrapped: 'wb', label: 'k/b' }] },
    ]);
    expect(decide.replicaImports(batch, [])).toEqual([]);
    const one: NodeRepairSummary = { ...decide.noRepairs(), replicated: 2, bytesWritten: 300, failures: [{ what: 'x', error: 'y' }] };
    expect(decide.addRepairs(one, { ...decide.noRepairs(), destroyed: 1, failures: [{ what: 'z', error: 'w' }] })).toEqual({ replicated: 2, publicKeysRestored: 0, destroyed: 1, signingDisabled: 0, bytesWritten: 300, failures: [{ what: 'x', error: 'y' }, { what: 'z', error: 'w' }] });
    expect([...decide.repairedNodes({ 'hsm-1': decide.noRepairs(), 'hsm-2': one, 'hsm-3': { ...decide.noRepairs(), failures: [{ what: 'x', error: 'y' }] } })]).toEqual(['hsm-2']);
  });

  it('gives each node its outcome: in sync, repaired, drift left, stale, rewritten', () => {
    const observations = [
      inspection('hsm-1'),
      inspection('hsm-2', { snapshot: { status: 'tampered', problem: 'the signature of the head does not verify', bytesRead: 500 } }),
      inspection('hsm-3', { snapshot: { status: 'missing', bytesRead: 0 } }),
      inspection('hsm-4', { inventory: [] }),
      down('hsm-5'),
    ];
    const plan: SyncPlan = {
      ...decide.emptyPlan(observations),
      drift: [
        { nodeId: 'hsm-1', inventory: 'matched', items: [] },
        { nodeId: 'hsm-2', inventory: 'matched', items: [] },
        { nodeId: 'hsm-3', inventory: 'matched', items: [] },
        { nodeId: 'hsm-4', inventory: 'listed', items: [{ kind: 'unknown', key: null, version: null, class: 'privateKey', id: 'x', label: 'stranger', detail: 'not in the map' }] },
        { nodeId: 'hsm-5', inventory: 'unreachable', items: [] },
      ],
    };
    const ack: SnapshotAck = { ...current, bytesWritten: 1200, headWritten: true, shardsWritten: 16 };
    const nodes = decide.nodeSyncResults({
      observations,
      plan,
      repairs: { 'hsm-1': { ...decide.noRepairs(), replicated: 1, bytesWritten: 100 } },
      writes: { 'hsm-2': { head: true, shards: [0] }, 'hsm-3': { head: true, shards: [0, 1] } },
      acks: new Map([['hsm-2', ack]]),
      writeFailures: new Map([['hsm-3', 'timed out (START_TO_CLOSE)']]),
    });
    expect(nodes.map((node) => [node.nodeId, node.status, node.snapshot.action, node.bytesWritten])).toEqual([
      ['hsm-1', 'repaired', 'unchanged', 100],
      ['hsm-2', 'repaired', 'rewritten', 1200],
      ['hsm-3', 'drift', 'not-written', 0],
      ['hsm-4', 'drift', 'unchanged', 0],
      ['hsm-5', 'stale', 'not-written', 0],
    ]);
    expect(nodes[0]?.acknowledged).toEqual(current);
    expect(nodes[2]).toMatchObject({ reason: 'timed out (START_TO_CLOSE)', acknowledged: null });
    expect(nodes[3]?.drift).toMatchObject({ total: 1, byKind: { unknown: 1 } });
    expect(nodes[4]).toMatchObject({ reason: 'its worker did not pick up the task within 15 s (is it running?)', inventory: 'unreachable', objects: null });
  });

  it('keeps an anchor the log contradicts, marks the ones to write until they are written, and adds their bytes', () => {
    const check = (status: AnchorCheck['status']): AnchorCheck => ({ status, anchored: status === 'missing' ? null : { seq: 4, hash: 'h'.repeat(64) }, database: { headSeq: 9, hashAtSeq: null }, problem: null });
    const entries = decide.anchorResults({ 'hsm-1': check('valid'), 'hsm-2': check('mismatch'), 'hsm-3': check('missing'), 'hsm-4': check('tampered') }, ['hsm-3', 'hsm-4']);
    expect([...entries].map(([nodeId, entry]) => [nodeId, entry.action])).toEqual([['hsm-1', 'unchanged'], ['hsm-2', 'kept'], ['hsm-3', 'not-written'], ['hsm-4', 'not-written']]);
    const anchor = { format: 'keyrotor.audit-anchor/1', seq: 9, hash: 'a'.repeat(64), at: '2026-01-01T00:00:00.000Z' };
    entries.set('hsm-4', decide.anchorWritten(entries.get('hsm-4') as NonNullable<ReturnType<typeof entries.get>>, anchor, 321));
    expect(entries.get('hsm-4')).toMatchObject({ action: 'rewritten', written: { seq: 9, hash: anchor.hash }, bytesWritten: 321 });
    const nodes = decide.nodeSyncResults({ observations: [inspection('hsm-4'), down('hsm-6')], plan: decide.emptyPlan([]), repairs: {}, writes: {}, acks: new Map(), writeFailures: new Map() });
    const withAnchors = decide.withAnchorResults(nodes, entries);
    expect(withAnchors[0]).toMatchObject({ bytesWritten: 321, auditAnchor: { action: 'rewritten' } });
    expect(withAnchors[1]).not.toHaveProperty('auditAnchor');
  });
});
