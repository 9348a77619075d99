import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliResult } from '../support/cli';
import { freePort } from '../support/ports';
import { softHsmFolder } from '../support/softhsm-folder';
import { requireEnv, softHsmModule, uniqueName } from '../support/system';

/**
 * A SoftHSM token folder of this file's own: "no token was made" compares the tokens before and after a refused start,
 * and other test files (two run at a time) make tokens in the run's shared folder meanwhile.
 */
function ownSoftHsm(): Record<string, string> {
  return { SOFTHSM2_CONF: softHsmFolder(join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('config-errors-softhsm-'))) };
}
let softhsm: Record<string, string> = {};

/** The tokens SoftHSM holds right now, read with softhsm2-util rather than keyrotor's own code. */
function tokenLabels(): string[] {
  const out = spawnSync('softhsm2-util', ['--show-slots'], { encoding: 'utf8', env: { ...process.env, ...softhsm } }).stdout;
  return [...out.matchAll(/^\s+Label:\s+(\S.*?)\s*$/gm)].map((match) => match[1] as string).filter((label) => label.length > 0);
}

/**
 * `keyrotor start` with this configuration file. Every port it would listen on is a free one, so that it fails on the
 * configuration and not on a port a running copy holds (a start checks its ports first).
 */
async function startWith(file: unknown, extraEnv: Record<string, string> = {}): Promise<{ result: CliResult; dataDir: string }> {
  const dataDir = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('bad-config-'));
  mkdirSync(dataDir, { recursive: true });
  const configFile = join(dataDir, 'keyrotor.config.json');
  writeFileSync(configFile, JSON.stringify(file));
  const ports = {
    KEYROTOR_API_PORT: String(await freePort()),
    KEYROTOR_PG_PORT: String(await freePort()),
    KEYROTOR_TEMPORAL_PORT: String(await freePort()),
    KEYROTOR_TEMPORAL_UI_PORT: String(await freePort()),
    KEYROTOR_WORKER_METRICS_PORT: String(await freePort()),
  };
  const env = { ...process.env, ...softhsm, ...ports, KEYROTOR_CONFIG: configFile, KEYROTOR_DATA_DIR: dataDir, DATABASE_URL: undefined, TEMPORAL_ADDRESS: undefined, ...extraEnv };
  return { result: runCli(['start'], env), dataDir };
}

/** After a refused start the data folder holds only the configuration file: no PINs, no database, no Temporal data. */
function expectNothingMade(dataDir: string, labelsBefore: string[]): void {
  expect(readdirSync(dataDir)).toEqual(['keyrotor.config.json']);
  expect(tokenLabels()).toEqual(labelsBefore);
}

describe('a bad configuration stops start-up with a message that names the node and the fix', () => {
  const module = softHsmModule();

  beforeAll(() => {
    softhsm = ownSoftHsm();
  });

  it('unknown module path', async () => {
    const prefix = uniqueName('m');
    const before = tokenLabels();
    const { result, dataDir } = await startWith({
      hsm: { nodes: [{ id: `${prefix}-1`, tokenLabel: `${prefix}-1`, modulePath: module }, { id: `${prefix}-2`, tokenLabel: `${prefix}-2`, modulePath: '/opt/nowhere/libvendor-pkcs11.so' }] },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`node ${prefix}-2: PKCS#11 module '/opt/nowhere/libvendor-pkcs11.so' does not exist; install the HSM's client library or fix the node's modulePath`);
    // The healthy first node was not provisioned either: checks come before any change.
    expectNothingMade(dataDir, before);
  });

  it('wrong PIN', async () => {
    const label = uniqueName('pin-');
    const made = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', 'so-pin-4711', '--pin', 'right-pin-4711'], { encoding: 'utf8', env: { ...process.env, ...softhsm } });
    expect(made.status).toBe(0);
    const before = tokenLabels();
    const { result, dataDir } = await startWith(
      { hsm: { nodes: [{ id: 'vault-a', tokenLabel: label, modulePath: module, provision: 'none', pin: { env: 'VAULT_A_PIN' } }] } },
      { VAULT_A_PIN: 'wrong-pin-9321' },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`node vault-a: token '${label}' refused the configured PIN (CKR_PIN_INCORRECT); put the token's user PIN in the node's pin source (PIN from environment variable VAULT_A_PIN)`);
    expect(result.stdout + result.stderr).not.toContain('wrong-pin-9321');
    expectNothingMade(dataDir, before);
  });

  it('missing token', async () => {
    const before = tokenLabels();
    const { result, dataDir } = await startWith({ hsm: { nodes: [{ id: 'vault-b', tokenLabel: 'no-such-token', modulePath: module, provision: 'none', pin: { env: 'VAULT_B_PIN' } }] } }, { VAULT_B_PIN: 'x' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`node vault-b: no token labelled 'no-such-token' on ${module}; create it with the HSM's tools or fix the node's tokenLabel`);
    expectNothingMade(dataDir, before);
  });

  it('duplicate node id', async () => {
    const before = tokenLabels();
    const { result, dataDir } = await startWith({ hsm: { nodes: [{ id: 'hsm-a', tokenLabel: 'dup-a' }, { id: 'hsm-a', tokenLabel: 'dup-b' }] } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("hsm.nodes[1] (node 'hsm-a'): duplicate node id 'hsm-a' (also hsm.nodes[0]); give every node its own id");
    expectNothingMade(dataDir, before);
    expect(existsSync(join(dataDir, 'secrets'))).toBe(false);
  });

  it('nodes whose modules need different environments, which one process cannot drive', async () => {
    const before = tokenLabels();
    const { result, dataDir } = await startWith({
      hsm: { nodes: [1, 2].map((n) => ({ id: `own-${n}`, tokenLabel: `own-${n}`, modulePath: module, moduleEnv: { SOFTHSM2_CONF: `/etc/keyrotor/softhsm/own-${n}.conf` } })) },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "hsm.nodes: keyrotor start runs every node's worker in one process, so the nodes must share one moduleEnv (own-1: SOFTHSM2_CONF=/etc/keyrotor/softhsm/own-1.conf; own-2: SOFTHSM2_CONF=/etc/keyrotor/softhsm/own-2.conf); run keyrotor provision and one keyrotor worker hsm --node <id> per node instead (see docker-compose.yml)",
    );
    expectNothingMade(dataDir, before);
  });
});
