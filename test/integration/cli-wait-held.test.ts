import { readSecret } from '../../adapters/secrets';
import { EXIT_CODES } from '../../cli/api-client';
import { CLUSTER_KEK_LABEL } from '../../domain/identifiers';
import type { RunningSystem } from '../../workers/system';
import { runCliAsync } from '../support/cli';
import { deleteObject } from '../support/pkcs11-listing';
import { freePort } from '../support/ports';
import { startTestSystem, testConfig, tokenFor, uniqueName } from '../support/system';

/**
 * `keys rotate --wait` on a rotation that ends held: a target node has lost the cluster KEK, so the new version cannot
 * be replicated to it (a failure that retrying cannot fix). The command prints the step the key is held at, with the
 * reason and what to do, and exits non-zero with a documented code, so that a script knows the rotation did not happen.
 */
describe('keyrotor keys rotate --wait on a rotation that ends held', () => {
  let system: RunningSystem;
  let apiUrl: string;
  let operator: string;

  beforeAll(async () => {
    system = await startTestSystem(await testConfig());
    apiUrl = await system.app.listen({ host: '127.0.0.1', port: await freePort() });
    operator = await tokenFor(system, 'operator');
  });

  afterAll(async () => {
    await system?.stop();
  });

  const cli = (args: string[]) => runCliAsync(args, { ...process.env, KEYROTOR_API: apiUrl, KEYROTOR_TOKEN: operator, KEYROTOR_CONFIG: undefined }, 300_000);
  const key = async (name: string) =>
    (await system.app.inject({ method: 'GET', url: `/keys/${name}`, headers: { authorization: `Bearer ${operator}` } })).json<{
      activeVersion: number | null;
      held: { step: string; reason: string } | null;
      versions: Array<{ version: number; state: string }>;
    }>();

  it('prints the held step with its reason and how to resume, and exits non-zero', async () => {
    const name = uniqueName('held-');
    const created = await cli(['keys', 'create', name, '--type', 'ec-p256', '--policy', 'publicationLead=0s', '--reason', 'held test', '--wait']);
    expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await key(name)).toMatchObject({ activeVersion: 1, held: null });

    // The last node loses the key that replicas travel under, as a token restored from an old backup would.
    const victim = system.config.hsm.nodes[2]!;
    deleteObject({ modulePath: victim.modulePath, tokenLabel: victim.tokenLabel, pin: readSecret(victim.pin, 'pin') }, 'secrkey', { label: CLUSTER_KEK_LABEL });

    const rotated = await cli(['keys', 'rotate', name, '--reason', 'quarterly rotation', '--wait']);
    const after = await key(name);
    expect(after.held).not.toBeNull();
    const { step, reason } = after.held!;
    expect(reason).toContain(`no wrapping key labelled '${CLUSTER_KEK_LABEL}'`);
    // The step it stopped at, as `keys show` names it, with the reason and the command that goes on once it is fixed.
    expect(rotated.stdout).toMatch(/^\d{2}:\d{2}:\d{2} {2}v2 pending$/m);
    expect(rotated.stdout).toContain(`HELD at ${step}: ${reason} (fix it, then keyrotor keys resume ${name})\n`);
    // The hold answers the rotate request itself (409 key_held: refused, exit 3, the problem on stderr); a request
    // answered before the hold (asynchronously) would end held after its reply: exit 1. Both are documented.
    expect([{ code: EXIT_CODES.refused, keyHeld: true }, { code: EXIT_CODES.failed, keyHeld: false }]).toContainEqual({ code: rotated.code, keyHeld: rotated.stderr.includes('key_held') });
    // v1 still signs: a rotation that did not happen changes nothing an application sees.
    expect(after.activeVersion).toBe(1);
    expect(after.versions.find((v) => v.version === 1)?.state).toBe('active');
  });
});
