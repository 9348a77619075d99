import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmError } from '../../adapters/pkcs11/errors';
import { destroyInFreshInstance } from '../../adapters/pkcs11/fresh-instance';
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
});
