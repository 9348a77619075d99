import { planSync, type SyncPlan } from '../../../domain/keymap/plan';
import type { MapSigningKey, NodeObservation } from '../../../domain/keymap/types';
import { inventoryBucketOf } from '../../../domain/keymap/build';
import { fingerprint, key, listed, matched, objectsOf, partlyListed, source, version } from './fixtures';

const plan = (input: { keys: Parameters<typeof source>[0]; observations: NodeObservation[]; busy?: Map<string, string>; signingKey?: MapSigningKey | null; batchSize?: number }): SyncPlan =>
  planSync({ source: source(input.keys), observations: input.observations, busy: input.busy ?? new Map(), signingKey: input.signingKey ?? null, batchSize: input.batchSize ?? 100 });

/** Whether the plan writes to or destroys anything on any node. */
const planHasRepairs = (result: SyncPlan): boolean =>
  result.replicate.length > 0 || Object.values(result.repairs).some((r) => r.destroy.length + r.restorePublic.length + r.disableSigning.length > 0);

const driftKinds = (result: SyncPlan, nodeId: string): string[] => (result.drift.find((d) => d.nodeId === nodeId)?.items ?? []).map((item) => item.kind).sort();

describe('the sync plan', () => {
  const active = version('pay', 2, 'active', { generatedOn: 'hsm-2' });
  const retiring = version('pay', 1, 'retiring');
  const pay = key('pay', [retiring, active]);
  const full = [...objectsOf('pay', retiring), ...objectsOf('pay', active)];

  it('has nothing to do when every node holds what the map says', () => {
    const result = plan({ keys: [pay], observations: [listed('hsm-1', full), matched('hsm-2', 10), listed('hsm-3', [...full].reverse())] });
    expect(planHasRepairs(result)).toBe(false);
    expect(result.unknown).toEqual([]);
    expect(result.drift.map((d) => [d.nodeId, d.inventory, d.items.length])).toEqual([['hsm-1', 'listed', 0], ['hsm-2', 'matched', 0], ['hsm-3', 'listed', 0]]);
  });

  it('replicates a missing private key from the node that generated it, to every node that lacks it, in one batch', () => {
    const result = plan({
      keys: [pay],
      observations: [listed('hsm-1', full), listed('hsm-2', full), listed('hsm-3', objectsOf('pay', retiring)), { nodeId: 'hsm-4', reachable: false, reason: 'down' }],
    });
    expect(result.replicate).toEqual([{ source: 'hsm-2', items: [{ name: 'pay', version: 2, fingerprint: active.fingerprint, label: 'keyrotor:pay:v2', keyType: 'ec-p256', targets: ['hsm-3'] }] }]);
    expect(driftKinds(result, 'hsm-3')).toEqual(['missing-private-key']);
    expect(result.drift.find((d) => d.nodeId === 'hsm-4')?.inventory).toBe('unreachable');
    expect(result.repairs).toEqual({});
  });

  it('restores a lost public key from the map, without unwrapping anything', () => {
    const result = plan({ keys: [pay], observations: [listed('hsm-1', full), listed('hsm-2', [...objectsOf('pay', retiring), ...objectsOf('pay', active, { publicKey: false })])] });
    expect(result.replicate).toEqual([]);
    expect(result.repairs['hsm-2']?.restorePublic).toEqual([{ name: 'pay', version: 2, fingerprint: active.fingerprint, label: 'keyrotor:pay:v2', spki: active.spki }]);
  });

  it('destroys the private key of an archived version and every object of a purged one; keeps the archived public key', () => {
    const archived = version('old', 1, 'archived');
    const purged = version('old', 2, 'purged');
    const current = version('old', 3, 'active');
    const inventory = [...objectsOf('old', archived), ...objectsOf('old', purged), ...objectsOf('old', current)];
    const result = plan({ keys: [key('old', [archived, purged, current])], observations: [listed('hsm-1', inventory)] });
    expect(result.repairs['hsm-1']?.destroy).toEqual([
      { name: 'old', version: 1, fingerprint: archived.fingerprint, privateKey: true, publicKey: false },
      { name: 'old', version: 2, fingerprint: purged.fingerprint, privateKey: true, publicKey: true },
    ]);
    expect(result.repairs['hsm-1']?.restorePublic).toEqual([]);
    expect(driftKinds(result, 'hsm-1')).toEqual(['left-over', 'left-over']);
  });

  it('switches signing off on a compromised version that still signs', () => {
    const compromised = version('leak', 1, 'compromised');
    const result = plan({ keys: [key('leak', [compromised, version('leak', 2, 'active')])], observations: [listed('hsm-1', [...objectsOf('leak', compromised), ...objectsOf('leak', version('leak', 2, 'active'))])] });
    expect(result.repairs['hsm-1']?.disableSigning).toEqual([{ name: 'leak', version: 1, fingerprint: compromised.fingerprint }]);
  });

  it('reports an object the map does not know and plans nothing for it', () => {
    const stranger = { class: 'privateKey' as const, id: fingerprint('intruder'), label: 'intruder', canSign: true, fingerprint: null };
    const secret = { class: 'secretKey' as const, id: active.fingerprint, label: 'keyrotor:pay:v2', canSign: false, fingerprint: null };
    const result = plan({ keys: [pay], observations: [listed('hsm-1', [...full, stranger, secret])] });
    expect(result.unknown).toEqual([
      { nodeId: 'hsm-1', class: 'privateKey', id: stranger.id, label: 'intruder' },
      { nodeId: 'hsm-1', class: 'secretKey', id: active.fingerprint, label: 'keyrotor:pay:v2' },
    ]);
    expect(driftKinds(result, 'hsm-1')).toEqual(['unknown', 'unknown']);
    expect(planHasRepairs(result)).toBe(false);
  });

  it('leaves a key the lifecycle owns alone, and notes its unrecorded new version as in flight, not unknown', () => {
    const newVersion = [{ class: 'privateKey' as const, id: fingerprint('pay/3'), label: 'keyrotor:pay:v3', canSign: true, fingerprint: null }];
    const result = plan({
      keys: [pay],
      observations: [listed('hsm-1', [...full, ...newVersion]), listed('hsm-3', objectsOf('pay', retiring))],
      busy: new Map([['pay', 'the key is rotating']]),
    });
    expect(planHasRepairs(result)).toBe(false);
    expect(result.skipped).toEqual([{ key: 'pay', why: 'the key is rotating' }]);
    expect(result.unknown).toEqual([]);
    expect(driftKinds(result, 'hsm-1')).toEqual(['in-flight']);
  });

  it('a stranger with a managed label is unknown when its key is at rest', () => {
    const forgedLabel = { class: 'privateKey' as const, id: fingerprint('forged'), label: 'keyrotor:pay:v3', canSign: true, fingerprint: null };
    expect(plan({ keys: [pay], observations: [listed('hsm-1', [...full, forgedLabel])] }).unknown).toHaveLength(1);
  });

  it('trusts a matched inventory only for keys that did not change after it matched', () => {
    const changed = key('pay', [retiring, active], { changedAtEpoch: 11 });
    const result = plan({ keys: [changed, key('calm', [version('calm', 1, 'active')])], observations: [matched('hsm-1', 10), listed('hsm-2', [...full, ...objectsOf('calm', version('calm', 1, 'active'))])] });
    expect(result.skipped).toEqual([{ key: 'pay', why: 'it changed while this sync was running' }]);
    expect(planHasRepairs(result)).toBe(false);
  });

  it('takes the buckets a node did not list as matched, and plans from the buckets it listed', () => {
    const calm = version('calm', 1, 'active');
    const lostBucket = inventoryBucketOf(active.fingerprint);
    expect(inventoryBucketOf(calm.fingerprint)).not.toBe(lostBucket);
    const keys = [pay, key('calm', [calm])];
    // hsm-2 listed only the bucket of pay v2, in which its private key is missing.
    const inBucket = full.filter((entry) => inventoryBucketOf(entry.id) === lostBucket && entry.class !== 'privateKey');
    const result = plan({ keys, observations: [matched('hsm-1', 10), partlyListed('hsm-2', 10, [lostBucket], inBucket)] });
    expect(result.replicate).toEqual([{ source: 'hsm-1', items: [expect.objectContaining({ name: 'pay', version: 2, targets: ['hsm-2'] })] }]);
    expect(driftKinds(result, 'hsm-2')).toEqual(['missing-private-key']);
    expect(result.skipped).toEqual([]);
  });

  it('cannot replicate when no reachable node holds the key, and says so', () => {
    const result = plan({ keys: [pay], observations: [listed('hsm-1', objectsOf('pay', retiring)), { nodeId: 'hsm-2', reachable: false, reason: 'down' }] });
    expect(result.replicate).toEqual([]);
    expect(result.unrepairable).toEqual([{ nodeId: 'hsm-1', key: 'pay', version: 2, problem: 'no reachable node holds pay v2 to replicate it from' }]);
  });

  it('never repairs over duplicates or a public key whose content is another key', () => {
    const duplicate = [...full, objectsOf('pay', active)[0]!];
    const forged = [...objectsOf('pay', retiring), objectsOf('pay', active)[0]!, { ...objectsOf('pay', active)[1]!, fingerprint: fingerprint('other') }];
    const result = plan({ keys: [pay], observations: [listed('hsm-1', duplicate), listed('hsm-2', forged), listed('hsm-3', full)] });
    expect(planHasRepairs(result)).toBe(false);
    expect(driftKinds(result, 'hsm-1')).toEqual(['duplicate']);
    expect(driftKinds(result, 'hsm-2')).toEqual(['forged-public-key']);
    expect(result.unrepairable.map((u) => u.nodeId)).toEqual(['hsm-1', 'hsm-2']);
  });

  it('notes a label that is not the managed one, and still counts the object', () => {
    const relabelled = [...objectsOf('pay', retiring), { ...objectsOf('pay', active)[0]!, label: 'renamed' }, objectsOf('pay', active)[1]!];
    const result = plan({ keys: [pay], observations: [listed('hsm-1', relabelled)] });
    expect(driftKinds(result, 'hsm-1')).toEqual(['label-mismatch']);
    expect(planHasRepairs(result)).toBe(false);
  });

  it('replicates the map-signing key to the nodes that lack it', () => {
    const signing: MapSigningKey = { fingerprint: fingerprint('signing'), spki: 'c3BraQ==', keyType: 'ec-p256', label: 'keyrotor-keymap-signing-key' };
    const held = [{ id: signing.fingerprint, privateKey: true, publicKey: true }];
    const result = plan({ keys: [pay], signingKey: signing, observations: [listed('hsm-1', full, held), listed('hsm-2', full), listed('hsm-3', full, [{ id: signing.fingerprint, privateKey: false, publicKey: true }])] });
    expect(result.replicate).toEqual([{ source: 'hsm-1', items: [{ name: null, version: null, fingerprint: signing.fingerprint, label: signing.label, keyType: 'ec-p256', targets: ['hsm-2', 'hsm-3'] }] }]);
  });

  it('splits replication into batches of the given size', () => {
    const keys = Array.from({ length: 5 }, (_, i) => key(`k${i}`, [version(`k${i}`, 1, 'active')]));
    const everything = keys.flatMap((k) => objectsOf(k.name, k.versions[0]!));
    const result = plan({ keys, batchSize: 2, observations: [listed('hsm-1', everything), listed('hsm-2', [])] });
    expect(result.replicate.map((batch) => [batch.source, batch.items.length])).toEqual([['hsm-1', 2], ['hsm-1', 2], ['hsm-1', 1]]);
  });
});
