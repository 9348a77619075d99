import { checkInvariants, type Ledger } from '../faults/invariants';
import { startFaultStack, type FaultStack } from '../faults/stack';
import { eventually } from '../support/eventually';
import { deleteObject, generateKeyPairByHand, listTokenObjects } from '../support/pkcs11-listing';
import { uniqueName } from '../support/system';

/**
 * The fault suite's invariants are only worth their zeros if they can count: a replica deleted by hand is a lost
 * version, a key pair written by hand is an orphan, each seen through pkcs11-tool, not keyrotor.
 */
describe('the fault suite\'s invariants', () => {
  let stack: FaultStack;

  beforeAll(async () => {
    stack = await startFaultStack({ nodes: 2 });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('count nothing on a sound cluster, then a replica deleted by hand as lost and a stray key pair as an orphan', async () => {
    const name = uniqueName('witness-');
    const target = { apiUrl: stack.apiUrl, token: stack.adminToken, temporalAddress: stack.temporalAddress, nodes: stack.nodes };
    expect((await stack.api('POST', '/keys', { name, type: 'ec-p256' })).status).toBe(202);
    const ledger: Ledger = { acknowledged: [{ key: name, version: 1 }] };
    const v1 = await eventually(async () => {
      const { body } = await stack.api('GET', `/keys/${name}`);
      return (body as { versions: Array<{ version: number; state: string; fingerprint: string }> }).versions.find((v) => v.version === 1 && v.state === 'active');
    }, `v1 of ${name} active`, 120_000);

    const sound = await checkInvariants(target, ledger);
    expect(sound).toEqual({ completed: true, duplicates: 0, orphans: 0, lost: 0, stranded: 0, auditVerified: true, witnesses: [] });

    const [first, second] = stack.nodes as [FaultStack['nodes'][number], FaultStack['nodes'][number]];
    // The key map sync would put the replica back (it did on a clean-clone CI run, between the deletion and the
    // check): with the node's worker down, nothing can write to its token but this test.
    await stack.kill(`hsm:${first.id}`);
    deleteObject(first, 'privkey', { idHex: v1.fingerprint });
    expect(listTokenObjects(first).filter((object) => object.idHex === v1.fingerprint).map((object) => object.class)).toEqual(['pubkey']);
    generateKeyPairByHand(second, 'stray-pair', 'c0ffee');

    const broken = await checkInvariants(target, ledger);
    expect({ lost: broken.lost, orphans: broken.orphans, duplicates: broken.duplicates, stranded: broken.stranded }).toEqual({ lost: 1, orphans: 1, duplicates: 0, stranded: 0 });
    expect([...broken.witnesses].sort()).toEqual([
      `lost: v1 of ${name} is active and ${first.id} lacks its privkey`,
      `orphans: ${second.id} holds privkey+pubkey 'stray-pair' (id c0ffee), which matches no version of any key`,
    ]);
    await stack.start(`hsm:${first.id}`);
  });
});
