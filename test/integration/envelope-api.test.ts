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
});
