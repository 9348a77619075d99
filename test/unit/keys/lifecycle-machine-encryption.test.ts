import { ARCHIVE_KEK_LABEL, CLUSTER_KEK_LABEL } from '../../../domain/identifiers';
import type { EncryptionUsage } from '../../../domain/keys/encryption-usage';
import type { KeyType } from '../../../domain/keys/key-model';
import * as machine from '../../../domain/keys/lifecycle-machine';
import type { KeyRequest } from '../../../domain/keys/lifecycle-requests';
import { newKeyState } from '../../../domain/keys/lifecycle-state';
import { DEFAULT_POLICY, resolvePolicy, type KeyPolicy } from '../../../domain/keys/policy';
import { EncryptionCluster, type LoggedCall } from '../../support/encryption-cluster';
import { drive } from '../../support/lifecycle-world';

/**
 * The lifecycle machine with encryption keys (#15): the same procedure as a signing key's, with the usage attributes
 * of each version switched on every node by its state, decrypt-only versions archived only once their decrypt use has
 * stopped, and secret keys destroyed and looked for. Driven against the in-memory cluster, whose answers are those the
 * HSM activities give for encryption keys (test/support/encryption-cluster.ts).
 */
const T0 = Date.parse('2026-12-01T00:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (ms: number): string => new Date(ms).toISOString();
const policy = resolvePolicy({ gracePeriod: '1h', maxGracePeriod: '3h', retention: '1d', maxAge: '30d', minRotationInterval: '1h', evaluationInterval: '1h', publicationLead: '0s' }, DEFAULT_POLICY);

const ACTIVE: EncryptionUsage = { encrypt: true, wrap: true, decrypt: true, unwrap: true };
const DECRYPT_ONLY: EncryptionUsage = { encrypt: false, wrap: false, decrypt: true, unwrap: true };
const NONE: EncryptionUsage = { encrypt: false, wrap: false, decrypt: false, unwrap: false };

const states = (m: machine.LifecycleMachine) => m.key.versions.map((v) => `v${v.version}:${v.state}`);
const rotate = (emergency = false): KeyRequest => ({ kind: 'rotate', reason: emergency ? 'v1 leaked' : 'test', emergency, actor: 'alice' });
const fingerprintOf = (m: machine.LifecycleMachine, version: number): string => m.key.versions.find((v) => v.version === version)?.fingerprint as string;

function ask(m: machine.LifecycleMachine, request: KeyRequest): machine.LifecycleMachine {
  const refusal = machine.refuse(m, request);
  if (refusal) throw new Error(`refused: ${refusal.code}`);
  return machine.submit(m, request, true).machine;
}

/** A key of `keyType` whose v1 is created and active. */
function created(keyType: KeyType, change: Partial<KeyPolicy> = {}) {
  const cluster = new EncryptionCluster();
  const start = machine.newMachine(newKeyState({ name: 'k', keyType, policy: resolvePolicy(change, policy), actor: 'alice', now: at(T0) }), 'created for a test');
  return { cluster, m: drive(start, cluster, T0).machine };
}

/** Decides and applies step by step, answering from the cluster, until the step `wanted` names; returns that step unrun. */
function untilStep(m0: machine.LifecycleMachine, cluster: EncryptionCluster, nowMs: number, wanted: (step: machine.Step) => boolean) {
  let m = m0;
  for (let i = 0; i < 200; i += 1) {
    const decided = machine.decide(m, nowMs);
    if (wanted(decided.step)) return decided;
    if (decided.step.kind === 'wait' || decided.step.kind === 'finish') throw new Error(`the machine waits (${JSON.stringify(decided.step)}) before the wanted step`);
    m = machine.apply(decided.machine, decided.step, cluster.outcomeOf(decided.step), nowMs);
  }
  throw new Error('the wanted step never came');
}

const isUsageSwitch = (step: machine.Step): step is Extract<machine.Step, { kind: 'calls' }> => step.kind === 'calls' && step.calls[0]?.activity === 'setEncryptionUsage';
/** What a step's calls ask, without the try timeouts: node, fingerprint and usage. */
const switches = (calls: readonly LoggedCall[] | readonly machine.Call[]) => calls.map((call) => {
  const node = 'queue' in call ? (call.queue as { node: string }).node : call.node;
  return { node, fingerprint: call.input.fingerprint, usage: call.input.usage, keyType: call.input.keyType };
});
const after = (cluster: EncryptionCluster, index: number, activity: string) => cluster.log.slice(index).filter((call) => call.activity === activity);

describe('the key lifecycle state machine with encryption keys', () => {
  it('creates an aes-256 key: generated without an SPKI, replicated decrypt-only, switched to encrypt on every node before it activates', () => {
    const { cluster, m } = created('aes-256');
    expect(states(m)).toEqual(['v1:active']);
    const v1 = m.key.versions[0]!;
    expect(v1.spki).toBeNull();
    expect(cluster.callsOf('generateKeyPair').map((c) => c.input.keyType)).toEqual(['aes-256']);
    const primary = v1.generatedOn;
    expect(cluster.callsOf('wrapPrivateKey')).toEqual([{ activity: 'wrapPrivateKey', node: primary, input: { fingerprint: v1.fingerprint, wrappingKeyLabel: CLUSTER_KEK_LABEL, keyType: 'aes-256' } }]);
    const replicas = cluster.callsOf('importReplica');
    expect(replicas.map((c) => c.node)).toEqual(cluster.nodeIds.filter((n) => n !== primary));
    for (const replica of replicas) expect(replica.input).toMatchObject({ fingerprint: v1.fingerprint, keyType: 'aes-256', usage: DECRYPT_ONLY, publicKey: null });
    // A key's first version replaces none: only its own usage is switched, on every node, and before it activates.
    expect(switches(cluster.callsOf('setEncryptionUsage'))).toEqual(cluster.nodeIds.map((node) => ({ node, fingerprint: v1.fingerprint, usage: ACTIVE, keyType: 'aes-256' })));
    const lastSwitch = cluster.log.findLastIndex((c) => c.activity === 'setEncryptionUsage');
    expect(lastSwitch).toBeLessThan(cluster.activationIndex(1));
    expect(cluster.usageAtActivation.get(1)).toEqual(Object.fromEntries(cluster.nodeIds.map((node) => [node, { v1: ACTIVE }])));
    for (const node of cluster.nodeIds) expect(cluster.fingerprintsOn(node)).toEqual([v1.fingerprint]);
    const view = machine.viewOfMachine(m, T0);
    expect(view.minDecryptionVersion).toBe(1);
    expect(view.usage).toEqual([{ version: 1, ...ACTIVE }]);
  });

  it('before v2 activates it switches v2 on to encrypt on every node, right after v1 to decrypt-only: the active version encrypts throughout', () => {
    const { cluster, m: start } = created('aes-256');
    const v1 = fingerprintOf(start, 1);
    const asked = ask(start, rotate());
    const before = cluster.log.length;
    const decided = untilStep(asked, cluster, T0 + 1000, isUsageSwitch);
    // The step comes after v2 is replicated everywhere (decrypt-only) and while v1 is still the active version.
    expect(states(decided.machine)).toEqual(['v1:active', 'v2:pending']);
    expect(after(cluster, before, 'importReplica').map((c) => c.input.usage)).toEqual([DECRYPT_ONLY, DECRYPT_ONLY]);
    const v2 = fingerprintOf(decided.machine, 2);
    const step = decided.step as Extract<machine.Step, { kind: 'calls' }>;
    expect(step.what).toBe('switch v2 on to encrypt');
    expect(switches(step.calls)).toEqual(cluster.nodeIds.map((node) => ({ node, fingerprint: v2, usage: ACTIVE, keyType: 'aes-256' })));

    // The whole rotation, on a cluster of its own (the one above ran its first steps already).
    const { cluster: fresh, m: again } = created('aes-256');
    const freshBefore = fresh.log.length;
    const run = drive(ask(again, rotate()), fresh, T0 + 1000);
    expect(run.answers.map((a) => a.outcome)).toEqual([{ ok: true, value: expect.objectContaining({ version: 2, previous: { version: 1, state: 'retiring' } }) }]);
    expect(states(run.machine)).toEqual(['v1:retiring', 'v2:active']);
    expect(after(fresh, freshBefore, 'setEncryptionUsage')).toHaveLength(2 * fresh.nodeIds.length);
    // At the activation both encrypt; right after it, before the rotation answers, v1 only decrypts, on every node.
    expect(fresh.usageAtActivation.get(2)).toEqual(Object.fromEntries(fresh.nodeIds.map((node) => [node, { v1: ACTIVE, v2: ACTIVE }])));
    expect(switches(fresh.log.slice(fresh.activationIndex(2)).filter((c) => c.activity === 'setEncryptionUsage'))).toEqual(
      fresh.nodeIds.map((node) => ({ node, fingerprint: v1, usage: DECRYPT_ONLY, keyType: 'aes-256' })),
    );
    for (const node of fresh.nodeIds) expect({ node, v1: fresh.usage.get(node)?.get(v1), v2: fresh.usage.get(node)?.get(v2) }).toEqual({ node, v1: DECRYPT_ONLY, v2: ACTIVE });
    expect(machine.viewOfMachine(run.machine, T0 + 1000)).toMatchObject({ minDecryptionVersion: 1, usage: [{ version: 1, ...DECRYPT_ONLY }, { version: 2, ...ACTIVE }] });
  });

  it('keeps v1 decrypt-only past its grace period while it is still decrypted, past maxGracePeriod too; archives it once unused, then verifies and purges it', () => {
    const { cluster, m: start } = created('aes-256');
    const rotated = drive(ask(start, rotate()), cluster, T0 + 1000).machine;
    const v1 = fingerprintOf(rotated, 1);
    const retiringAt = at(T0 + 1000);
    expect(rotated.key.versions[0]!.graceDeadline).toBe(at(T0 + 1000 + HOUR));

    cluster.decrypts.set(1, 7);
    let m = rotated;
    const alertsBefore = cluster.alerts.length;
    // Grace ends at +1h, +2h, +3h and +4h from the rotation: each finds decrypt use and keeps v1 one more grace period.
    for (const hours of [1, 2, 3, 4]) {
      const before = cluster.log.length;
      m = drive(m, cluster, T0 + 1000 + hours * HOUR).machine;
      expect(states(m)).toEqual(['v1:retiring', 'v2:active']);
      expect(m.key.versions[0]!.graceDeadline).toBe(at(T0 + 1000 + (hours + 1) * HOUR));
      expect(after(cluster, before, 'countSignsAfter').map((c) => c.input)).toEqual([
        { name: 'k', version: 1, since: hours === 1 ? retiringAt : at(T0 + 1000 + (hours - 1) * HOUR), operations: ['decrypt', 'unwrap'] },
      ]);
      expect(after(cluster, before, 'wrapPrivateKey')).toEqual([]);
      expect(after(cluster, before, 'destroyKeyObjects')).toEqual([]);
    }
    const kept = cluster.alerts.slice(alertsBefore);
    expect(kept.map((a) => a.severity)).toEqual(['warning', 'warning', 'warning', 'critical']);
    expect(kept[0]).toEqual({
      dedupKey: 'key:k:v1:in-use', severity: 'warning', subject: 'key/k',
      message: `envelope-api still decrypt or unwrap with v1 of k (7 use(s) since ${retiringAt}); it stays decrypt-only until ${at(T0 + 1000 + 2 * HOUR)}. Rewrap their data keys to the active version (POST /keys/k/rewrap)`,
    });
    expect(kept[3]!.message).toContain(`it stays decrypt-only until ${at(T0 + 1000 + 5 * HOUR)}, past its maxGracePeriod (3h)`);
    expect(cluster.events.filter((e) => e.action === 'key.grace.extended').map((e) => e.details)).toHaveLength(4);
    expect(machine.viewOfMachine(m, T0 + 1000 + 4 * HOUR).minDecryptionVersion).toBe(1);
    for (const node of cluster.nodeIds) expect(cluster.usage.get(node)?.get(v1)).toEqual(DECRYPT_ONLY);

    cluster.decrypts.set(1, 0);
    const archivedAt = T0 + 1000 + 5 * HOUR;
    const before = cluster.log.length;
    const archived = drive(m, cluster, archivedAt).machine;
    expect(states(archived)).toEqual(['v1:archived', 'v2:active']);
    expect(cluster.events.find((e) => e.action === 'key.version.archived')?.details).toMatchObject({ version: 1, why: `no decrypt or unwrap use since ${at(T0 + 1000 + 4 * HOUR)}` });
    expect(after(cluster, before, 'wrapPrivateKey').map((c) => c.input)).toEqual([{ fingerprint: v1, wrappingKeyLabel: ARCHIVE_KEK_LABEL, keyType: 'aes-256' }]);
    expect(after(cluster, before, 'destroyKeyObjects').map((c) => [c.node, c.input])).toEqual(cluster.nodeIds.map((node) => [node, { fingerprint: v1, privateKey: true, publicKey: false, secretKey: true }]));
    // The verification looked on every node (describeKey answers secretKey: false now) and counted decrypts since the last look.
    expect(after(cluster, before, 'describeKey').map((c) => c.node)).toEqual(cluster.nodeIds);
    expect(after(cluster, before, 'verifyArchivedBlob').map((c) => c.input)).toEqual([{ wrapped: expect.any(String), keyType: 'aes-256', unwrappingKeyLabel: ARCHIVE_KEK_LABEL, spki: null, fingerprint: v1 }]);
    expect(after(cluster, before, 'countSignsAfter').map((c) => c.input)).toEqual([
      { name: 'k', version: 1, since: at(T0 + 1000 + 4 * HOUR), operations: ['decrypt', 'unwrap'] },
      { name: 'k', version: 1, since: at(archivedAt), operations: ['decrypt', 'unwrap'] },
    ]);
    expect(archived.key.versions[0]).toMatchObject({ verdict: { ok: true, liveObjectsOn: [] }, purgeAfter: at(archivedAt + DAY) });
    for (const node of cluster.nodeIds) expect(cluster.fingerprintsOn(node)).not.toContain(v1);
    // Ciphertexts under v1 no longer open: the lowest version that decrypts is now 2.
    expect(machine.viewOfMachine(archived, archivedAt)).toMatchObject({ minDecryptionVersion: 2, usage: [{ version: 1, ...NONE }, { version: 2, ...ACTIVE }] });

    const beforePurge = cluster.log.length;
    const purged = drive(archived, cluster, archivedAt + DAY).machine;
    expect(states(purged)).toEqual(['v2:active']);
    expect(after(cluster, beforePurge, 'destroyKeyObjects').map((c) => c.input)).toEqual(cluster.nodeIds.map(() => ({ fingerprint: v1, privateKey: true, publicKey: true, secretKey: true })));
    expect(after(cluster, beforePurge, 'deleteArchiveBlob').map((c) => c.input)).toEqual([{ name: 'k', version: 1 }]);
  });

  it('a secret key that describeKey still finds on a node fails the verification and holds the purge', () => {
    const { cluster, m: start } = created('aes-256');
    const rotated = drive(ask(start, rotate()), cluster, T0 + 1000).machine;
    const realCall = cluster.call.bind(cluster);
    cluster.call = (activity, input, node) => (activity === 'describeKey' && node === 'hsm-2' ? { privateKey: false, publicKey: false, secretKey: true, canSign: null, label: null } : realCall(activity, input, node));
    const archived = drive(rotated, cluster, T0 + 1000 + HOUR).machine;
    expect(archived.key.versions[0]).toMatchObject({ state: 'archived', purgeAfter: null, verdict: { ok: false, liveObjectsOn: ['hsm-2'] } });
    expect(cluster.alerts.at(-1)).toMatchObject({ severity: 'critical', message: expect.stringContaining('live private objects on: hsm-2') });
  });

  it('an emergency with decryptAfterCompromise: encrypt and wrap of v1 go off on every node first; v1 stays decrypt-only, and is archived once a grace period passes unused', () => {
    const { cluster, m: start } = created('aes-256');
    const v1 = fingerprintOf(start, 1);
    const before = cluster.log.length;
    const run = drive(ask(start, rotate(true)), cluster, T0 + 1000);
    expect(run.answers.map((a) => a.outcome)).toEqual([{ ok: true, value: expect.objectContaining({ version: 2, previous: { version: 1, state: 'compromised' }, signingDisabledOn: cluster.nodeIds }) }]);
    const v2 = fingerprintOf(run.machine, 2);
    const log = cluster.log.slice(before);
    const firstGeneration = log.findIndex((c) => c.activity === 'generateKeyPair');
    // v1 is switched off before v2 exists; then v2 alone is switched to encrypt (no version is active to retire).
    expect(switches(log.slice(0, firstGeneration).filter((c) => c.activity === 'setEncryptionUsage'))).toEqual(cluster.nodeIds.map((node) => ({ node, fingerprint: v1, usage: DECRYPT_ONLY, keyType: 'aes-256' })));
    expect(switches(log.slice(firstGeneration).filter((c) => c.activity === 'setEncryptionUsage'))).toEqual(cluster.nodeIds.map((node) => ({ node, fingerprint: v2, usage: ACTIVE, keyType: 'aes-256' })));
    expect(cluster.usageAtActivation.get(2)).toEqual(Object.fromEntries(cluster.nodeIds.map((node) => [node, { v1: DECRYPT_ONLY, v2: ACTIVE }])));
    expect(states(run.machine)).toEqual(['v1:compromised', 'v2:active']);
    // Not archived at once: its ciphertexts still open until its decrypt use stops.
    expect(run.machine.key.versions[0]!.graceDeadline).toBe(at(T0 + 1000 + HOUR));
    expect(log.filter((c) => c.activity === 'wrapPrivateKey' && c.input.wrappingKeyLabel === ARCHIVE_KEK_LABEL)).toEqual([]);
    expect(machine.viewOfMachine(run.machine, T0 + 1000)).toMatchObject({ minDecryptionVersion: 1, usage: [{ version: 1, ...DECRYPT_ONLY }, { version: 2, ...ACTIVE }] });
    expect(machine.decide(run.machine, T0 + 2000).step).toMatchObject({ kind: 'wait', until: T0 + 1000 + HOUR, what: 'decrypt-only period of compromised v1 ends' });

    // Still decrypted at its deadline: kept one more grace period.
    cluster.decrypts.set(1, 2);
    const kept = drive(run.machine, cluster, T0 + 1000 + HOUR).machine;
    expect(states(kept)).toEqual(['v1:compromised', 'v2:active']);
    expect(kept.key.versions[0]!.graceDeadline).toBe(at(T0 + 1000 + 2 * HOUR));
    expect(cluster.callsOf('countSignsAfter').at(-1)?.input).toEqual({ name: 'k', version: 1, since: at(T0 + 1000), operations: ['decrypt', 'unwrap'] });

    cluster.decrypts.set(1, 0);
    const archived = drive(kept, cluster, T0 + 1000 + 2 * HOUR).machine;
    expect(states(archived)).toEqual(['v1:archived', 'v2:active']);
    expect(archived.key.versions[0]!.verdict?.ok).toBe(true);
    expect(cluster.callsOf('destroyKeyObjects').map((c) => c.input)).toEqual(cluster.nodeIds.map(() => ({ fingerprint: v1, privateKey: true, publicKey: false, secretKey: true })));
    expect(machine.viewOfMachine(archived, T0 + 1000 + 2 * HOUR).minDecryptionVersion).toBe(2);
  });

  it('two compromised versions kept for decryption: each is looked at at its own deadline, the newer one archived while the older one is still decrypted', () => {
    const { cluster, m: start } = created('aes-256');
    let m = drive(ask(start, rotate(true)), cluster, T0).machine;
    cluster.decrypts.set(1, 5);
    m = drive(m, cluster, T0 + HOUR).machine;
    m = drive(ask(m, rotate(true)), cluster, T0 + HOUR + 1000).machine;
    m = drive(m, cluster, T0 + 2 * HOUR).machine;
    // v1, still decrypted, was kept until +3h; v2's own decrypt-only period ends at +2h+1s.
    expect(m.key.versions.map((v) => [v.version, v.state, v.graceDeadline])).toEqual([[1, 'compromised', at(T0 + 3 * HOUR)], [2, 'compromised', at(T0 + 2 * HOUR + 1000)], [3, 'active', null]]);
    const due = T0 + 2 * HOUR + 1000;
    expect(machine.decide(m, due).step).toMatchObject({ kind: 'call', call: { activity: 'countSignsAfter', input: { version: 2, operations: ['decrypt', 'unwrap'] } } });
    const archived = drive(m, cluster, due).machine;
    expect(states(archived)).toEqual(['v1:compromised', 'v2:archived', 'v3:active']);
    expect(machine.viewOfMachine(archived, due).minDecryptionVersion).toBe(1);
  });

  it('an emergency without decryptAfterCompromise switches every use of v1 off on every node and archives it at once', () => {
    const { cluster, m: start } = created('aes-256', { decryptAfterCompromise: false });
    const v1 = fingerprintOf(start, 1);
    const before = cluster.log.length;
    const run = drive(ask(start, rotate(true)), cluster, T0 + 1000);
    expect(run.answers.map((a) => a.outcome.ok)).toEqual([true]);
    const log = cluster.log.slice(before);
    const firstGeneration = log.findIndex((c) => c.activity === 'generateKeyPair');
    expect(switches(log.slice(0, firstGeneration).filter((c) => c.activity === 'setEncryptionUsage'))).toEqual(cluster.nodeIds.map((node) => ({ node, fingerprint: v1, usage: NONE, keyType: 'aes-256' })));
    expect(states(run.machine)).toEqual(['v1:archived', 'v2:active']);
    expect(log.filter((c) => c.activity === 'countSignsAfter').map((c) => c.input)).toEqual([{ name: 'k', version: 1, since: at(T0 + 1000), operations: ['decrypt', 'unwrap'] }]);
    expect(log.filter((c) => c.activity === 'destroyKeyObjects').map((c) => c.input)).toEqual(cluster.nodeIds.map(() => ({ fingerprint: v1, privateKey: true, publicKey: false, secretKey: true })));
    expect(cluster.events.find((e) => e.action === 'key.version.archived')?.details).toMatchObject({ version: 1, why: 'compromised: archived at once, without a grace period' });
    expect(machine.viewOfMachine(run.machine, T0 + 1000).minDecryptionVersion).toBe(2);
  });

  it('an rsa-oaep-2048 version keeps the JWE algorithm its HSM decrypts, and its replicas get its public key and decrypt-only usage', () => {
    const { cluster, m: start } = created('rsa-oaep-2048');
    expect(start.key.versions[0]).toMatchObject({ state: 'active', jweAlg: 'RSA-OAEP', spki: expect.any(String) });
    const rotated = drive(ask(start, rotate()), cluster, T0 + 1000).machine;
    expect(rotated.key.versions.map((v) => v.jweAlg)).toEqual(['RSA-OAEP', 'RSA-OAEP']);
    for (const replica of cluster.callsOf('importReplica')) expect(replica.input).toMatchObject({ keyType: 'rsa-oaep-2048', usage: DECRYPT_ONLY, publicKey: { kty: 'EC' } });
    const [v1, v2] = rotated.key.versions.map((v) => v.fingerprint);
    for (const node of cluster.nodeIds) expect({ node, v1: cluster.usage.get(node)?.get(v1 as string), v2: cluster.usage.get(node)?.get(v2 as string) }).toEqual({ node, v1: DECRYPT_ONLY, v2: ACTIVE });
    // Carried across a fresh run as JSON.
    expect((JSON.parse(JSON.stringify(rotated)) as machine.LifecycleMachine).key.versions[1]!.jweAlg).toBe('RSA-OAEP');
  });

  it('a signing key\'s steps keep their inputs: no key type, usage, secret key or operations where they had none', () => {
    const { cluster, m: start } = created('ec-p256');
    let m = drive(ask(start, rotate()), cluster, T0 + 1000).machine;
    m = drive(m, cluster, T0 + 1000 + HOUR).machine;
    m = drive(m, cluster, T0 + 1000 + HOUR + DAY).machine;
    m = drive(ask(m, rotate(true)), cluster, T0 + 2 * DAY).machine;
    expect(states(m)).toEqual(['v2:archived', 'v3:active']);
    const keysByActivity = new Map<string, Set<string>>();
    for (const call of cluster.log.filter((c) => c.activity !== 'recordKeyEvent' && c.activity !== 'raiseKeyAlert' && c.activity !== 'evaluateKeyRisk')) {
      keysByActivity.set(call.activity, new Set([...(keysByActivity.get(call.activity) ?? []), JSON.stringify(Object.keys(call.input).sort())]));
    }
    // The input shapes of each activity before encryption keys (52f984d^), for every call it made here.
    expect(Object.fromEntries([...keysByActivity].map(([activity, shapes]) => [activity, [...shapes].map((s) => JSON.parse(s) as string[])]))).toEqual({
      getClusterNodes: [[]],
      pingHsmNode: [['nodeId', 'randomBytes']],
      generateKeyPair: [['entropyPolicy', 'keyType', 'label']],
      wrapPrivateKey: [['fingerprint', 'wrappingKeyLabel']],
      importReplica: [['fingerprint', 'keyType', 'label', 'publicKey', 'unwrappingKeyLabel', 'wrapped']],
      listSubscriptionIds: [[]],
      countSignsAfter: [['name', 'since', 'version']],
      storeArchiveBlob: [['fingerprint', 'name', 'version', 'wrapped']],
      destroyKeyObjects: [['fingerprint', 'privateKey', 'publicKey']],
      describeKey: [['fingerprint']],
      loadArchiveBlob: [['name', 'version']],
      verifyArchivedBlob: [['keyType', 'spki', 'unwrappingKeyLabel', 'wrapped']],
      deleteArchiveBlob: [['name', 'version']],
      setSigning: [['enabled', 'fingerprint']],
    });
    expect(cluster.callsOf('destroyKeyObjects').map((c) => [c.input.privateKey, c.input.publicKey])).toEqual([
      ...cluster.nodeIds.map(() => [true, false]), ...cluster.nodeIds.map(() => [true, true]), ...cluster.nodeIds.map(() => [true, false]),
    ]);
    expect(machine.viewOfMachine(m, T0 + 2 * DAY)).toMatchObject({ minDecryptionVersion: null, usage: null });
  });
  it('a usage switch that fails on one node holds the key with v1 still active and encrypting; resume runs the switch again and the rotation ends', () => {
    const { cluster, m: start } = created('aes-256');
    const v1 = fingerprintOf(start, 1);
    const decided = untilStep(ask(start, rotate()), cluster, T0 + 1000, isUsageSwitch);
    const step = decided.step as Extract<machine.Step, { kind: 'calls' }>;
    expect(step.what).toBe('switch v2 on to encrypt');
    // hsm-3's C_SetAttributeValue fails: the step's outcome is that failure.
    const outcomes = step.calls.map((call) => (call.queue.kind === 'hsm' && call.queue.node === cluster.nodeIds[2] ? { ok: false as const, code: 'hsm_error' as const, message: 'CKR_DEVICE_ERROR' } : cluster.outcomeOf({ kind: 'call', call })));
    const held = machine.apply(decided.machine, step, machine.outcomeOfCalls(step.calls, outcomes), T0 + 1000);
    expect(held.held).toMatchObject({ step: 'switch v2 on to encrypt', reason: 'hsm_error: CKR_DEVICE_ERROR' });
    expect(states(held)).toEqual(['v1:active', 'v2:pending']);
    // v1 is untouched on every node: the active version still encrypts everywhere while the key is held.
    for (const node of cluster.nodeIds) expect(cluster.usage.get(node)?.get(v1)).toEqual(ACTIVE);
    expect(held.alerts.map((a) => [a.dedupKey, a.severity])).toEqual([['key:k:held', 'critical']]);

    const resumed = drive(ask(held, { kind: 'resume', reason: 'hsm-3 fixed', actor: 'alice' }), cluster, T0 + 3000);
    expect(resumed.machine.held).toBeNull();
    expect(states(resumed.machine)).toEqual(['v1:retiring', 'v2:active']);
    const v2 = fingerprintOf(resumed.machine, 2);
    for (const node of cluster.nodeIds) expect({ node, v1: cluster.usage.get(node)?.get(v1), v2: cluster.usage.get(node)?.get(v2) }).toEqual({ node, v1: DECRYPT_ONLY, v2: ACTIVE });
  });
});
