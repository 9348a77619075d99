import type { RunningSystem } from '../../workers/system';
import { WORKFLOW_TYPES, keyWorkflowId } from '../../domain/identifiers';
import { eventually } from '../support/eventually';
import { callApiAs, startTestSystem, testConfig, tokenFor, uniqueName } from '../support/system';

interface Version {
  version: number;
  state: string;
  mayEncrypt?: boolean;
  mayDecrypt?: boolean;
}

/**
 * The envelope API of an aes-256 key on the real stack: a data key made under v1 still opens after the key rotates to
 * v2, rewrap moves it to v2 inside the HSM, v1 is archived once nobody decrypts with it for a grace period, then
 * purged, and a v1 ciphertext after that is refused with a reply that names the purged version.
 */
describe('envelope encryption with an aes-256 key', () => {
  let system: RunningSystem;
  let operator: string;
  let encrypter: string;
  let decrypter: string;

  beforeAll(async () => {
    system = await startTestSystem(await testConfig());
    [operator, encrypter, decrypter] = await Promise.all([tokenFor(system, 'operator'), tokenFor(system, 'encrypter'), tokenFor(system, 'decrypter')]);
  });

  afterAll(async () => {
    await system?.stop();
  });

  const call = <T = Record<string, unknown>>(token: string, method: 'GET' | 'POST', url: string, payload?: unknown) => callApiAs<T>(system, token, method, url, payload);
  const versions = async (name: string): Promise<Version[]> => (await call<{ versions: Version[] }>(operator, 'GET', `/keys/${name}`)).body.versions;
  const states = async (name: string): Promise<string[]> => (await versions(name)).map((v) => `v${v.version}:${v.state}`);
  const waitFor = (name: string, state: string, timeoutMs = 90_000) =>
    eventually(async () => ((await states(name)).includes(state) ? true : undefined), `${name} ${state}`, timeoutMs);

  /** Every payload of every envelope operation workflow of the key, and of its lifecycle workflow, as text. */
  async function historiesOf(name: string): Promise<string> {
    const texts: string[] = [];
    for await (const execution of system.client.workflow.list({ query: `WorkflowType = '${WORKFLOW_TYPES.envelopeOperation}'` })) {
      if (!execution.workflowId.startsWith(`envelope/${name}/`)) continue;
      texts.push(JSON.stringify(await system.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory()));
    }
    texts.push(JSON.stringify(await system.client.workflow.getHandle(keyWorkflowId(name)).fetchHistory()));
    return texts.join('\n');
  }

  it('keeps a v1 data key open after rotation, rewraps it to v2 in the HSM, archives v1 once unused, and refuses it by name after the purge', async () => {
    const name = uniqueName('kek-');
    const created = await call(operator, 'POST', '/keys', { name, type: 'aes-256', policy: { publicationLead: '0s', gracePeriod: '15s', maxGracePeriod: '1m', retention: '10s' } });
    expect(created.status).toBe(202);
    expect((created.body.policy as { capacityLimit: number }).capacityLimit).toBe(2 ** 32);
    await waitFor(name, 'v1:active');

    // v1: a data key for the application, its plaintext once.
    const made = await call<{ version: number; ciphertext: string; plaintext: string }>(encrypter, 'POST', `/keys/${name}/datakey`, { plaintext: true });
    expect(made.status).toBe(200);
    expect(made.body.version).toBe(1);
    expect(made.body.ciphertext).toMatch(new RegExp(`^keyrotor:${name}:v1:[A-Za-z0-9_-]{54}$`));
    const dataKey = made.body.plaintext;
    expect(Buffer.from(dataKey, 'base64')).toHaveLength(32);
    const withoutPlaintext = await call(encrypter, 'POST', `/keys/${name}/datakey`, { bytes: 16 });
    expect(withoutPlaintext.status).toBe(200);
    expect(withoutPlaintext.body).not.toHaveProperty('plaintext');
    // The batch form: several data keys in one call, each its own.
    const three = await call<{ version: number; batch: Array<{ ciphertext: string; plaintext: string }> }>(encrypter, 'POST', `/keys/${name}/datakey`, { count: 3, plaintext: true });
    expect(three.status).toBe(200);
    expect(three.body.version).toBe(1);
    expect(new Set(three.body.batch.map((item) => item.ciphertext)).size).toBe(3);
    expect(new Set(three.body.batch.map((item) => item.plaintext)).size).toBe(3);

    // The roles: an encrypter does not unwrap, an operator rewraps but does not unwrap, a decrypter makes no data key.
    expect((await call(encrypter, 'POST', `/keys/${name}/unwrap`, { ciphertext: made.body.ciphertext })).status).toBe(403);
    expect((await call(operator, 'POST', `/keys/${name}/unwrap`, { ciphertext: made.body.ciphertext })).status).toBe(403);
    expect((await call(decrypter, 'POST', `/keys/${name}/datakey`, {})).status).toBe(403);
    expect(await call(decrypter, 'POST', `/keys/${name}/unwrap`, { ciphertext: made.body.ciphertext })).toMatchObject({ status: 200, body: { version: 1, plaintext: dataKey } });

    // The key rotates: v2 encrypts, v1 only decrypts, and the v1 data key still opens.
    expect((await call(operator, 'POST', `/keys/${name}/rotate`, { reason: 'scheduled' })).status).toBe(200);
    expect(await versions(name)).toEqual(expect.arrayContaining([
      expect.objectContaining({ version: 1, state: 'retiring', mayEncrypt: false, mayDecrypt: true }),
      expect.objectContaining({ version: 2, state: 'active', mayEncrypt: true, mayDecrypt: true }),
    ]));
    expect((await call<{ minDecryptionVersion: number }>(operator, 'GET', `/keys/${name}`)).body.minDecryptionVersion).toBe(1);
    const mapped = (await call<{ keys: Array<{ minDecryptionVersion: number; versions: Version[] }> }>(operator, 'GET', `/keymap?key=${name}`)).body.keys[0];
    expect(mapped?.minDecryptionVersion).toBe(1);
    expect(mapped?.versions.map(({ version, mayEncrypt, mayDecrypt }) => ({ version, mayEncrypt, mayDecrypt }))).toEqual([
      { version: 1, mayEncrypt: false, mayDecrypt: true },
      { version: 2, mayEncrypt: true, mayDecrypt: true },
    ]);
    expect(await call(decrypter, 'POST', `/keys/${name}/unwrap`, { ciphertext: made.body.ciphertext })).toMatchObject({ status: 200, body: { version: 1, plaintext: dataKey } });
    expect((await call<{ version: number }>(encrypter, 'POST', `/keys/${name}/datakey`, {})).body.version).toBe(2);

    // rewrap moves it to v2 inside the HSM: the reply holds the new ciphertext and nothing else.
    const rewrapped = await call<Record<string, unknown>>(operator, 'POST', `/keys/${name}/rewrap`, { ciphertext: made.body.ciphertext });
    expect(rewrapped.status).toBe(200);
    expect(Object.keys(rewrapped.body).sort()).toEqual(['ciphertext', 'version']);
    expect(rewrapped.body.version).toBe(2);
    expect(rewrapped.body.ciphertext).toMatch(new RegExp(`^keyrotor:${name}:v2:`));
    expect(await call(decrypter, 'POST', `/keys/${name}/unwrap`, { ciphertext: rewrapped.body.ciphertext })).toMatchObject({ status: 200, body: { version: 2, plaintext: dataKey } });

    // The data key never crossed Temporal in clear: not in any envelope operation's history, nor in the key's.
    const histories = await historiesOf(name);
    expect(histories).toContain(`envelope/${name}/`);
    for (const form of [dataKey, Buffer.from(dataKey, 'base64').toString('hex'), Buffer.from(dataKey, 'base64').toString('base64url')]) expect(histories).not.toContain(form);

    // The application used v1 during the grace period: it stays decrypt-only. Once unused for a grace period it is
    // archived (minDecryptionVersion 2), and it no longer opens.
    await waitFor(name, 'v1:archived', 120_000);
    expect((await call<{ minDecryptionVersion: number }>(operator, 'GET', `/keys/${name}`)).body.minDecryptionVersion).toBe(2);
    const extended = await system.db.query<{ details: { reason?: string } }>("SELECT details FROM audit_log WHERE subject = $1 AND action = 'key.grace.extended'", [`key/${name}`]);
    expect(extended.rows.map((row) => row.details.reason)).toContain('still decrypting at the end of its grace period');
    const archived = await call(decrypter, 'POST', `/keys/${name}/unwrap`, { ciphertext: made.body.ciphertext });
    if (archived.status !== 410) expect(archived).toMatchObject({ status: 409, body: { code: 'version_archived' } });

    // After the purge, the v1 ciphertext gets a clear 410 that names the purged version.
    await waitFor(name, 'v1:purged', 120_000).catch(async () => {
      // A purged version leaves the workflow's state once recorded; the record keeps it.
      await eventually(async () => ((await system.db.query("SELECT 1 FROM key_versions WHERE name = $1 AND version = 1 AND state = 'purged'", [name])).rowCount === 1 ? true : undefined), `${name} v1 purged`);
    });
    const purged = await call<{ code: string; detail: string }>(decrypter, 'POST', `/keys/${name}/unwrap`, { ciphertext: made.body.ciphertext });
    expect(purged.status).toBe(410);
    expect(purged.body.code).toBe('version_purged');
    expect(purged.body.detail).toContain(`v1 of ${name} was purged`);
    expect((await call(operator, 'POST', `/keys/${name}/rewrap`, { ciphertext: made.body.ciphertext })).status).toBe(410);
    // The rewrapped form still opens.
    expect(await call(decrypter, 'POST', `/keys/${name}/unwrap`, { ciphertext: rewrapped.body.ciphertext })).toMatchObject({ status: 200, body: { version: 2, plaintext: dataKey } });
  });
  it('refuses bad ciphertexts and bad requests with a 4xx that says why, and changes nothing', async () => {
    const name = uniqueName('kek-bad-');
    const other = uniqueName('kek-other-');
    const signing = uniqueName('sig-');
    for (const [key, type] of [[name, 'aes-256'], [other, 'aes-256'], [signing, 'ec-p256']] as const) {
      expect((await call(operator, 'POST', '/keys', { name: key, type, policy: { publicationLead: '0s' } })).status).toBe(202);
    }
    await Promise.all([waitFor(name, 'v1:active'), waitFor(other, 'v1:active'), waitFor(signing, 'v1:active')]);
    const good = (await call<{ ciphertext: string; plaintext: string }>(encrypter, 'POST', `/keys/${name}/datakey`, { plaintext: true })).body;
    const foreign = (await call<{ ciphertext: string }>(encrypter, 'POST', `/keys/${other}/datakey`, {})).body.ciphertext;
    const blob = good.ciphertext.slice(`keyrotor:${name}:v1:`.length);
    const before = {
      versions: await versions(name),
      auditSeq: Number((await system.db.query<{ seq: string }>('SELECT max(seq) AS seq FROM audit_log')).rows[0]?.seq),
      usage: (await system.db.query('SELECT sum(count) AS n FROM usage_events WHERE key = $1', [name])).rows[0] as { n: string },
    };

    const flipped = `${blob.slice(0, 10)}${blob[10] === 'A' ? 'B' : 'A'}${blob.slice(11)}`;
    const refused: Array<[what: string, ciphertext: string, status: number, code: string]> = [
      ['a tampered prefix', `keyrotor:${name}:v1x:${blob}`, 400, 'invalid_ciphertext'],
      ['a version with a leading zero', `keyrotor:${name}:v01:${blob}`, 400, 'invalid_ciphertext'],
      ['another scheme', `vault:v1:${blob}`, 400, 'invalid_ciphertext'],
      ['a NUL byte', `keyrotor:${name}\u0000:v1:${blob}`, 400, 'invalid_ciphertext'],
      ['a truncated ciphertext', good.ciphertext.slice(0, -4), 400, 'invalid_ciphertext'],
      ['a tampered blob (the HSM\'s key wrap integrity check)', `keyrotor:${name}:v1:${flipped}`, 400, 'invalid_ciphertext'],
      ['a version that does not exist', `keyrotor:${name}:v9:${blob}`, 404, 'version_not_found'],
      ['a ciphertext for another key', foreign, 400, 'ciphertext_for_other_key'],
      ['another key\'s blob under this key\'s prefix', `keyrotor:${name}:v1:${foreign.slice(`keyrotor:${other}:v1:`.length)}`, 400, 'invalid_ciphertext'],
    ];
    for (const [what, ciphertext, status, code] of refused) {
      for (const [token, operation] of [[decrypter, 'unwrap'], [operator, 'rewrap']] as const) {
        const reply = await call<{ code: string; detail?: string }>(token, 'POST', `/keys/${name}/${operation}`, { ciphertext });
        expect({ what, operation, status: reply.status, code: reply.body.code }).toEqual({ what, operation, status, code });
        expect(reply.body.detail ?? '').not.toContain(blob);
      }
    }
    const huge = await call<{ code: string }>(decrypter, 'POST', `/keys/${name}/unwrap`, { ciphertext: `keyrotor:${name}:v1:${'A'.repeat(10_000)}` });
    expect(huge.status).toBe(400);

    // Batches: too many items, none, or both forms are refused whole; a batch's bad item is refused alone.
    const batch = (n: number) => Array.from({ length: n }, () => ({ ciphertext: good.ciphertext }));
    expect((await call(decrypter, 'POST', `/keys/${name}/unwrap`, { batch: batch(101) })).status).toBe(400);
    expect((await call(operator, 'POST', `/keys/${name}/rewrap`, { batch: batch(101) })).status).toBe(400);
    expect((await call(decrypter, 'POST', `/keys/${name}/unwrap`, { batch: [] })).status).toBe(400);
    expect((await call(decrypter, 'POST', `/keys/${name}/unwrap`, { ciphertext: good.ciphertext, batch: batch(1) })).status).toBe(400);
    expect((await call(decrypter, 'POST', `/keys/${name}/unwrap`, {})).status).toBe(400);
    const mixed = await call<{ batch: Array<Record<string, unknown>> }>(decrypter, 'POST', `/keys/${name}/unwrap`, { batch: [{ ciphertext: good.ciphertext }, { ciphertext: foreign }, { ciphertext: `keyrotor:${name}:v1:${flipped}` }] });
    expect(mixed.status).toBe(200);
    expect(mixed.body.batch).toEqual([
      { version: 1, plaintext: good.plaintext },
      { error: expect.objectContaining({ code: 'ciphertext_for_other_key' }) as unknown },
      { error: expect.objectContaining({ code: 'invalid_ciphertext' }) as unknown },
    ]);

    // Requests that are not for an envelope key, or ask for a size that is not an AES key's.
    expect(await call(encrypter, 'POST', `/keys/${signing}/datakey`, {})).toMatchObject({ status: 400, body: { code: 'not_an_envelope_key' } });
    expect((await call(encrypter, 'POST', `/keys/${name}/datakey`, { bytes: 17 })).status).toBe(400);
    expect((await call(encrypter, 'POST', `/keys/${name}/datakey`, { count: 101 })).status).toBe(400);
    expect((await call(encrypter, 'POST', `/keys/${name}/datakey`, { count: 0 })).status).toBe(400);
    expect((await call(encrypter, 'POST', `/keys/${name}/datakey`, { plaintext: 'yes' })).status).toBe(400);
    expect((await call(encrypter, 'POST', '/keys/no-such-key/datakey', {})).status).toBe(404);

    // Nothing changed: the same versions, no audit entry, and only the one good unwrap of the batch counted as use. (The
    // key's lifecycle may raise an alert meanwhile, a step that waited under load, say: not these requests' doing.)
    expect(await versions(name)).toEqual(before.versions);
    const written = await system.db.query<{ action: string; subject: string; actor: string }>('SELECT action, subject, actor FROM audit_log WHERE seq > $1 AND subject = $2 ORDER BY seq', [before.auditSeq, `key/${name}`]);
    expect(written.rows.filter((entry) => entry.action !== 'alert.raised')).toEqual([]);
    const usage = (await system.db.query<{ n: string }>('SELECT sum(count) AS n FROM usage_events WHERE key = $1', [name])).rows[0]?.n;
    expect(Number(usage)).toBe(Number(before.usage.n) + 1);
  });
  it('archives a version still in use once an operator raises minDecryptionVersion past it, and refuses a raise it cannot take', async () => {
    const name = uniqueName('kek-min-');
    expect((await call(operator, 'POST', '/keys', { name, type: 'aes-256', policy: { publicationLead: '0s', gracePeriod: '1h' } })).status).toBe(202);
    await waitFor(name, 'v1:active');
    const v1 = (await call<{ ciphertext: string }>(encrypter, 'POST', `/keys/${name}/datakey`, {})).body.ciphertext;
    expect((await call(operator, 'POST', `/keys/${name}/rotate`, { reason: 'scheduled' })).status).toBe(200);
    expect((await call(decrypter, 'POST', `/keys/${name}/unwrap`, { ciphertext: v1 })).status).toBe(200);

    expect(await call(operator, 'POST', `/keys/${name}/min-decryption-version`, { version: 3 })).toMatchObject({ status: 400, body: { code: 'invalid_request' } });
    expect((await call(operator, 'POST', `/keys/${name}/min-decryption-version`, { version: 0 })).status).toBe(400);
    expect((await call(decrypter, 'POST', `/keys/${name}/min-decryption-version`, { version: 2 })).status).toBe(403);
    const raised = await call(operator, 'POST', `/keys/${name}/min-decryption-version`, { version: 2, reason: 'all data keys rewrapped' });
    expect(raised).toMatchObject({ status: 200, body: { minDecryptionVersion: 2, archived: [1] } });
    expect((await versions(name)).find((v) => v.version === 1)).toMatchObject({ state: 'archived', mayDecrypt: false });
    expect(await call(decrypter, 'POST', `/keys/${name}/unwrap`, { ciphertext: v1 })).toMatchObject({ status: 409, body: { code: 'version_archived' } });
    // Raising it again to where it is archives nothing more.
    expect(await call(operator, 'POST', `/keys/${name}/min-decryption-version`, { version: 2 })).toMatchObject({ status: 200, body: { minDecryptionVersion: 2, archived: [] } });
    const audit = await system.db.query<{ details: { version: number; reason: string } }>("SELECT details FROM audit_log WHERE subject = $1 AND action = 'key.min-decryption-version.raised'", [`key/${name}`]);
    expect(audit.rows.map((row) => row.details)).toEqual([expect.objectContaining({ version: 2, reason: 'all data keys rewrapped' })]);

    const signing = uniqueName('sig-min-');
    expect((await call(operator, 'POST', '/keys', { name: signing, type: 'ec-p256', policy: { publicationLead: '0s' } })).status).toBe(202);
    await waitFor(signing, 'v1:active');
    expect(await call(operator, 'POST', `/keys/${signing}/min-decryption-version`, { version: 1 })).toMatchObject({ status: 400, body: { code: 'invalid_request' } });
  });
});
