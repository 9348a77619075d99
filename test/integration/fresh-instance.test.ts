import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmError } from '../../adapters/pkcs11/errors';
import { destroyInFreshInstance, freshInstanceChildrenStarted } from '../../adapters/pkcs11/fresh-instance';
import { softHsmModule } from '../support/system';

/**
 * The fresh module instance that confirms a destruction reads the token anew; SoftHSM rewrites token.object at a login,
 * and a new instance that reads it meanwhile sees no user PIN. A token whose user PIN was never set answers the same
 * way every time: the instance reads it again a few times, then the step is retryable (Temporal retries it), so a purge
 * is not held on what passes.
 */
describe('destroyInFreshInstance', () => {
  let folder: string;
  let previousConf: string | undefined;

  // SOFTHSM2_CONF is set on this test file's process.env, which jest keeps apart from the process's own: each child
  // (pkcs11-tool, the fresh instance) is given it explicitly, or it would use the shared test tokens.
  beforeAll(() => {
    folder = mkdtempSync(join(tmpdir(), 'keyrotor-fresh-instance-'));
    const conf = join(folder, 'softhsm2.conf');
    writeFileSync(conf, `directories.tokendir = ${folder}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    previousConf = process.env.SOFTHSM2_CONF;
    process.env.SOFTHSM2_CONF = conf;
    // A token with an SO PIN and no user PIN (pkcs11-tool --init-token without --init-pin).
    const init = spawnSync('pkcs11-tool', ['--module', softHsmModule(), '--init-token', '--label', 'kr-no-user-pin', '--so-pin', '00000000'], { encoding: 'utf8', env: process.env });
    expect(init.status).toBe(0);
  });

  afterAll(() => {
    if (previousConf === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = previousConf;
    rmSync(folder, { recursive: true, force: true });
  });

  it('reads a token that shows no user PIN again, then leaves the step retryable instead of holding the key', async () => {
    const failure = await destroyInFreshInstance(
      { nodeId: 'fresh-1', modulePath: softHsmModule(), tokenLabel: 'kr-no-user-pin', pin: '123456' },
      { fingerprint: 'ab'.repeat(32), classes: ['privateKey'] },
    ).then(() => undefined, (error: unknown) => error);
    expect(failure).toBeInstanceOf(HsmError);
    const error = failure as HsmError;
    expect(error.message).toMatch(/CKR_USER_PIN_NOT_INITIALIZED/);
    expect(error.message).toMatch(/5 times/);
    expect(error.retryable).toBe(true);
    expect(error.message).not.toContain('123456');
  }, 120_000);

  it('destroys what it finds on a token it can log in to (nothing here: found 0)', async () => {
    const label = 'kr-with-user-pin';
    const init = spawnSync('pkcs11-tool', ['--module', softHsmModule(), '--init-token', '--label', label, '--so-pin', '00000000'], { encoding: 'utf8', env: process.env });
    expect(init.status).toBe(0);
    const pin = spawnSync('pkcs11-tool', ['--module', softHsmModule(), '--token-label', label, '--init-pin', '--so-pin', '00000000', '--pin', '123456'], { encoding: 'utf8', env: process.env });
    expect(pin.status).toBe(0);
    await expect(destroyInFreshInstance(
      { nodeId: 'fresh-1', modulePath: softHsmModule(), tokenLabel: label, pin: '123456' },
      { fingerprint: 'ab'.repeat(32), classes: ['privateKey', 'publicKey'] },
    )).resolves.toEqual({ found: 0 });
  }, 120_000);

  // One child answers check after check, each from a module it initialised anew. The case that needs a fresh instance:
  // an object file put back on disk after the object was destroyed (a stale writer), which the module instance that
  // destroyed it would never see again. The same child finds it again.
  it('one child serves consecutive checks, each seeing the token as a new instance does', async () => {
    const label = 'kr-stale-writer';
    const fingerprint = 'cd'.repeat(32);
    const tool = (...args: string[]): void => {
      const run = spawnSync('pkcs11-tool', ['--module', softHsmModule(), ...args], { encoding: 'utf8', env: process.env });
      expect(run.status).toBe(0);
    };
    tool('--init-token', '--label', label, '--so-pin', '00000000');
    tool('--token-label', label, '--init-pin', '--so-pin', '00000000', '--pin', '123456');
    const tokenFolder = readdirSync(folder).map((name) => join(folder, name)).filter((path) => statSync(path).isDirectory());
    const before = new Map(tokenFolder.map((path) => [path, new Set(readdirSync(path))]));
    tool('--token-label', label, '--login', '--pin', '123456', '--keygen', '--key-type', 'AES:32', '--id', fingerprint, '--label', 'stale');
    // The key's object file and its lock file, as SoftHSM wrote them and deletes them.
    const added = tokenFolder.flatMap((path) => readdirSync(path).filter((name) => !before.get(path)?.has(name)).map((name) => join(path, name)));
    expect(added.filter((path) => path.endsWith('.object'))).toHaveLength(1);
    const saved = mkdtempSync(join(tmpdir(), 'keyrotor-stale-object-'));
    for (const [i, path] of added.entries()) copyFileSync(path, join(saved, String(i)));
    const putBack = (): void => {
      for (const [i, path] of added.entries()) copyFileSync(join(saved, String(i)), path);
    };

    const token = { nodeId: 'fresh-1', modulePath: softHsmModule(), tokenLabel: label, pin: '123456' };
    const request = { fingerprint, classes: ['secretKey' as const] };
    const startedBefore = freshInstanceChildrenStarted();
    await expect(destroyInFreshInstance(token, request)).resolves.toEqual({ found: 1 });
    await expect(destroyInFreshInstance(token, request)).resolves.toEqual({ found: 0 });
    putBack();
    await expect(destroyInFreshInstance(token, request)).resolves.toEqual({ found: 1 });
    putBack();
    await expect(destroyInFreshInstance(token, request)).resolves.toEqual({ found: 1 });
    expect(freshInstanceChildrenStarted() - startedBefore).toBeLessThanOrEqual(1);
    rmSync(saved, { recursive: true, force: true });
  }, 120_000);
});
