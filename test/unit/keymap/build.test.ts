import { createHash } from 'node:crypto';
import { canonicalJson } from '../../../domain/canonical-json';
import {
  INVENTORY_BUCKETS,
  LIFECYCLE_MARGIN_MS,
  buildKeyMap,
  expectationOf,
  inventoryBucketDigests,
  inventoryBucketOf,
  expectedInventory,
  inventoryDigest,
  keymapDigest,
  parsePkcs11Label,
  recordedBusyReason,
} from '../../../domain/keymap/build';
import { entropyHealthOf } from '../../../domain/keymap/entropy-health';
import { mapPredictionOf } from '../../../domain/keymap/prediction';
import { key, objectsOf, source, version } from './fixtures';

describe('the key map and its digest', () => {
  const payments = key('payments', [version('payments', 1, 'retiring', { graceDeadline: '2030-01-02T00:00:00.000Z' }), version('payments', 2, 'active')]);
  const billing = key('billing', [version('billing', 1, 'archived', { purgeAfter: '2030-02-01T00:00:00.000Z' }), version('billing', 2, 'active')]);
  const base = source([payments, billing], {
    holdings: [
      { name: 'payments', version: 2, nodeId: 'hsm-1', privateKey: true, publicKey: true, canSign: true },
      { name: 'payments', version: 2, nodeId: 'hsm-9', privateKey: true, publicKey: true, canSign: true },
      { name: 'billing', version: 1, nodeId: 'hsm-2', privateKey: false, publicKey: true, canSign: null },
    ],
  });

  it('orders keys and versions, names each version\'s label, maps lineage, and lists holdings of member nodes only', () => {
    const map = buildKeyMap(base);
    expect(map.keys.map((k) => k.name)).toEqual(['billing', 'payments']);
    const v2 = map.keys[1]!.versions.find((v) => v.version === 2)!;
    expect(v2.label).toBe('keyrotor:payments:v2');
    expect(v2.lineage).toEqual({ parentVersion: 1, trigger: 'manual', reason: 'test', actor: 'tester' });
    expect(v2.nodes).toEqual({ 'hsm-1': { privateKey: true, publicKey: true, canSign: true } });
    expect(map.keys[0]!.versions[0]!.nodes).toEqual({ 'hsm-2': { privateKey: false, publicKey: true, canSign: null } });
    expect(JSON.stringify(map)).not.toContain('spki of');
    expect(map.keys[1]!.prediction).toEqual({ predictedRotationAt: '2031-01-01T00:00:00.000Z', predictedTrigger: 'age', nextEvaluationAt: null, lastRiskScore: null });
  });

  it('gives the same digest whatever order the rows came in, and another digest for any change', () => {
    const digest = keymapDigest(buildKeyMap(base));
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    const shuffled = { ...base, keys: [...base.keys].reverse().map((k) => ({ ...k, versions: [...k.versions].reverse(), policy: Object.fromEntries(Object.entries(k.policy).reverse()) })), holdings: [...base.holdings].reverse() };
    expect(keymapDigest(buildKeyMap(shuffled))).toBe(digest);

    const changes = [
      source([payments, key('billing', [version('billing', 1, 'purged'), version('billing', 2, 'active')])], { holdings: base.holdings }),
      { ...base, holdings: base.holdings.slice(1) },
      { ...base, nodes: base.nodes.map((n) => (n.id === 'hsm-3' ? { ...n, entropy: { status: 'low' as const, unhealthySources: [] } } : n)) },
      { ...base, keys: base.keys.map((k) => (k.name === 'billing' ? { ...k, nextRotationAt: '2032-01-01T00:00:00.000Z' } : k)) },
    ];
    for (const changed of changes) expect(keymapDigest(buildKeyMap(changed))).not.toBe(digest);
  });

  it('the digest is SHA-256 of the canonical JSON of the map', () => {
    const map = buildKeyMap(base);
    expect(keymapDigest(map)).toBe(createHash('sha256').update(canonicalJson(map)).digest('hex'));
    expect(canonicalJson(map).startsWith('{"keys":[{"activeVersion":2,')).toBe(true);
  });

  it('expects private and public keys of active and retiring versions, the public key only of archived ones, nothing of purged or pending ones', () => {
    const inventory = expectedInventory(source([
      key('a', [version('a', 1, 'archived'), version('a', 2, 'retiring'), version('a', 3, 'active'), version('a', 4, 'pending')]),
      key('b', [version('b', 1, 'purged'), version('b', 2, 'compromised')]),
    ]));
    const summary = inventory.map((e) => `${e.label} ${e.class}${e.canSign === null ? '' : e.canSign ? ' sign' : ' no-sign'}`).sort();
    expect(summary).toEqual([
      'keyrotor:a:v1 publicKey',
      'keyrotor:a:v2 privateKey sign',
      'keyrotor:a:v2 publicKey',
      'keyrotor:a:v3 privateKey sign',
      'keyrotor:a:v3 publicKey',
      'keyrotor:b:v2 privateKey no-sign',
      'keyrotor:b:v2 publicKey',
    ]);
  });

  it('digests an inventory regardless of listing order, and notices one object more or less', () => {
    const a1 = version('a', 1, 'active');
    const entries = [...objectsOf('a', a1), ...objectsOf('b', version('b', 1, 'active'))];
    expect(inventoryDigest([...entries].reverse())).toBe(inventoryDigest(entries));
    expect(inventoryDigest(entries.slice(1))).not.toBe(inventoryDigest(entries));
    expect(inventoryDigest([...entries, { class: 'data', id: '', label: 'note', canSign: null, fingerprint: null }])).not.toBe(inventoryDigest(entries));
    expect(inventoryDigest(expectedInventory(source([key('a', [a1])])))).toBe(inventoryDigest(objectsOf('a', a1)));
  });

  it('splits an inventory into buckets by CKA_ID, so that one changed object changes one bucket digest', () => {
    const many = Array.from({ length: 200 }, (_, i) => key(`k${i}`, [version(`k${i}`, 1, 'active')]));
    const entries = many.flatMap((k) => objectsOf(k.name, k.versions[0]!));
    const buckets = inventoryBucketDigests(entries);
    expect(buckets).toHaveLength(INVENTORY_BUCKETS);
    expect(new Set(buckets).size).toBe(INVENTORY_BUCKETS);
    const lost = entries[7]!;
    const after = inventoryBucketDigests(entries.filter((entry) => entry !== lost));
    expect(after.map((digest, i) => (digest === buckets[i] ? -1 : i)).filter((i) => i >= 0)).toEqual([inventoryBucketOf(lost.id)]);
    expect(inventoryBucketOf('')).toBe(0);
    expect(expectationOf(source(many))).toEqual({ digest: inventoryDigest(entries), buckets, epoch: 10 });
  });

  describe('keys the lifecycle owns', () => {
    const now = Date.parse('2030-01-01T00:00:00.000Z');
    const at = (ms: number): string => new Date(now + ms).toISOString();
    it.each([
      ['creating', key('k', [version('k', 1, 'pending')], { phase: 'creating' }), /creating/],
      ['rotating', key('k', [version('k', 1, 'active')], { phase: 'rotating' }), /rotating/],
      ['decommissioning', key('k', [version('k', 1, 'active')], { phase: 'decommissioning' }), /decommissioning/],
      ['a pending version', key('k', [version('k', 1, 'active'), version('k', 2, 'pending')]), /v2 is pending/],
      ['a compromised version', key('k', [version('k', 1, 'compromised'), version('k', 2, 'active')]), /compromised/],
      ['grace ending soon', key('k', [version('k', 1, 'retiring', { graceDeadline: at(LIFECYCLE_MARGIN_MS - 1000) }), version('k', 2, 'active')]), /archiving is due/],
      ['purge due', key('k', [version('k', 1, 'archived', { purgeAfter: at(-1000) }), version('k', 2, 'active')]), /due for purge/],
      ['maxAge due', key('k', [version('k', 1, 'active')], { nextRotationAt: at(30_000) }), /maxAge rotation is due/],
    ])('%s', (_what, candidate, reason) => {
      expect(recordedBusyReason(candidate, now)).toMatch(reason);
    });

    it('leaves a key at rest to the sync', () => {
      const resting = key('k', [version('k', 1, 'retiring', { graceDeadline: at(LIFECYCLE_MARGIN_MS + 60_000) }), version('k', 2, 'active'), version('k', 0, 'purged')], { nextRotationAt: at(86_400_000) });
      expect(recordedBusyReason(resting, now)).toBeNull();
    });
  });

  it('reads a managed key label back, and nothing else', () => {
    expect(parsePkcs11Label('keyrotor:payments.eu:v12')).toEqual({ name: 'payments.eu', version: 12 });
    for (const label of ['keyrotor:Payments:v1', 'keyrotor:payments:v0', 'keyrotor-cluster-kek', 'keyrotor:payments:v1x', 'intruder']) expect(parsePkcs11Label(label)).toBeNull();
  });

  it('sums up entropy health coarsely: credited bits alone do not change it', () => {
    expect(entropyHealthOf(null)).toEqual({ status: 'unknown', unhealthySources: [] });
    const sources = [{ name: 'hsm-rng', state: 'healthy' }, { name: 'cpu-jitter', state: 'healthy' }];
    expect(entropyHealthOf({ healthy: true, sources })).toEqual({ status: 'healthy', unhealthySources: [] });
    expect(entropyHealthOf({ healthy: true, sources: [...sources, { name: 'device', state: 'quarantined' }] })).toEqual({ status: 'degraded', unhealthySources: ['device'] });
    expect(entropyHealthOf({ healthy: false, sources: [{ name: 'b', state: 'failing' }, { name: 'a', state: 'quarantined' }] })).toEqual({ status: 'low', unhealthySources: ['a', 'b'] });
  });

  it('takes the prediction of the latest risk evaluation, and the maxAge date before the first one', () => {
    expect(mapPredictionOf({ nextRotationAt: '2030-05-01T00:00:00.000Z', prediction: null })).toEqual({ predictedRotationAt: '2030-05-01T00:00:00.000Z', predictedTrigger: 'age', nextEvaluationAt: null, lastRiskScore: null });
    expect(mapPredictionOf({ nextRotationAt: null, prediction: null }).predictedRotationAt).toBeNull();
    const evaluated = { predictedRotationAt: '2030-02-01T10:00:00.000Z', predictedTrigger: 'capacity' as const, nextEvaluationAt: '2030-01-01T01:00:00.000Z', lastRiskScore: 0.42 };
    expect(mapPredictionOf({ nextRotationAt: '2030-05-01T00:00:00.000Z', prediction: evaluated })).toEqual(evaluated);
  });
});
