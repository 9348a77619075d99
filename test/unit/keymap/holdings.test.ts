import { holdingChanges } from '../../../domain/keymap/holdings';
import { inventoryBucketOf } from '../../../domain/keymap/build';
import { key, listed, matched, objectsOf, partlyListed, source, version } from './fixtures';

describe('holdings after a sync', () => {
  const v1 = version('pay', 1, 'archived');
  const v2 = version('pay', 2, 'active');
  const pay = key('pay', [v1, v2], { changedAtEpoch: 5 });
  const recorded = [
    { name: 'pay', version: 1, nodeId: 'hsm-1', privateKey: false, publicKey: true, canSign: null },
    { name: 'pay', version: 2, nodeId: 'hsm-1', privateKey: true, publicKey: true, canSign: true },
    { name: 'pay', version: 2, nodeId: 'hsm-2', privateKey: true, publicKey: true, canSign: true },
  ];

  it('writes nothing when the nodes hold what was recorded', () => {
    const changes = holdingChanges(source([pay], { holdings: recorded }), [listed('hsm-1', [...objectsOf('pay', v1, { privateKey: false }), ...objectsOf('pay', v2)]), { nodeId: 'hsm-3', reachable: false, reason: 'down' }]);
    expect(changes).toEqual({ upsert: [], remove: [] });
  });

  it('records what a listing shows, and removes what is gone', () => {
    const changes = holdingChanges(source([pay], { holdings: recorded }), [listed('hsm-2', objectsOf('pay', v2, { publicKey: false, canSign: false })), listed('hsm-3', objectsOf('pay', v2))]);
    expect(changes.upsert).toEqual([
      { name: 'pay', version: 2, nodeId: 'hsm-2', privateKey: true, publicKey: false, canSign: false },
      { name: 'pay', version: 2, nodeId: 'hsm-3', privateKey: true, publicKey: true, canSign: true },
    ]);
    expect(changes.remove).toEqual([]);
    expect(holdingChanges(source([pay], { holdings: recorded }), [listed('hsm-1', [])]).remove).toEqual([
      { name: 'pay', version: 1, nodeId: 'hsm-1' },
      { name: 'pay', version: 2, nodeId: 'hsm-1' },
    ]);
  });

  it('records a listed bucket as found and leaves the rest as recorded', () => {
    const bucket = inventoryBucketOf(v2.fingerprint);
    const changes = holdingChanges(source([pay], { holdings: recorded }), [partlyListed('hsm-1', 7, [bucket], objectsOf('pay', v2, { publicKey: false }))]);
    expect(changes.upsert).toEqual([{ name: 'pay', version: 2, nodeId: 'hsm-1', privateKey: true, publicKey: false, canSign: true }]);
    expect(changes.remove).toEqual(inventoryBucketOf(v1.fingerprint) === bucket ? [{ name: 'pay', version: 1, nodeId: 'hsm-1' }] : []);
  });

  it('takes a matched inventory as the expected holdings, except for keys that changed after it matched', () => {
    const changes = holdingChanges(source([pay, key('late', [version('late', 1, 'active')], { changedAtEpoch: 9 })]), [matched('hsm-3', 7)]);
    expect(changes.upsert).toEqual([
      { name: 'pay', version: 1, nodeId: 'hsm-3', privateKey: false, publicKey: true, canSign: null },
      { name: 'pay', version: 2, nodeId: 'hsm-3', privateKey: true, publicKey: true, canSign: true },
    ]);
  });
});
