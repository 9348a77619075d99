import { raiseAlert } from '../../adapters/postgres/alert-repository';
import type { RunningSystem } from '../../workers/system';
import { runCliAsync, type CliResult } from '../support/cli';
import { eventually } from '../support/eventually';
import { freePort } from '../support/ports';
import { startTestSystem, testConfig, tokenFor } from '../support/system';

/**
 * The key commands against a running stack: the API listens on a free port, and each command runs as a user runs it,
 * in its own process, in table and --json form. Its output is checked against what the API says; bad input must come
 * back as the API's problem with exit 3 and change nothing; an API that is not there is exit 4.
 */
describe('keyrotor key commands over the API', () => {
  let system: RunningSystem;
  let apiUrl: string;
  const tokens = { admin: '', operator: '', auditor: '' };

  beforeAll(async () => {
    system = await startTestSystem(await testConfig());
    const port = await freePort();
    apiUrl = await system.app.listen({ host: '127.0.0.1', port });
    tokens.admin = await tokenFor(system, 'admin');
    tokens.operator = await tokenFor(system, 'operator');
    tokens.auditor = await tokenFor(system, 'auditor');
  });

  afterAll(async () => {
    await system?.stop();
  });

  const cli = (args: string[], role: keyof typeof tokens = 'operator', api = apiUrl): Promise<CliResult> =>
    runCliAsync(args, { ...process.env, KEYROTOR_API: api, KEYROTOR_TOKEN: tokens[role], KEYROTOR_CONFIG: undefined });
  const json = (result: CliResult): unknown => {
    expect(result).toMatchObject({ code: 0 });
    return JSON.parse(result.stdout);
  };
  const api = async (url: string, role: keyof typeof tokens = 'admin'): Promise<Record<string, unknown>> =>
    (await system.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${tokens[role]}` } })).json();
  const key = async (name: string) => (await api(`/keys/${name}`)) as { phase: string; activeVersion: number | null; policy: Record<string, unknown>; versions: Array<{ version: number; kid: string; state: string }>; deadlines: { graceDeadline: string | null }; working: string | null; held: unknown };
  const activeKey = (name: string) => eventually(async () => {
    const found = await key(name);
    return found.phase === 'active' && found.activeVersion !== null ? found : undefined;
  }, `${name} active`);
  /** A refusal: exit 3, the problem's code on stderr (and as JSON on stdout with --json). */
  const expectRefused = (result: CliResult, code: string): void => {
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 3, stderr: expect.stringContaining(`${code})`) as string });
  };

  it('creates, lists and shows keys, and refuses a bad name with the API\'s problem', async () => {
    const created = await cli(['keys', 'create', 'cli-key', '--type', 'ec-p256', '--policy', 'gracePeriod=1h', 'maxGracePeriod=6h', 'retention=1h', 'publicationLead=0s', '--reason', 'cli test']);
    expect(created).toMatchObject({ code: 0, stdout: expect.stringContaining('creating cli-key (workflow key/cli-key)') as string });
    expect(created.stdout).toMatch(/gracePeriod:\s+1h/);
    const createdJson = json(await cli(['keys', 'create', 'cli-json', '--type', 'ec-p256', '--json', '--wait']));
    expect(createdJson).toMatchObject({ name: 'cli-json', workflowId: 'key/cli-json' });
    // --wait ends once v1 is active, not before: the key is active as soon as the command returns.
    expect(await key('cli-json')).toMatchObject({ phase: 'active', activeVersion: 1 });

    const bad = await cli(['keys', 'create', 'Bad Name', '--type', 'ec-p256']);
    expectRefused(bad, 'invalid_key_name');
    const badJson = await cli(['keys', 'create', 'Bad Name', '--type', 'ec-p256', '--json']);
    expect(badJson.code).toBe(3);
    expect(JSON.parse(badJson.stdout)).toMatchObject({ status: 400, code: 'invalid_key_name' });
    const tooLong = await cli(['keys', 'list', '--limit', '100000']);
    expectRefused(tooLong, 'invalid_request');
    expect(tooLong.stderr).toContain('querystring/limit');

    const v1 = (await activeKey('cli-key')).versions[0]!;
    await activeKey('cli-json');
    expect((await api('/keys')).total).toBe(2);

    const [table, listed] = await Promise.all([cli(['keys', 'list']), cli(['keys', 'list', '--json'])]);
    expect(json(listed)).toEqual(await api('/keys'));
    expect(table.stdout).toMatch(/^NAME\s+TYPE\s+PHASE\s+ACTIVE/);
    expect(table.stdout).toMatch(/^cli-key\s+ec-p256\s+active\s+1\s/m);
    expect(table.stdout).toContain('2 of 2 keys');

    const [shown, shownJson] = await Promise.all([cli(['keys', 'show', 'cli-key']), cli(['keys', 'show', 'cli-key', '--json'])]);
    expect(json(shownJson)).toMatchObject({ name: 'cli-key', phase: 'active', activeVersion: 1, held: null, versions: [{ version: 1, kid: v1.kid, state: 'active' }] });
    expect(shown.stdout).toMatch(/active version:\s+1\n/);
    expect(shown.stdout).toMatch(/held:\s+-\n/);
    expect(shown.stdout).toMatch(new RegExp(`^1\\s+active\\s+${v1.kid}\\s`, 'm'));
    expectRefused(await cli(['keys', 'show', 'no-such-key']), 'not_found');
  });

  it('rotates, extends and ends the grace period, and refuses what the policy does not allow without changing it', async () => {
    const rotated = await cli(['keys', 'rotate', 'cli-key', '--reason', 'quarterly']);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(/version:\s+2\n/);
    expect(rotated.stdout).toMatch(/previous:\s+v1 retiring/);
    const afterRotation = await key('cli-key');
    expect(afterRotation).toMatchObject({ phase: 'grace', activeVersion: 2 });
    expect(rotated.stdout).toContain(afterRotation.versions.find((v) => v.version === 2)!.kid);

    const extended = await cli(['keys', 'grace', 'cli-key', '--extend-by', '30m', '--reason', 'late client']);
    expect(extended.code).toBe(0);
    const extendedJson = json(await cli(['keys', 'grace', 'cli-key', '--extend-by', '10m', '--reason', 'later client', '--json'])) as { expectedDeadline: string };
    const deadline = (await key('cli-key')).deadlines.graceDeadline;
    expect(extendedJson.expectedDeadline).toBe(deadline);
    expect(extended.stdout).toMatch(/grace deadline:\s+\S+Z\n/);
    // Past maxGracePeriod: the workflow refuses, and the deadline stays where it was.
    expectRefused(await cli(['keys', 'grace', 'cli-key', '--extend-by', '30d', '--reason', 'too long']), 'grace_cap_exceeded');
    expect((await key('cli-key')).deadlines.graceDeadline).toBe(deadline);

    const completed = json(await cli(['keys', 'complete-grace', 'cli-key', '--reason', 'all clients moved', '--json']));
    expect(completed).toMatchObject({ version: 1, state: 'archived' });
    expect((await key('cli-key')).versions.find((v) => v.version === 1)?.state).toBe('archived');
    // Nothing is retiring now: the table form shows the API's refusal.
    expectRefused(await cli(['keys', 'complete-grace', 'cli-key', '--reason', 'again']), 'no_grace_period');
  });

  it('asks for --yes before an emergency rotation off a terminal, then rotates', async () => {
    const unconfirmed = await cli(['keys', 'rotate', 'cli-key', '--emergency', '--reason', 'leak']);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('pass --yes to confirm');
    expect((await key('cli-key')).activeVersion).toBe(2);

    const emergency = json(await cli(['keys', 'rotate', 'cli-key', '--emergency', '--yes', '--reason', 'leak', '--json'])) as { version: number; previous: { version: number; state: string } };
    expect(emergency).toMatchObject({ version: 3, previous: { version: 2, state: 'compromised' } });
    const after = await key('cli-key');
    expect(after.activeVersion).toBe(3);
    // The emergency archives v2 right after its answer: a moment later it is compromised still, or archived already.
    expect(['compromised', 'archived']).toContain(after.versions.find((v) => v.version === 2)?.state);

    // --wait follows the workflow's state (GET /keys/:name) until the work is over, then prints the reply.
    const followed = await cli(['keys', 'rotate', 'cli-key', '--emergency', '--yes', '--reason', 'second leak', '--wait']);
    expect(followed).toMatchObject({ code: 0, stderr: '' });
    expect(followed.stdout).toMatch(/^\d\d:\d\d:\d\d {2}v4 (\S+ → )*active$/m);
    expect(followed.stdout).toMatch(/^\d\d:\d\d:\d\d {2}v3 active → \S+$/m);
    expect(followed.stdout).toMatch(/^version:\s+4\n/m);
    // Over: v3 is archived (an emergency's work ends with its compromised version's archive). The key goes on to the
    // archive's verification and a risk evaluation, which a poll between two steps may not have seen coming.
    expect(followed.stdout).toMatch(/^\d\d:\d\d:\d\d {2}v3 \S+ → archived$/m);
    const settled = await eventually(async () => {
      const now = await key('cli-key');
      return now.working === null ? now : undefined;
    }, 'cli-key idle after the emergency rotation');
    expect(settled).toMatchObject({ activeVersion: 4, working: null, held: null });
    // Each step printed as it happened, the last one the version's state now (an emergency goes through compromised).
    expect(followed.stdout).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d {2}v3 \\S+ → ${settled.versions.find((v) => v.version === 3)!.state}$`, 'm'));
    // A step of this rotation seen under way: the emergency itself, or v3's archive or verification after it (a quick
    // emergency can be over between two polls: CI saw v3 compromised and v4 active in one poll).
    expect(followed.stdout).toMatch(/^\d\d:\d\d:\d\d {2}working: (emergency rotation|archive v3|verify v3)/m);
    expectRefused(await cli(['keys', 'rotate', 'no-such-key', '--reason', 'x']), 'not_found');
  });

  it('changes the policy, and refuses a policy out of bounds whole', async () => {
    const changed = await cli(['keys', 'policy', 'cli-key', 'gracePeriod=2h']);
    expect(changed.stdout).toMatch(/gracePeriod:\s+2h\n/);
    const changedJson = json(await cli(['keys', 'policy', 'cli-key', 'riskThreshold=0.7', '--json']));
    expect(changedJson).toEqual((await key('cli-key')).policy);
    expect((await key('cli-key')).policy).toMatchObject({ gracePeriod: '2h', riskThreshold: 0.7 });

    const refused = await cli(['keys', 'policy', 'cli-key', 'gracePeriod=3h', 'riskThreshold=2']);
    expectRefused(refused, 'invalid_policy');
    expect((await key('cli-key')).policy).toMatchObject({ gracePeriod: '2h', riskThreshold: 0.7 });
    expect((await cli(['keys', 'policy', 'cli-key', 'gracePeriod'])).code).toBe(2);
  });

  it('resume: a key that is not held is refused, in both forms', async () => {
    expectRefused(await cli(['keys', 'resume', 'cli-key', '--reason', 'fixed']), 'not_held');
    const asJson = await cli(['keys', 'resume', 'cli-key', '--reason', 'fixed', '--json']);
    expect(asJson.code).toBe(3);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ status: 409, code: 'not_held' });
  });

  it('decommissions only with the key\'s name confirmed', async () => {
    expect((await cli(['keys', 'delete', 'cli-json', '--reason', 'retired'])).code).toBe(2);
    expectRefused(await cli(['keys', 'delete', 'cli-json', '--confirm', 'cli-key', '--reason', 'retired']), 'confirmation_mismatch');
    expect((await key('cli-json')).phase).toBe('active');
    const deleted = json(await cli(['keys', 'delete', 'cli-json', '--confirm', 'cli-json', '--reason', 'retired', '--json']));
    expect(deleted).toEqual({ destroyedVersions: [1] });
    expect((await key('cli-json')).phase).toBe('decommissioned');
    expectRefused(await cli(['keys', 'delete', 'cli-json', '--confirm', 'cli-json', '--reason', 'again']), 'key_decommissioned');
  });

  it('lists and acknowledges alerts', async () => {
    const { alert } = await raiseAlert(system.db, { dedupKey: 'cli:test', severity: 'warning', source: 'entropy', subject: 'node/cli', message: 'cli test alert' }, []);
    const [table, listed] = await Promise.all([cli(['alerts', 'list', '--state', 'open']), cli(['alerts', 'list', '--state', 'open', '--json'])]);
    expect(json(listed)).toEqual(await api('/alerts?state=open'));
    expect(table.stdout).toMatch(new RegExp(`^${alert.id}\\s+warning\\s+entropy\\s+node/cli\\s+1\\s`, 'm'));
    expectRefused(await cli(['alerts', 'list', '--state', 'closed']), 'invalid_request');

    const acked = await cli(['alerts', 'ack', alert.id]);
    const ackedBy = /acknowledged by:\s+(token:test operator \(\S+\))\n/.exec(acked.stdout)?.[1];
    expect(ackedBy).toBeDefined();
    // Acknowledging is idempotent: the second time answers with the first acknowledgement.
    expect(json(await cli(['alerts', 'ack', alert.id, '--json']))).toMatchObject({ id: alert.id, acknowledgedBy: ackedBy });
    expect(await api('/alerts?state=open')).toMatchObject({ total: 0 });
    expectRefused(await cli(['alerts', 'ack', '00000000-0000-4000-8000-000000000000']), 'not_found');
  });

  it('verifies the audit log as an auditor; an operator is refused', async () => {
    const [table, verified] = await Promise.all([cli(['audit', 'verify'], 'auditor'), cli(['audit', 'verify', '--json'], 'auditor')]);
    const reply = json(verified) as { ok: boolean; entries: number; headHash: string };
    expect(reply).toMatchObject({ ok: true, headHash: (await api('/audit/verify', 'auditor')).headHash });
    expect(reply.entries).toBeGreaterThan(5);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/chain:\s+intact\n/);
    expect(table.stdout).toContain(reply.headHash);
    expectRefused(await cli(['audit', 'verify']), 'forbidden');

    const query = '/audit?subject=key%2Fcli-key&action=key.version.compromised';
    const [listed, listedJson] = await Promise.all([
      cli(['audit', 'list', '--subject', 'key/cli-key', '--action', 'key.version.compromised'], 'auditor'),
      cli(['audit', 'list', '--subject', 'key/cli-key', '--action', 'key.version.compromised', '--json'], 'auditor'),
    ]);
    const entries = json(listedJson) as { entries: Array<{ seq: number }> };
    expect(entries).toEqual(await api(query, 'auditor'));
    expect(entries.entries).toHaveLength(2);
    expect(listed.stdout).toMatch(/^SEQ\s+AT\s+ACTOR\s+ACTION\s+SUBJECT\s+REASON\n/);
    expect(listed.stdout).toMatch(/\skey\.version\.compromised\s+key\/cli-key\s+second leak$/m);
  });

  it('shows and syncs the key map', async () => {
    const synced = json(await cli(['keymap', 'sync', '--json'])) as { epoch: number; nodes: Array<{ nodeId: string; status: string }> };
    expect(synced.nodes.map((n) => n.nodeId).sort()).toEqual(system.config.hsm.nodes.map((n) => n.id).sort());
    const table = await cli(['keymap', 'sync']);
    expect(table.code).toBe(0);
    for (const node of system.config.hsm.nodes) expect(table.stdout).toMatch(new RegExp(`^${node.id}\\s+in-sync\\s`, 'm'));
    const followed = await cli(['keymap', 'sync', '--wait']);
    expect(followed).toMatchObject({ code: 0, stderr: '' });
    expect(followed.stdout).toMatch(/^\d\d:\d\d:\d\d {2}sync \S+ started \((manual|\w+)\)$/m);
    for (const node of system.config.hsm.nodes) expect(followed.stdout).toMatch(new RegExp(`^${node.id}\\s+in-sync\\s`, 'm'));
    // With --json the steps go to stderr and stdout stays the reply.
    const followedJson = await cli(['keymap', 'sync', '--wait', '--json']);
    expect((json(followedJson) as { nodes: unknown[] }).nodes).toHaveLength(system.config.hsm.nodes.length);
    expect(followedJson.stderr).toMatch(/sync \S+ started/);

    const [shown, shownJson] = await Promise.all([cli(['keymap', 'show', '--key', 'cli-key']), cli(['keymap', 'show', '--key', 'cli-key', '--json'])]);
    const map = json(shownJson) as { epoch: number; digest: string; keys: Array<{ versions: Array<{ version: number; kid: string; state: string }> }> };
    expect(map).toEqual(await api('/keymap?key=cli-key'));
    expect(shown.stdout).toContain(`digest: ${map.digest}`);
    const v4 = map.keys[0]!.versions.find((v) => v.version === 4)!;
    expect(shown.stdout).toMatch(new RegExp(`^cli-key\\s+4\\s+active\\s+${v4.kid}\\s+\\S+`, 'm'));
    expectRefused(await cli(['keymap', 'show', '--state', 'lost']), 'invalid_request');
  });

  it('creates, lists and revokes tokens as an admin', async () => {
    const created = await cli(['tokens', 'create', '--name', 'cli table', '--role', 'auditor'], 'admin');
    expect(created.stdout).toMatch(/role:\s+auditor\n/);
    const createdJson = json(await cli(['tokens', 'create', '--name', 'cli json', '--role', 'operator', '--json'], 'admin')) as { token: string; info: { id: string } };
    const whoami = await system.app.inject({ method: 'GET', url: '/whoami', headers: { authorization: `Bearer ${createdJson.token}` } });
    expect(whoami.json()).toMatchObject({ name: 'cli json', role: 'operator' });
    expectRefused(await cli(['tokens', 'create', '--name', 'cli bad', '--role', 'root'], 'admin'), 'invalid_request');
    expectRefused(await cli(['tokens', 'list']), 'forbidden');

    const [table, listed] = await Promise.all([cli(['tokens', 'list'], 'admin'), cli(['tokens', 'list', '--json'], 'admin')]);
    expect(json(listed)).toEqual(await api('/tokens'));
    expect(table.stdout).toMatch(new RegExp(`^${createdJson.info.id}\\s+cli json\\s+operator\\s`, 'm'));
    expect(table.stdout).not.toContain(createdJson.token);

    const revoked = await cli(['tokens', 'revoke', createdJson.info.id], 'admin');
    expect(revoked.stdout).toMatch(/revoked:\s+\S+Z/);
    const again = await cli(['tokens', 'revoke', createdJson.info.id, '--json'], 'admin');
    expect(again.code).toBe(3);
    expect(JSON.parse(again.stdout)).toMatchObject({ code: 'not_found' });
    const refusedNow = await system.app.inject({ method: 'GET', url: '/whoami', headers: { authorization: `Bearer ${createdJson.token}` } });
    expect(refusedNow.statusCode).toBe(401);
  });

  it('prints the JWKS, and tells an unreachable API from a refusal', async () => {
    const [table, jwks] = await Promise.all([cli(['jwks']), cli(['jwks', '--json'])]);
    const set = json(jwks) as { keys: Array<{ kid: string }> };
    expect(set).toEqual((await system.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json());
    expect(set.keys.length).toBeGreaterThan(0);
    for (const { kid } of set.keys) expect(table.stdout).toMatch(new RegExp(`^${kid}\\s+EC\\s+ES256\\s+P-256\\s+sig$`, 'm'));

    const nobody = `http://127.0.0.1:${await freePort()}`;
    const unreachable = await cli(['keys', 'list'], 'operator', nobody);
    expect(unreachable.code).toBe(4);
    expect(unreachable.stderr).toContain(`cannot reach keyrotor at ${nobody}`);
    expect((await cli(['keys', 'list', '--json'], 'operator', nobody)).code).toBe(4);
  });
});
