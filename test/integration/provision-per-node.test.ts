import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HsmError } from '../../adapters/pkcs11/errors';
import { provisionCluster } from '../../adapters/pkcs11/provision';
import { readSecret } from '../../adapters/secrets';
import { parseConfig, type KeyrotorConfig } from '../../domain/config';
import { ConfigError } from '../../domain/errors';
import { ARCHIVE_KEK_LABEL, CLUSTER_KEK_LABEL } from '../../domain/identifiers';
import { projectRoot } from '../../scripts/tool-paths';
import { runCli } from '../support/cli';
import { listTokenLabels, listTokenObjects } from '../support/pkcs11-listing';
import { requireEnv, softHsmModule, uniqueName } from '../support/system';

/**
 * Nodes whose SoftHSM token folders differ cannot be opened from one process (SoftHSM reads one configuration per
 * process), so `keyrotor provision` drives each in a child process of its own. These tests give every node its own
 * token folder, as docker-compose.yml does, and look at each folder with pkcs11-tool.
 */
describe('provisioning nodes that each have a SoftHSM token folder of their own', () => {
  const module = softHsmModule();
  const root = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('per-node-'));
  const dataDir = join(root, 'data');
  const confOf = (name: string): string => join(root, `${name}.conf`);
  const tokenDirOf = (name: string): string => join(root, 'tokens', name);
  const envOf = (name: string): Record<string, string> => ({ SOFTHSM2_CONF: confOf(name) });

  /** A node with a token folder and a SoftHSM configuration of its own; `extra` overrides its settings. */
  const node = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => {
    if (!existsSync(confOf(name))) {
      mkdirSync(tokenDirOf(name), { recursive: true });
      writeFileSync(confOf(name), `directories.tokendir = ${tokenDirOf(name)}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
    }
    return { id: name, tokenLabel: `kr-${name}`, modulePath: module, moduleEnv: envOf(name), ...extra };
  };
  const configWith = (nodes: Array<Record<string, unknown>>): KeyrotorConfig =>
    parseConfig({ env: { KEYROTOR_DATA_DIR: dataDir }, file: { hsm: { nodes } }, projectRoot, softHsmModule: module });
  const failureOf = async (config: KeyrotorConfig): Promise<ConfigError> => {
    const error = await provisionCluster(config, () => undefined).then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  };
  const secretFiles = (): string[] => (existsSync(join(dataDir, 'secrets')) ? readdirSync(join(dataDir, 'secrets')).sort() : []);
  /** What pkcs11-tool finds in the node's own folder: its tokens, and the secret keys on the node's token. */
  const holdings = (name: string, pin?: string): { tokens: string[]; secretKeys: string[] } => ({
    tokens: listTokenLabels(module, envOf(name)),
    secretKeys: pin === undefined
      ? []
      : listTokenObjects({ modulePath: module, tokenLabel: `kr-${name}`, pin, env: envOf(name) }).filter((o) => o.class === 'secrkey').map((o) => o.label ?? '').sort(),
  });
  const pinOf = (name: string): string => readSecret({ file: join(dataDir, 'secrets', `${name}.pin`) }, name);

  it('provisions each node in its own process: every folder holds only its own token, with wrapping keys that agree', async () => {
    const names = ['a1', 'a2', 'a3'].map((name) => uniqueName(`${name}-`));
    const config = configWith(names.map((name) => node(name)));
    const lines: string[] = [];
    const conf = process.env.SOFTHSM2_CONF;
    const report = await provisionCluster(config, (line) => lines.push(line));
    expect(lines[0]).toBe("the nodes' PKCS#11 modules need environments of their own: provisioning each node in its own process");
    expect(report.createdTokens).toEqual(names);
    expect(report.wrappingKeys[CLUSTER_KEK_LABEL]).toMatchObject({ state: 'created', checkValue: expect.stringMatching(/^[0-9a-f]{6}$/) });
    expect(report.wrappingKeys[ARCHIVE_KEK_LABEL]).toMatchObject({ state: 'created', checkValue: expect.stringMatching(/^[0-9a-f]{6}$/) });
    // The nodes' environments went to the children only.
    expect(process.env.SOFTHSM2_CONF).toBe(conf);
    expect(listTokenLabels(module).filter((label) => names.some((name) => label === `kr-${name}`))).toEqual([]);
    for (const name of names) {
      expect({ name, ...holdings(name, pinOf(name)) }).toEqual({ name, tokens: [`kr-${name}`], secretKeys: [ARCHIVE_KEK_LABEL, CLUSTER_KEK_LABEL] });
      expect(readdirSync(tokenDirOf(name))).toHaveLength(1);
    }

    // Provisioning again finds every key on every node, with the check values each token reports.
    const again = await provisionCluster(config, () => undefined);
    expect(again).toEqual({
      createdTokens: [],
      wrappingKeys: {
        [CLUSTER_KEK_LABEL]: { state: 'present', checkValue: report.wrappingKeys[CLUSTER_KEK_LABEL].checkValue },
        [ARCHIVE_KEK_LABEL]: { state: 'present', checkValue: report.wrappingKeys[ARCHIVE_KEK_LABEL].checkValue },
      },
    });

    // A node provisioned apart holds other keys: the cluster is refused, and a fresh node beside it is not provisioned.
    const apart = uniqueName('b1-');
    await provisionCluster(configWith([node(apart), node(uniqueName('b2-'))]), () => undefined);
    const differing = await failureOf(configWith([...names.slice(0, 2), apart].map((name) => node(name))));
    expect(differing.problems).toEqual([expect.stringMatching(new RegExp(`^the nodes hold different ${CLUSTER_KEK_LABEL} keys \\(${names[0]}: \\w{6}, ${names[1]}: \\w{6}, ${apart}: \\w{6}\\); they cannot exchange keys$`))]);
    const fresh = uniqueName('c1-');
    const lacking = await failureOf(configWith([...names.slice(0, 2), fresh].map((name) => node(name))));
    expect(lacking.problems).toEqual([expect.stringContaining(`node(s) ${fresh} lack the ${CLUSTER_KEK_LABEL} that ${names[0]}, ${names[1]} hold: ${fresh} (no token labelled 'kr-${fresh}': never made, or its files are unreadable`)]);
    expect(lacking.problems[0]).toContain('Do not provision the cluster anew');
    expect(holdings(fresh)).toEqual({ tokens: [], secretKeys: [] });
    expect(secretFiles()).not.toContain(`${fresh}.pin`);
  });

  it('checks every node before it changes any', async () => {
    const names = [uniqueName('d1-'), uniqueName('d2-')];
    const before = secretFiles();
    const error = await failureOf(configWith([node(names[0] as string), node(names[1] as string, { modulePath: '/opt/nowhere/libvendor-pkcs11.so' })]));
    expect(error.problems).toEqual([`node ${names[1]}: PKCS#11 module '/opt/nowhere/libvendor-pkcs11.so' does not exist; install the HSM's client library or fix the node's modulePath`]);
    expect(holdings(names[0] as string)).toEqual({ tokens: [], secretKeys: [] });
    expect(secretFiles()).toEqual(before);
  });

  // The same guarantee for the nodes of one SoftHSM folder, driven from this process (the `npm start` default).
  it.each([
    ['each in a process of its own', true],
    ['all from this process', false],
  ])('undoes what it made on every node when a later node fails part-way: %s', async (_, apart) => {
    const names = [uniqueName('e1-'), uniqueName('e2-'), uniqueName('e3-')];
    const last = names[2] as string;
    const own = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => {
      const settings = node(name, extra);
      if (!apart) delete settings.moduleEnv;
      return settings;
    };
    const envFor = (name: string): Record<string, string> => (apart ? envOf(name) : {});
    const tokensOf = (name: string): string[] => listTokenLabels(module, envFor(name)).filter((label) => label === `kr-${name}`);
    // The last node's token exists already and keyrotor has its user PIN but no Security Officer PIN.
    own(last);
    const made = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', `kr-${last}`, '--so-pin', 'so-pin-4711', '--pin', 'user-pin-4711'], { encoding: 'utf8', env: { ...process.env, ...envFor(last) } });
    expect(made.status).toBe(0);
    const pinVariable = `KR_TEST_PIN_${last.replace(/-/g, '_').toUpperCase()}`;
    process.env[pinVariable] = 'user-pin-4711';
    const before = secretFiles();
    const lines: string[] = [];
    const error = await provisionCluster(
      configWith([own(names[0] as string), own(names[1] as string), own(last, { provision: 'none', pin: { env: pinVariable } })]),
      (line) => lines.push(line),
    ).then(() => undefined, (caught: unknown) => caught);
    delete process.env[pinVariable];

    // The same error either way: a child's failure comes back as what the step throws in this process.
    expect(error).toBeInstanceOf(HsmError);
    expect(error).toMatchObject({ nodeId: last, code: 'hsm_error', retryable: false, message: `node ${last}: creating ${CLUSTER_KEK_LABEL} needs the Security Officer PIN and no soPin is configured; add soPin or do it with the HSM vendor's tools` });
    // The first two nodes got their tokens and the key before the last one failed; all of it is gone again.
    expect(lines.filter((line) => line.startsWith('creating') || line.startsWith('could not'))).toEqual([
      `creating SoftHSM token 'kr-${names[0]}' for node ${names[0]}`,
      `creating SoftHSM token 'kr-${names[1]}' for node ${names[1]}`,
      `creating ${CLUSTER_KEK_LABEL} on 3 node(s)`,
    ]);
    for (const name of names.slice(0, 2)) expect({ name, tokens: tokensOf(name) }).toEqual({ name, tokens: [] });
    expect(secretFiles()).toEqual(before);
    const lastKeys = listTokenObjects({ modulePath: module, tokenLabel: `kr-${last}`, pin: 'user-pin-4711', env: envFor(last) }).filter((o) => o.class === 'secrkey');
    expect({ tokens: tokensOf(last), lastKeys }).toEqual({ tokens: [`kr-${last}`], lastKeys: [] });
  });

  it('keeps its per-node subcommand for keyrotor provision itself', () => {
    const result = runCli(['provision-node', '--node', 'hsm-1'], process.env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('keyrotor provision-node is started by keyrotor provision for one node; run keyrotor provision instead');
    expect(runCli(['--help'], process.env).stdout).not.toContain('provision-node');
  });
});
