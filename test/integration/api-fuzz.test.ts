import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { raiseAlert } from '../../adapters/postgres/alert-repository';
import { createSubscription } from '../../adapters/postgres/subscription-repository';
import { createToken } from '../../adapters/postgres/token-repository';
import { findSchemathesis } from '../../scripts/tool-paths';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { freePort } from '../support/ports';
import { requireEnv, startTestSystem, tokenFor, uniqueName } from '../support/system';

/** Test cases per operation and phase: the run stays within a few minutes on two cores. */
const MAX_EXAMPLES = Number(process.env.KEYROTOR_FUZZ_EXAMPLES ?? 40);
/** A run is reproduced with the seed it prints. */
const SEED = process.env.KEYROTOR_FUZZ_SEED ?? String(randomBytes(6).readUIntBE(0, 6));
const CHECKS = ['not_a_server_error', 'response_schema_conformance', 'content_type_conformance', 'status_code_conformance'];

/**
 * The operations that change or destroy something get keys and objects made for the run: the fuzzer rotates,
 * decommissions and revokes those, and never the token it runs with.
 */
const KEYS = {
  read: 'fuzz-read',
  rotate: 'fuzz-rotate',
  grace: 'fuzz-grace',
  decommission: 'fuzz-delete',
  policy: 'fuzz-policy',
  evaluate: 'fuzz-evaluate',
} as const;

interface RunReport {
  seed: number;
  running_time: number;
  exit_code: number;
  operations: { total: number; selected: number; tested: number; errored: number; skipped: number };
  test_cases: { generated: number; with_failures: number; unique_failures: number; errored: number };
  failures: Array<{ code: string; title: string; count: number; operations: string[] }>;
  errors: unknown[];
  warnings: Record<string, unknown[]>;
}

/** A TOML basic string. */
const toml = (value: string): string => JSON.stringify(value);

function schemathesisConfig(ids: { token: string; subscription: string; indicator: string; alert: string; kid: string }): string {
  const value = (entry: string | { dictionary: string; probability: number }): string =>
    typeof entry === 'string' ? toml(entry) : `{ dictionary = ${toml(entry.dictionary)}, probability = ${entry.probability} }`;
  const pin = (operations: string[], parameters: Record<string, string | { dictionary: string; probability: number }>): string =>
    `[[operations]]\ninclude-name = [${operations.map(toml).join(', ')}]\nparameters = { ${Object.entries(parameters).map(([key, entry]) => `${toml(key)} = ${value(entry)}`).join(', ')} }\n`;
  const dictionary = (name: string, values: Array<string | number>): string => `[dictionaries.${name}]\nvalues = [${values.map((v) => (typeof v === 'string' ? toml(v) : String(v))).join(', ')}]\n`;
  // Values that pass the service's own checks most of the time, so that generated requests reach what lies behind them
  // (a key type that is not RSA-3072 keeps key generation quick; usage events and indicators of a key that exists).
  const often = (name: string) => ({ dictionary: name, probability: 0.8 });
  const now = Date.now();
  const usage = {
    'body.[*].key': often('run-key'),
    'body.[*].kid': often('run-kid'),
    'body.[*].version': often('run-version'),
    'body.[*].ts': often('recent'),
    'body.[*].sensitivity': often('data-classes'),
  };
  const indicator = { 'body.[*].target': often('run-key'), 'body.[*].expiresAt': often('future') };
  return [
    // The token comes from the environment: it never appears in a file or a command line.
    '[auth.openapi.bearer]\nbearer = "${KEYROTOR_FUZZ_TOKEN}"\n',
    // Authentication is the auth matrix test's subject; here every request is the admin's.
    '[generation]\nwith-security-parameters = false\n',
    dictionary('key-types', ['ec-p256', 'ec-p384', 'rsa-2048', 'ed25519']),
    dictionary('run-key', [KEYS.read]),
    dictionary('run-kid', [ids.kid]),
    dictionary('run-version', [1]),
    dictionary('recent', [new Date(now - 3_600_000).toISOString(), new Date(now).toISOString()]),
    dictionary('future', [new Date(now + 3_600_000).toISOString(), '2099-12-31T23:59:59+15:59']),
    dictionary('data-classes', ['public', 'internal', 'payment-card']),
    pin(['POST /keys'], { 'body.type': often('key-types') }),
    pin(['POST /usage'], { ...usage, ...Object.fromEntries(Object.entries(usage).map(([key, entry]) => [key.replace('body.[*]', 'body.events[*]'), entry])) }),
    pin(['POST /threat-intel'], { ...indicator, ...Object.fromEntries(Object.entries(indicator).map(([key, entry]) => [key.replace('body.[*]', 'body.indicators[*]'), entry])) }),
    pin(['GET /keys/{name}', 'GET /keys/{name}/public', 'GET /keys/{name}/usage', 'GET /keys/{name}/risk'], { 'path.name': KEYS.read }),
    pin(['POST /keys/{name}/rotate', 'POST /keys/{name}/resume'], { 'path.name': KEYS.rotate }),
    pin(['POST /keys/{name}/grace', 'POST /keys/{name}/grace/complete'], { 'path.name': KEYS.grace }),
    pin(['DELETE /keys/{name}'], { 'path.name': KEYS.decommission, 'body.confirm': KEYS.decommission }),
    pin(['PATCH /keys/{name}/policy'], { 'path.name': KEYS.policy }),
    pin(['POST /keys/{name}/evaluate'], { 'path.name': KEYS.evaluate }),
    pin(['DELETE /tokens/{id}'], { 'path.id': ids.token }),
    pin(['DELETE /subscriptions/{id}'], { 'path.id': ids.subscription }),
    pin(['DELETE /threat-intel/{id}'], { 'path.id': ids.indicator }),
    pin(['POST /alerts/{id}/ack'], { 'path.id': ids.alert }),
  ].join('\n');
}

/** Runs schemathesis in `cwd`, where it keeps its own files. */
function runSchemathesis(args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const tool = findSchemathesis();
  if (!tool) throw new Error('schemathesis is not installed in .tools/schemathesis: run `npm test`, whose bootstrap installs it');
  return new Promise((resolveRun, reject) => {
    const child = spawn(tool.python, [...tool.args, ...args], { cwd, env: { ...process.env, PYTHONPATH: tool.pythonPath, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, output }));
  });
}

describe('the API under a fuzzer', () => {
  let system: RunningSystem;
  let receiver: Server;
  const deliveries: string[] = [];

  afterAll(async () => {
    await system?.stop();
    await new Promise((resolveClose) => (receiver ? receiver.close(resolveClose) : resolveClose(undefined)));
  });

  it('schemathesis finds no server error, no reply outside its schema and no undocumented status or content type, over every operation', async () => {
    system = await startTestSystem();
    const port = await freePort();
    await system.app.listen({ host: '127.0.0.1', port });
    const baseUrl = `http://127.0.0.1:${port}`;
    // Where every subscription the fuzzer makes is delivered (the hooks rewrite their hosts to this one).
    receiver = createServer((request, response) => {
      deliveries.push(request.url ?? '');
      request.resume();
      request.on('end', () => response.writeHead(204).end());
    });
    const receiverPort = await freePort();
    await new Promise<void>((resolveListen) => receiver.listen(receiverPort, '127.0.0.1', resolveListen));

    const admin = await tokenFor(system, 'admin');
    const api = async (method: string, url: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
      const reply = await system.app.inject({
        method: method as 'GET',
        url,
        headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: reply.statusCode, body: reply.json() };
    };
    for (const name of Object.values(KEYS)) {
      expect((await api('POST', '/keys', { name, type: 'ec-p256', policy: { gracePeriod: '1h', maxGracePeriod: '2h', publicationLead: '0s' } })).status).toBe(202);
    }
    await eventually(async () => {
      const { body } = await api('GET', '/keys?prefix=fuzz-');
      return (body.keys as Array<{ activeVersion: number | null }>).every((key) => key.activeVersion === 1) ? true : undefined;
    }, 'the run\'s keys active', 120_000);
    expect((await api('POST', `/keys/${KEYS.grace}/rotate`, { reason: 'a grace period for the fuzzer' })).status).toBe(200);
    await eventually(async () => ((await api('GET', `/keys/${KEYS.grace}`)).body.phase === 'grace' ? true : undefined), 'the grace period of the run\'s key', 60_000);
    const victim = await createToken(system.db, { name: 'fuzz victim', role: 'auditor', actor: 'test' });
    const { subscription } = await createSubscription(system.db, { url: `http://127.0.0.1:${receiverPort}/fuzz`, actor: 'test' });
    expect((await api('POST', '/threat-intel', [{ id: 'fuzz-indicator', severity: 'low', scope: 'app', target: 'fuzz', expiresAt: '2099-01-01T00:00:00Z', source: 'test' }])).status).toBe(200);
    const { alert } = await raiseAlert(system.db, { dedupKey: 'fuzz', severity: 'info', source: 'test', subject: 'fuzz', message: 'an alert for the fuzzer to acknowledge' }, []);

    const dir = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('fuzz-'));
    mkdirSync(dir, { recursive: true });
    const configFile = join(dir, 'schemathesis.toml');
    const kid = ((await api('GET', `/keys/${KEYS.read}`)).body.versions as Array<{ kid: string }>)[0]!.kid;
    writeFileSync(configFile, schemathesisConfig({ token: victim.info.id, subscription: subscription.id, indicator: 'fuzz-indicator', alert: alert.id, kid }));
    const started = Date.now();
    const { code, output } = await runSchemathesis(
      [
        '--config-file', configFile, 'run', `${baseUrl}/openapi.json`,
        '--checks', CHECKS.join(','),
        '--phases', 'coverage,fuzzing',
        '--max-examples', String(MAX_EXAMPLES),
        '--seed', SEED,
        '--workers', '2',
        '--request-timeout', '60',
        '--generation-database', 'none',
        '--no-color',
        '--report', 'json', '--report-dir', dir,
      ],
      dir,
      { KEYROTOR_FUZZ_TOKEN: admin, KEYROTOR_FUZZ_RECEIVER: `127.0.0.1:${receiverPort}`, SCHEMATHESIS_HOOKS: resolve(__dirname, '../support/schemathesis_hooks.py') },
    );
    const seconds = (Date.now() - started) / 1000;
    const reportFile = readdirSync(dir).find((file) => /^json-.*\.json$/.test(file));
    if (!reportFile) throw new Error(`schemathesis wrote no report (exit ${code}):\n${output}`);
    const report = JSON.parse(readFileSync(join(dir, reportFile), 'utf8')) as RunReport;
    const documented = Object.values((await api('GET', '/openapi.json')).body.paths as Record<string, Record<string, unknown>>).reduce((n, ops) => n + Object.keys(ops).length, 0);
    process.stderr.write(
      `[api fuzz] schemathesis, seed ${SEED}, ${MAX_EXAMPLES} examples: ${report.operations.tested}/${documented} operations, ${report.test_cases.generated} requests, ` +
        `${seconds.toFixed(0)} s, ${report.failures.length} kinds of findings, ${report.errors.length} errors; ${deliveries.length} webhook deliveries to the receiver\n`,
    );
    if (code !== 0 || report.failures.length > 0 || report.errors.length > 0) {
      const from = output.search(/={5,} (FAILURES|ERRORS) ={5,}/);
      throw new Error(`schemathesis exited ${code} with ${report.failures.length} kinds of findings and ${report.errors.length} errors (seed ${SEED}):\n${from >= 0 ? output.slice(from) : output}`);
    }
    expect(report.operations).toMatchObject({ selected: documented, tested: documented, errored: 0, skipped: 0 });
    // The run's own token kept working throughout: no operation was answered 401 or 403 only.
    expect(report.warnings.missing_auth ?? []).toEqual([]);
    expect((await api('GET', '/whoami')).status).toBe(200);
  }, 20 * 60_000);
});
