import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { signDigest } from '../../adapters/pkcs11/keys';
import { TokenSessionPool } from '../../adapters/pkcs11/session-pool';
import { readSecret } from '../../adapters/secrets';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookSignature } from '../../adapters/webhooks/signed-post';
import { keyStateQuery } from '../../workflows/key-messages';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { listTokenObjects, type TokenObject } from '../support/pkcs11-listing';
import { callApiAs, startTestSystem, testConfig, tokenFor, uniqueName } from '../support/system';

interface KeyDetail {
  name: string;
  phase: string;
  activeVersion: number | null;
  versions: Array<{ version: number; kid: string; fingerprint: string; state: string; graceDeadline: string | null; compromisedAt: string | null; verdict: { ok: boolean } | null; lineage: { trigger: string } }>;
  deadlines: { graceDeadline: string | null; graceCap: string | null };
}

const policy = { gracePeriod: '15s', maxGracePeriod: '40s', retention: '3s', maxAge: '1h', minRotationInterval: '1s', evaluationInterval: '1m', publicationLead: '0s' };


const base64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

describe('key lifecycle on the real stack: three SoftHSM tokens, Temporal, PostgreSQL', () => {
  let system: RunningSystem;
  let operator: string;
  let auditor: string;

  beforeAll(async () => {
    // The subscribers of the webhook test run on this machine: admitted on purpose, as internal receivers would be.
    system = await startTestSystem(await testConfig({ env: { KEYROTOR_WEBHOOK_ALLOW: '127.0.0.1' } }));
    operator = await tokenFor(system, 'operator');
    auditor = await tokenFor(system, 'auditor');
  });

  afterAll(async () => {
    await system?.stop();
  });

  const api = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, token = operator) => callApiAs(system, token, method, url, payload);
  const detail = async (name: string): Promise<KeyDetail> => (await api('GET', `/keys/${name}`)).body as unknown as KeyDetail;
  const jwksKids = async (): Promise<string[]> => {
    const reply = await system.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    return (reply.json<{ keys: Array<{ kid: string }> }>().keys).map((key) => key.kid).sort();
  };

  /** Every key object on every node, read with pkcs11-tool (not keyrotor's code), by fingerprint. */
  const objectsByNode = (): Map<string, TokenObject[]> =>
    new Map(system.config.hsm.nodes.map((node) => [node.id, listTokenObjects({ modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, 'pin') })]));
  const expectObjects = (fingerprint: string, expected: { privkey: number; pubkey: number }): void => {
    for (const [nodeId, objects] of objectsByNode()) {
      const mine = objects.filter((object) => object.idHex === fingerprint);
      expect({ nodeId, privkey: mine.filter((o) => o.class === 'privkey').length, pubkey: mine.filter((o) => o.class === 'pubkey').length }).toEqual({ nodeId, ...expected });
    }
  };

  const waitForVersion = (name: string, version: number, state: string): Promise<KeyDetail> =>
    eventually(async () => {
      const key = await detail(name);
      return key.versions.find((v) => v.version === version)?.state === state ? key : undefined;
    }, `${name} v${version} ${state}`);
  /** Waits for the transition verdict, recorded just after the archive. */
  const waitForVerdict = (name: string, version: number): Promise<NonNullable<KeyDetail['versions'][number]['verdict']>> =>
    eventually(async () => (await detail(name)).versions.find((v) => v.version === version)?.verdict ?? undefined, `the verdict on ${name} v${version}`);

  it('creates keys, rotates, extends and ends the grace period, archives, verifies and purges — checked on every token', async () => {
    for (const [name, type] of [['payments-ec', 'ec-p256'], ['payments-rsa', 'rsa-2048']] as const) {
      const created = await api('POST', '/keys', { name, type, policy, reason: 'test' });
      expect(created.status).toBe(202);
    }
    const ec1 = await waitForVersion('payments-ec', 1, 'active');
    const rsa1 = await waitForVersion('payments-rsa', 1, 'active');
    const ecV1 = ec1.versions[0]!;
    expectObjects(ecV1.fingerprint, { privkey: 1, pubkey: 1 });
    expectObjects(rsa1.versions[0]!.fingerprint, { privkey: 1, pubkey: 1 });
    expect(await jwksKids()).toEqual([ecV1.kid, rsa1.versions[0]!.kid].sort());

    // A signature made on a node that did not generate the key verifies against the JWKS, as an application checks it.
    const signer = system.config.hsm.nodes.find((node) => node.id !== (ec1.versions[0] as unknown as { generatedOn: string }).generatedOn) ?? system.config.hsm.nodes[0]!;
    const pool = TokenSessionPool.open({ nodeId: signer.id, modulePath: signer.modulePath, tokenLabel: signer.tokenLabel, pin: readSecret(signer.pin, 'pin'), size: 1 });
    try {
      const signingInput = `${base64url(JSON.stringify({ alg: 'ES256', kid: ecV1.kid }))}.${base64url('{"amount":42}')}`;
      const { signature } = await signDigest(pool, { fingerprint: ecV1.fingerprint, data: Buffer.from(signingInput).toString('base64') });
      const jwks = (await system.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<JSONWebKeySet>();
      const verified = await compactVerify(`${signingInput}.${Buffer.from(signature, 'base64').toString('base64url')}`, createLocalJWKSet(jwks));
      expect(Buffer.from(verified.payload).toString()).toBe('{"amount":42}');
      expect(verified.protectedHeader.kid).toBe(ecV1.kid);
    } finally {
      await pool.close();
    }

    const rotated = await api('POST', '/keys/payments-ec/rotate', { reason: 'scheduled test rotation' });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ version: 2, previous: { version: 1, state: 'retiring' }, signingDisabledOn: [] });
    const ec2 = await detail('payments-ec');
    const ecV2 = ec2.versions.find((v) => v.version === 2)!;
    expect(ec2.versions.map((v) => [v.version, v.state])).toEqual([[1, 'retiring'], [2, 'active']]);
    expect(ecV2.lineage.trigger).toBe('manual');
    expectObjects(ecV1.fingerprint, { privkey: 1, pubkey: 1 });
    expectObjects(ecV2.fingerprint, { privkey: 1, pubkey: 1 });
    expect(await jwksKids()).toEqual([ecV1.kid, ecV2.kid, rsa1.versions[0]!.kid].sort());

    // Extend the grace period by signal: the query shows the moved deadline; past the cap is refused and changes nothing.
    const before = Date.parse(ec2.deadlines.graceDeadline as string);
    const extended = await api('POST', '/keys/payments-ec/grace', { extendBy: '5s', reason: 'apps still switching' });
    expect(extended.status).toBe(202);
    expect(Date.parse(extended.body.expectedDeadline as string)).toBe(before + 5000);
    const handle = system.client.workflow.getHandle('key/payments-ec');
    await eventually(async () => ((await handle.query(keyStateQuery)).graceDeadline === extended.body.expectedDeadline ? true : undefined), 'the moved deadline');
    const pastCap = await api('POST', '/keys/payments-ec/grace', { extendBy: '1h', reason: 'too long' });
    expect(pastCap.status).toBe(409);
    expect(pastCap.body).toMatchObject({ code: 'grace_cap_exceeded' });
    expect((await handle.query(keyStateQuery)).graceDeadline).toBe(extended.body.expectedDeadline);

    // The grace period ends by itself: v1 is archived (private objects gone, public kept), verified, then purged.
    await waitForVersion('payments-ec', 1, 'archived');
    expect(await waitForVerdict('payments-ec', 1)).toMatchObject({ ok: true, liveObjectsOn: [], archiveVerified: true, usage: { evidence: 'none' } });
    expect(await jwksKids()).toEqual([ecV2.kid, rsa1.versions[0]!.kid].sort());
    await waitForVersion('payments-ec', 1, 'purged');
    expectObjects(ecV1.fingerprint, { privkey: 0, pubkey: 0 });
    expectObjects(ecV2.fingerprint, { privkey: 1, pubkey: 1 });
    const blobs = await system.db.query("SELECT 1 FROM archive_blobs WHERE name = 'payments-ec' AND version = 1");
    expect(blobs.rowCount).toBe(0);

    const audit = await api('GET', '/audit?subject=key/payments-ec&limit=100', undefined, auditor);
    const actions = (audit.body.entries as Array<{ action: string }>).map((entry) => entry.action);
    expect(actions).toEqual(expect.arrayContaining(['key.version.generated', 'key.version.replicated', 'key.version.activated', 'key.grace.extended', 'key.version.archived', 'key.version.verified', 'key.version.purged']));
    expect((await api('GET', '/audit/verify', undefined, auditor)).body).toMatchObject({ ok: true });
  });

  it('emergency rotation: when the answer comes, the old version can no longer sign on any node', async () => {
    const old = (await detail('payments-rsa')).versions.find((v) => v.state === 'active')!;
    const reply = await api('POST', '/keys/payments-rsa/rotate', { reason: 'key leaked', emergency: true });
    expect(reply.status).toBe(200);
    expect(reply.body.signingDisabledOn).toEqual(system.config.hsm.nodes.map((node) => node.id));
    for (const [nodeId, objects] of objectsByNode()) {
      const privateKey = objects.find((object) => object.idHex === old.fingerprint && object.class === 'privkey');
      // Either the private key is already destroyed (archived at once) or it is there with sign switched off.
      expect({ nodeId, signs: privateKey ? privateKey.usage.includes('sign') : false }).toEqual({ nodeId, signs: false });
    }
    await waitForVersion('payments-rsa', old.version, 'archived');
    expect((await waitForVerdict('payments-rsa', old.version)).ok).toBe(true);
    expect((await detail('payments-rsa')).versions.find((v) => v.version === old.version)).toMatchObject({ compromisedAt: expect.any(String), lineage: { trigger: 'create' } });
    expect(await jwksKids()).not.toContain(old.kid);
  });

  it('answers bad requests with problem+json and changes nothing', async () => {
    const auditBefore = (await system.db.query('SELECT count(*)::int AS n FROM audit_log')).rows[0];
    const stateBefore = await detail('payments-ec');
    const cases: Array<[string, Promise<{ status: number; body: Record<string, unknown>; contentType: unknown }>, number, string]> = [
      ['unknown key', api('POST', '/keys/no-such-key/rotate', { reason: 'x' }), 404, 'not_found'],
      ['bad duration', api('POST', '/keys', { name: 'bad-duration', type: 'ec-p256', policy: { gracePeriod: 'ten days' } }), 400, 'invalid_policy'],
      ['invalid policy', api('PATCH', '/keys/payments-ec/policy', { gracePeriod: '50s' }), 400, 'invalid_policy'],
      ['no grace period to extend', api('POST', '/keys/payments-ec/grace', { extendBy: '1s', reason: 'x' }), 409, 'no_grace_period'],
      ['bad extension duration', api('POST', '/keys/payments-ec/grace', { extendBy: 'soon', reason: 'x' }), 400, 'invalid_duration'],
      ['ed25519', api('POST', '/keys', { name: 'edwards', type: 'ed25519' }), 400, 'unsupported_key_type'],
      ['bad name', api('POST', '/keys', { name: 'Bad Name', type: 'ec-p256' }), 400, 'invalid_key_name'],
      ['wrong confirmation', api('DELETE', '/keys/payments-ec', { confirm: 'payments', reason: 'x' }), 400, 'confirmation_mismatch'],
    ];
    for (const [what, pending, status, code] of cases) {
      const reply = await pending;
      expect({ what, status: reply.status, code: reply.body.code }).toEqual({ what, status, code });
      expect(reply.contentType).toMatch(/^application\/problem\+json/);
    }
    expect((await system.db.query('SELECT count(*)::int AS n FROM audit_log')).rows[0]).toEqual(auditBefore);
    expect(await detail('payments-ec')).toEqual(stateBefore);
    expect((await system.db.query("SELECT 1 FROM keys WHERE name IN ('bad-duration', 'edwards')")).rowCount).toBe(0);
  });

  it('gives one rotation for two concurrent requests and a clear answer to the other', async () => {
    const [a, b] = await Promise.all([
      api('POST', '/keys/payments-rsa/rotate', { reason: 'first' }),
      api('POST', '/keys/payments-rsa/rotate', { reason: 'second' }),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 409]);
    const refused = a.status === 409 ? a : b;
    expect(refused.body.code).toMatch(/^(rotation_in_progress|grace_period_running)$/);
  });

  it('tells subscribers with signed webhooks, and a failing subscriber does not hold the rotation', async () => {
    const received: Array<{ headers: Record<string, string | string[] | undefined>; body: string }> = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on('end', () => {
        if (request.url === '/broken') {
          response.statusCode = 500;
        } else {
          received.push({ headers: request.headers, body });
          response.statusCode = 204;
        }
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const good = await api('POST', '/subscriptions', { url: `http://127.0.0.1:${port}/hook` });
      const bad = await api('POST', '/subscriptions', { url: `http://127.0.0.1:${port}/broken` });
      expect([good.status, bad.status]).toEqual([201, 201]);
      const secret = good.body.secret as string;
      const listed = await api('GET', '/subscriptions');
      expect(JSON.stringify(listed.body)).not.toContain(secret);

      await api('POST', '/keys', { name: 'notified', type: 'ec-p384', policy });
      await waitForVersion('notified', 1, 'active');
      const delivery = await eventually(() => received.find((r) => r.body.includes('"notified"')), 'the webhook delivery');
      const payload = JSON.parse(delivery.body) as { event: string; key: string; kid: string };
      expect(payload).toMatchObject({ event: 'key.rotated', key: 'notified', kid: (await detail('notified')).versions[0]!.kid });
      const timestamp = delivery.headers[TIMESTAMP_HEADER] as string;
      expect(delivery.headers[SIGNATURE_HEADER]).toBe(webhookSignature(secret, timestamp, delivery.body));

      // The broken subscriber keeps failing in its own workflow while the key's lifecycle goes on.
      const rotated = await api('POST', '/keys/notified/rotate', { reason: 'with a broken subscriber' });
      expect(rotated.status).toBe(200);
      const broken = system.client.workflow.getHandle(`webhook/notified/v1/${(bad.body.subscription as { id: string }).id}`);
      expect((await broken.describe()).status.name).toBe('RUNNING');
      await broken.terminate('test over');
      await system.client.workflow.getHandle(`webhook/notified/v2/${(bad.body.subscription as { id: string }).id}`).terminate('test over');
    } finally {
      server.close();
    }
  });

  it('Prefer: respond-async answers 202 once the new version is published, while the old one still signs for the lead; the key then activates it', async () => {
    const name = uniqueName('async-rotate-');
    // A lead long enough that the synchronous answer would be 30 s away; the 202 must come before it.
    expect((await api('POST', '/keys', { name, type: 'ec-p256', policy: { ...policy, publicationLead: '30s' } })).status).toBe(202);
    await waitForVersion(name, 1, 'active');
    const rotate = (prefer: string) => system.app.inject({ method: 'POST', url: `/keys/${name}/rotate`, headers: { authorization: `Bearer ${operator}`, prefer }, payload: { reason: 'async rotation' } });
    const reply = await rotate('wait=5, RESPOND-ASYNC');
    expect(reply.statusCode).toBe(202);
    expect(reply.headers).toMatchObject({ 'preference-applied': 'respond-async', location: `/keys/${name}`, vary: 'Prefer' });
    const accepted = reply.json<Record<string, unknown>>();
    expect(accepted).toMatchObject({ version: 2, state: 'pending', waiting: null, previous: { version: 1, state: 'active' }, signingDisabledOn: [] });
    expect(Date.parse(accepted.activatesAt as string) - Date.parse(accepted.publishedAt as string)).toBe(30_000);
    const now = await detail(name);
    expect(now.versions.map((v) => `v${v.version}:${v.state}`)).toEqual(['v1:active', 'v2:pending']);
    expect(now.versions[1]!.kid).toBe(accepted.kid);
    expect(await jwksKids()).toEqual(expect.arrayContaining([now.versions[0]!.kid, accepted.kid]));
    // The rotation under way refuses another, early or not, and nothing changes.
    const again = await rotate('respond-async');
    expect({ status: again.statusCode, code: again.json<{ code: string }>().code }).toEqual({ status: 409, code: 'rotation_in_progress' });
    expect((await detail(name)).versions).toHaveLength(2);
    const active = await waitForVersion(name, 2, 'active');
    expect(active.versions.find((v) => v.version === 1)?.state).toBe('retiring');
  });

  it('rotates by itself when the key reaches maxAge, with trigger "age" in the lineage', async () => {
    await api('POST', '/keys', { name: 'short-lived', type: 'ec-p256', policy: { ...policy, maxAge: '6s', minRotationInterval: '1s', gracePeriod: '2s' } });
    await waitForVersion('short-lived', 1, 'active');
    const rotated = await waitForVersion('short-lived', 2, 'active');
    expect(rotated.versions.find((v) => v.version === 2)?.lineage).toMatchObject({ trigger: 'age', actor: 'system', reason: 'maxAge 6s reached' });
  });

  it('decommissions a key: every version destroyed everywhere, and later changes refused', async () => {
    const key = await detail('payments-ec');
    const reply = await api('DELETE', '/keys/payments-ec', { confirm: 'payments-ec', reason: 'service retired' });
    expect(reply.status).toBe(200);
    for (const version of key.versions) expectObjects(version.fingerprint, { privkey: 0, pubkey: 0 });
    const rotate = await api('POST', '/keys/payments-ec/rotate', { reason: 'too late' });
    expect(rotate.status).toBe(409);
    expect(rotate.body.code).toBe('key_decommissioned');
  });
});
