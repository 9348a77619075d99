import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keepTokenObjects } from '../../adapters/pkcs11/module-environment';
import { requireEnv, softHsmModule, uniqueName } from '../support/system';

/**
 * A process killed while SoftHSM rewrites a token's token.object leaves it empty (the fault suite's group kill did),
 * and the token, whose key the file holds, is then unreadable. keepTokenObjects, run before the module loads, keeps a
 * copy of each good one and restores an empty one from it: here on a real SoftHSM token, looked at with pkcs11-tool.
 */
describe('an empty SoftHSM token.object', () => {
  const module = softHsmModule();
  const root = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('token-object-'));
  const tokenDir = join(root, 'tokens');
  const copyDir = join(root, 'token-object-copies');
  const env = { ...process.env, SOFTHSM2_CONF: join(root, 'softhsm2.conf') };
  const tool = (args: string[]): { code: number | null; out: string } => {
    const result = spawnSync('pkcs11-tool', ['--module', module, ...args], { env, encoding: 'utf8' });
    return { code: result.status, out: `${result.stdout}${result.stderr}` };
  };

  beforeAll(() => {
    mkdirSync(tokenDir, { recursive: true });
    writeFileSync(env.SOFTHSM2_CONF, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
    expect(tool(['--init-token', '--slot-index', '0', '--label', 'kept', '--so-pin', '87654321']).code).toBe(0);
    expect(tool(['--token-label', 'kept', '--login', '--so-pin', '87654321', '--init-pin', '--pin', '12345678']).code).toBe(0);
    expect(tool(['--token-label', 'kept', '--login', '--pin', '12345678', '--keygen', '--key-type', 'AES:32', '--label', 'a-key', '--id', '01']).code).toBe(0);
  });

  it('is restored from the copy an earlier start kept, with the key on the token readable again', () => {
    expect(keepTokenObjects(tokenDir, copyDir)).toEqual([]);
    const [folder] = readdirSync(tokenDir);
    expect(existsSync(join(copyDir, folder!))).toBe(true);

    truncateSync(join(tokenDir, folder!, 'token.object'), 0);
    expect(tool(['--list-token-slots']).out).not.toContain('kept');

    expect(keepTokenObjects(tokenDir, copyDir)).toEqual([folder]);
    expect(tool(['--list-token-slots']).out).toContain('kept');
    const objects = tool(['--token-label', 'kept', '--login', '--pin', '12345678', '--list-objects']);
    expect(objects.code).toBe(0);
    expect(objects.out).toContain('a-key');
  });

  it('is left alone without a copy', () => {
    const lonely = join(root, 'lonely');
    mkdirSync(join(lonely, 'tokens', 'some-token'), { recursive: true });
    writeFileSync(join(lonely, 'tokens', 'some-token', 'token.object'), '');
    expect(keepTokenObjects(join(lonely, 'tokens'), join(lonely, 'copies'))).toEqual([]);
    expect(readdirSync(join(lonely, 'copies'))).toEqual([]);
  });
});
