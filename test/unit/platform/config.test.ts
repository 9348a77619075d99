import { parseConfig, type ConfigInputs } from '../../../domain/config';
import { ConfigError } from '../../../domain/errors';

const base: ConfigInputs = { env: {}, file: undefined, projectRoot: '/srv/keyrotor', softHsmModule: '/usr/lib/softhsm/libsofthsm2.so' };

function problemsOf(inputs: Partial<ConfigInputs>): string[] {
  try {
    parseConfig({ ...base, ...inputs });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('defaults to three SoftHSM nodes with PIN files in the data folder', () => {
    const config = parseConfig(base);
    expect(config.dataDir).toBe('/srv/keyrotor/.keyrotor');
    expect(config.hsm.nodes.map((node) => node.id)).toEqual(['hsm-1', 'hsm-2', 'hsm-3']);
    expect(config.hsm.nodes[1]).toEqual({
      id: 'hsm-2',
      modulePath: '/usr/lib/softhsm/libsofthsm2.so',
      tokenLabel: 'keyrotor-hsm-2',
      pin: { file: '/srv/keyrotor/.keyrotor/secrets/hsm-2.pin' },
      soPin: { file: '/srv/keyrotor/.keyrotor/secrets/hsm-2.so-pin' },
      provision: 'softhsm',
      sessionPoolSize: 4,
    });
    expect(config.api).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.temporal).toEqual({ namespace: 'default', controlTaskQueue: 'keyrotor.control', devServerPort: 7233, uiPort: 8233 });
    expect(config.database).toEqual({ embeddedPort: 54329 });
    expect(config.entropy).toEqual({ harvestIntervalSeconds: 300, samplesPerSource: 65_536, assessmentSamples: 1_000_000, assessmentIntervalHours: 24, minimumCreditedBits: 1024, batteryBits: 1_000_000 });
  });

  it('lets environment variables win over the file', () => {
    const config = parseConfig({
      ...base,
      env: { KEYROTOR_API_PORT: '9090', DATABASE_URL: 'postgres://u@db:5432/k', TEMPORAL_ADDRESS: 'temporal:7233' },
      file: { api: { port: 8181, host: '0.0.0.0' } },
    });
    expect(config.api).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(config.database.url).toBe('postgres://u@db:5432/k');
    expect(config.temporal.address).toBe('temporal:7233');
  });

  it('takes the control task queue from the environment or the file, and refuses a name Temporal or the HSM queues would clash with', () => {
    expect(parseConfig({ ...base, env: { KEYROTOR_CONTROL_TASK_QUEUE: 'keyrotor.control.blue' } }).temporal.controlTaskQueue).toBe('keyrotor.control.blue');
    expect(parseConfig({ ...base, file: { temporal: { controlTaskQueue: 'kr/control' } } }).temporal.controlTaskQueue).toBe('kr/control');
    for (const bad of ['has space', 'hsm.hsm-1', 'x'.repeat(201), 'tab\there']) {
      expect(problemsOf({ env: { KEYROTOR_CONTROL_TASK_QUEUE: bad } })).toEqual([expect.stringContaining('KEYROTOR_CONTROL_TASK_QUEUE / temporal.controlTaskQueue')]);
    }
  });

  it('names the node and the fix for a duplicate node id', () => {
    const problems = problemsOf({ file: { hsm: { nodes: [{ id: 'hsm-1' }, { id: 'hsm-1', tokenLabel: 'other' }] } } });
    expect(problems).toEqual([expect.stringMatching(/hsm\.nodes\[1\] \(node 'hsm-1'\): duplicate node id 'hsm-1' \(also hsm\.nodes\[0\]\); give every node its own id/)]);
  });

  it('refuses two nodes on one token', () => {
    const problems = problemsOf({ file: { hsm: { nodes: [{ id: 'a', tokenLabel: 't' }, { id: 'b', tokenLabel: 't' }] } } });
    expect(problems).toEqual([expect.stringContaining("token 't' is already used by node 'a'")]);
  });

  it('takes a per-node module environment, and lets nodes in different SoftHSM folders share a token label', () => {
    const config = parseConfig({
      ...base,
      file: { hsm: { nodes: [1, 2].map((n) => ({ id: `hsm-${n}`, tokenLabel: 'keyrotor', moduleEnv: { SOFTHSM2_CONF: `/etc/keyrotor/softhsm/hsm-${n}.conf` } })) } },
    });
    expect(config.hsm.nodes.map((node) => node.moduleEnv)).toEqual([{ SOFTHSM2_CONF: '/etc/keyrotor/softhsm/hsm-1.conf' }, { SOFTHSM2_CONF: '/etc/keyrotor/softhsm/hsm-2.conf' }]);
    // Without an environment of their own the two nodes would be one token.
    expect(problemsOf({ file: { hsm: { nodes: [1, 2].map((n) => ({ id: `hsm-${n}`, tokenLabel: 'keyrotor', moduleEnv: { SOFTHSM2_CONF: '/etc/one.conf' } })) } } }))
      .toEqual([expect.stringContaining("token 'keyrotor' is already used by node 'hsm-1'")]);
  });

  it("keeps secrets and keyrotor's own settings out of a module environment", () => {
    const problems = problemsOf({
      file: {
        hsm: {
          nodes: [
            { id: 'a', moduleEnv: ['SOFTHSM2_CONF=/x'] },
            { id: 'b', moduleEnv: { 'not a name': '/x', KEYROTOR_DATA_DIR: '/x', DATABASE_URL: 'postgres://x', LUNA_PASSWORD: 'p', SOFTHSM2_CONF: '' } },
            { id: 'c', provision: 'none', pin: { env: 'VENDOR_LOGIN' }, moduleEnv: { VENDOR_LOGIN: 'p' } },
          ],
        },
      },
    });
    expect(problems).toEqual([
      expect.stringMatching(/^hsm\.nodes\[0\] \(node 'a'\)\.moduleEnv: must be an object of environment variables/),
      "hsm.nodes[1] (node 'b').moduleEnv.not a name: 'not a name' is not an environment variable name",
      "hsm.nodes[1] (node 'b').moduleEnv.KEYROTOR_DATA_DIR: keyrotor reads KEYROTOR_DATA_DIR itself; set it for the whole process, not for one node",
      "hsm.nodes[1] (node 'b').moduleEnv.DATABASE_URL: keyrotor reads DATABASE_URL itself; set it for the whole process, not for one node",
      expect.stringMatching(/^hsm\.nodes\[1\] \(node 'b'\)\.moduleEnv\.LUNA_PASSWORD: looks like a secret, which never goes in the configuration/),
      "hsm.nodes[1] (node 'b').moduleEnv.SOFTHSM2_CONF: must be a non-empty string",
      expect.stringMatching(/^hsm\.nodes\[2\] \(node 'c'\)\.moduleEnv\.VENDOR_LOGIN: looks like a secret/),
    ]);
  });

  it('never accepts a PIN value in the configuration, only where it comes from', () => {
    const problems = problemsOf({ file: { hsm: { nodes: [{ id: 'luna-1', provision: 'none', modulePath: '/opt/luna/libCryptoki2.so', pin: '1234' }] } } });
    expect(problems).toEqual([expect.stringMatching(/luna-1.*\.pin: must be \{"env": "VARIABLE"\} or \{"file": "\/path"\}/)]);
    const config = parseConfig({ ...base, file: { hsm: { nodes: [{ id: 'luna-1', provision: 'none', modulePath: '/opt/luna/libCryptoki2.so', pin: { env: 'LUNA_PIN' } }] } } });
    expect(config.hsm.nodes[0]?.pin).toEqual({ env: 'LUNA_PIN' });
    expect(config.hsm.nodes[0]?.soPin).toBeUndefined();
  });

  it('collects every problem at once', () => {
    const problems = problemsOf({
      env: { KEYROTOR_API_PORT: 'http', DATABASE_URL: 'mysql://x' },
      file: { hsm: { nodes: [{ id: 'Bad Id', modulePath: 'relative.so', surprise: true }] }, colour: 'blue' },
    });
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringContaining("unknown setting 'colour'"),
      expect.stringContaining('KEYROTOR_API_PORT / api.port: "http" is not a whole number'),
      expect.stringContaining('must start with postgres://'),
      expect.stringContaining("unknown setting 'surprise'"),
      expect.stringContaining('id must be 1–31 of a-z'),
      expect.stringContaining("modulePath 'relative.so' must be an absolute path"),
    ]));
    expect(problems).toHaveLength(6);
  });

  it('asks for SoftHSM or nodes when neither is there', () => {
    expect(problemsOf({ softHsmModule: undefined })).toEqual([expect.stringContaining('no nodes are configured and SoftHSMv2 is not installed')]);
  });

  it('takes mTLS for Temporal as a certificate and key pair, never one alone', () => {
    expect(problemsOf({ env: { TEMPORAL_TLS_CERT: '/run/secrets/client.pem' } })).toEqual([expect.stringContaining('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together')]);
    const config = parseConfig({ ...base, env: { TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_TLS_CERT: '/c.pem', TEMPORAL_TLS_KEY: '/k.pem' } });
    expect(config.temporal.tls).toEqual({ clientCertFile: '/c.pem', clientKeyFile: '/k.pem' });
  });

  it('validates alert webhooks', () => {
    const problems = problemsOf({ file: { alerts: { webhooks: [{ id: 'ops', url: 'ftp://x', secret: { env: 'OPS' } }] } } });
    expect(problems).toEqual([expect.stringContaining('url must be an http:// or https:// URL')]);
  });

  it('refuses alert webhooks to internal addresses unless the webhook allowlist admits them', () => {
    const sink = (url: string) => ({ alerts: { webhooks: [{ id: 'ops', url, secret: { env: 'OPS' } }] } });
    expect(problemsOf({ file: sink('http://127.0.0.1:9000/hook') })).toEqual([
      expect.stringMatching(/^alerts\.webhooks\[0\]: url http:\/\/127\.0\.0\.1:9000\/hook is refused as a webhook target: 127\.0\.0\.1 is a loopback address .*KEYROTOR_WEBHOOK_ALLOW/),
    ]);
    expect(problemsOf({ file: sink('http://169.254.169.254/latest') })).toEqual([expect.stringContaining('the cloud metadata address')]);
    expect(problemsOf({ file: sink('http://localhost/hook') })).toEqual([expect.stringContaining('localhost is a loopback name')]);
    expect(parseConfig({ ...base, file: sink('https://ops.example/hooks/keyrotor') }).alerts.webhooks).toHaveLength(1);
    // Admitted on purpose, from the environment or the file.
    expect(parseConfig({ ...base, env: { KEYROTOR_WEBHOOK_ALLOW: '127.0.0.1:9000, 10.0.0.0/8' }, file: sink('http://127.0.0.1:9000/hook') }).webhooks.allowedTargets.map((entry) => entry.text)).toEqual(['127.0.0.1:9000', '10.0.0.0/8']);
    expect(parseConfig({ ...base, file: { ...sink('http://hooks.internal:8443/'), webhooks: { allowedTargets: ['hooks.internal'] } } }).alerts.webhooks).toHaveLength(1);
    expect(parseConfig(base).webhooks).toEqual({ allowedTargets: [] });
  });

  it('names every bad entry of the webhook allowlist', () => {
    expect(problemsOf({ env: { KEYROTOR_WEBHOOK_ALLOW: '10.0.0.1/8,ok.example,host:0' } })).toEqual([
      expect.stringMatching(/^KEYROTOR_WEBHOOK_ALLOW: '10\.0\.0\.1\/8' has bits set past its \/8 prefix \(did you mean 10\.0\.0\.0\/8\?\)/),
      expect.stringMatching(/^KEYROTOR_WEBHOOK_ALLOW: 'host:0' has a port that is not 1–65535/),
    ]);
    expect(problemsOf({ file: { webhooks: { allowedTargets: '10.0.0.0/8' } } })).toEqual([expect.stringContaining('webhooks.allowedTargets: must be an array')]);
    expect(problemsOf({ file: { webhooks: { allowedTargets: [42], allow: [] } } })).toEqual([
      "keyrotor.config.json: unknown setting 'webhooks.allow' (known: allowedTargets)",
      'webhooks.allowedTargets[0]: must be a string',
    ]);
  });

  it('takes a second database URL for the owner role, only beside DATABASE_URL', () => {
    const config = parseConfig({ ...base, env: { DATABASE_URL: 'postgres://keyrotor_app@db/k', KEYROTOR_DATABASE_OWNER_URL: 'postgres://keyrotor_owner@db/k' } });
    expect(config.database).toEqual({ url: 'postgres://keyrotor_app@db/k', ownerUrl: 'postgres://keyrotor_owner@db/k', embeddedPort: 54329 });
    expect(problemsOf({ env: { KEYROTOR_DATABASE_OWNER_URL: 'postgres://keyrotor_owner@db/k' } })).toEqual([expect.stringContaining('goes with DATABASE_URL')]);
    expect(problemsOf({ env: { DATABASE_URL: 'postgres://a@db/k', KEYROTOR_DATABASE_OWNER_URL: 'mysql://o@db/k' } })).toEqual([expect.stringContaining('KEYROTOR_DATABASE_OWNER_URL / database.ownerUrl: must start with postgres://')]);
  });

  it('takes risk weights and data classes for the prediction engine, defaulting to the built-in ones', () => {
    const defaults = parseConfig(base).prediction;
    expect(defaults.sensitivityWeights['payment-card']).toBe(0.9);
    expect(defaults.riskWeights.threat).toBe(0.9);
    const custom = parseConfig({ ...base, file: { prediction: { riskWeights: { anomaly: 0.8 }, sensitivityWeights: { public: 0, 'trade-secret': 0.95 }, retrainIntervalHours: 6 } } }).prediction;
    expect(custom.riskWeights).toMatchObject({ anomaly: 0.8, usage: 0.5 });
    // A configured table of data classes replaces the built-in one.
    expect(custom.sensitivityWeights).toEqual({ public: 0, 'trade-secret': 0.95 });
    expect(custom.retrainIntervalHours).toBe(6);
    expect(problemsOf({ file: { prediction: { riskWeights: { anomaly: 2, luck: 0.1 }, sensitivityWeights: { 'Top Secret': 1 }, horizon: 3 } } })).toEqual([
      expect.stringContaining('prediction.horizon: unknown setting'),
      'prediction.riskWeights.anomaly: must be a number from 0 to 1',
      expect.stringContaining('prediction.riskWeights.luck: unknown'),
      expect.stringContaining("prediction.sensitivityWeights.Top Secret: a data class name is lower-case"),
    ]);
  });

  it('keeps risk evaluations 90 days unless told otherwise, as a duration from the file or the environment', () => {
    expect(parseConfig(base).prediction.evaluationRetentionMs).toBe(90 * 86_400_000);
    const file = { prediction: { evaluationRetention: '30d' } };
    expect(parseConfig({ ...base, file }).prediction.evaluationRetentionMs).toBe(30 * 86_400_000);
    expect(parseConfig({ ...base, file, env: { KEYROTOR_EVALUATION_RETENTION: 'P365D' } }).prediction.evaluationRetentionMs).toBe(365 * 86_400_000);
    expect(problemsOf({ env: { KEYROTOR_EVALUATION_RETENTION: '30m' } })).toEqual([
      "KEYROTOR_EVALUATION_RETENTION / prediction.evaluationRetention: '30m' must be from 1h to 3650d",
    ]);
    expect(problemsOf({ file: { prediction: { evaluationRetention: 'forever' } } })).toEqual([
      expect.stringMatching(/^KEYROTOR_EVALUATION_RETENTION \/ prediction\.evaluationRetention: 'forever' is not a duration/),
    ]);
    expect(problemsOf({ file: { prediction: { evaluationRetention: 90 } } })).toEqual([
      'KEYROTOR_EVALUATION_RETENTION / prediction.evaluationRetention: 90 is not a duration such as "15m" or "30d"',
    ]);
  });

  it('has no threat-intelligence feed and keeps raw usage events 30 days unless told otherwise', () => {
    const config = parseConfig(base);
    expect(config.threatIntel).toEqual({ feedIntervalMs: 15 * 60_000 });
    expect(config.usage).toEqual({ rawRetentionMs: 30 * 86_400_000, accessLogs: [], accessLogIntervalMs: 20_000 });
  });

  it('takes the feed, its interval and bearer secret, and the raw usage retention, as durations; the environment wins', () => {
    const file = { threatIntel: { feedUrl: 'https://intel.example/keys.json', feedInterval: '5m', feedToken: { env: 'INTEL_TOKEN' } }, usage: { rawRetention: 'P7D' } };
    const config = parseConfig({ ...base, file });
    expect(config.threatIntel).toEqual({ feedUrl: 'https://intel.example/keys.json', feedIntervalMs: 300_000, feedToken: { env: 'INTEL_TOKEN' } });
    expect(config.usage.rawRetentionMs).toBe(7 * 86_400_000);
    const overridden = parseConfig({ ...base, file, env: { KEYROTOR_THREAT_FEED_INTERVAL: '1h', KEYROTOR_USAGE_RAW_RETENTION: '90d', KEYROTOR_THREAT_FEED_URL: 'http://127.0.0.1:9000/feed' } });
    expect(overridden.threatIntel).toMatchObject({ feedUrl: 'http://127.0.0.1:9000/feed', feedIntervalMs: 3_600_000 });
    expect(overridden.usage.rawRetentionMs).toBe(90 * 86_400_000);
  });

  it('names every problem of the threat-intelligence and usage settings', () => {
    const problems = problemsOf({
      env: { KEYROTOR_USAGE_RAW_RETENTION: '10m' },
      file: { threatIntel: { feedUrl: 'intel.example', feedInterval: 'often', feedToken: 'hunter2', colour: 'red' }, usage: { rawRetention: '1d', keep: true } },
    });
    expect(problems).toEqual([
      "keyrotor.config.json: unknown setting 'threatIntel.colour' (known: feedUrl, feedInterval, feedToken)",
      "keyrotor.config.json: unknown setting 'usage.keep' (known: rawRetention, accessLogs, accessLogInterval)",
      'KEYROTOR_THREAT_FEED_URL / threatIntel.feedUrl: must be an http:// or https:// URL',
      expect.stringMatching(/^threatIntel\.feedToken: must be \{"env": "VARIABLE"\} or \{"file": "\/path"\}/),
      expect.stringMatching(/^KEYROTOR_THREAT_FEED_INTERVAL \/ threatIntel\.feedInterval: 'often' is not a duration/),
      "KEYROTOR_USAGE_RAW_RETENTION / usage.rawRetention: '10m' must be from 1h to 3650d",
    ]);
    expect(problemsOf({ file: { threatIntel: { feedToken: { env: 'INTEL_TOKEN' } } } })).toEqual([
      'threatIntel.feedToken: is sent to the feed, but no threatIntel.feedUrl is set',
    ]);
    expect(problemsOf({ file: { threatIntel: { feedUrl: 'https://intel.example/', feedInterval: 30 } } })).toEqual([
      'KEYROTOR_THREAT_FEED_INTERVAL / threatIntel.feedInterval: 30 is not a duration such as "15m" or "30d"',
    ]);
  });

  it('takes HSM access logs, each one application\'s log on one configured node, and names every problem of each', () => {
    const accessLogs = [
      { path: '/var/log/billing/pkcs11-spy.log', app: 'billing', node: 'hsm-2', format: 'pkcs11-spy', timeZone: 'Europe/Paris' },
      { path: '/var/log/audit.ndjson', app: 'vendor-audit', node: 'hsm-1', format: 'ndjson' },
    ];
    const config = parseConfig({ ...base, file: { usage: { accessLogs, accessLogInterval: '1m' } } });
    expect(config.usage.accessLogs).toEqual(accessLogs);
    expect(config.usage.accessLogIntervalMs).toBe(60_000);
    expect(problemsOf({
      file: {
        usage: {
          accessLogInterval: '1s',
          accessLogs: [
            { path: 'relative.log', app: 'a', node: 'hsm-9', format: 'syslog', timeZone: 'Mars/Olympus', colour: 'red' },
            { path: '/var/log/a.log', app: '', node: 'hsm-1', format: 'ndjson' },
            { path: '/var/log/b.log', app: 'b\u0000', node: 'hsm-1', format: 'ndjson' },
            { path: '/var/log/c.log', app: 'c', node: 'hsm-1', format: 'ndjson' },
            { path: '/var/log/c.log', app: 'd', node: 'hsm-2', format: 'ndjson' },
            'a string',
          ],
        },
      },
    })).toEqual([
      "usage.accessLogs[0]: unknown setting 'colour' (known: path, app, node, format, timeZone)",
      'usage.accessLogs[0]: path must be an absolute path',
      'usage.accessLogs[0]: node must be one of the configured nodes (hsm-1, hsm-2, hsm-3)',
      'usage.accessLogs[0]: format must be one of pkcs11-spy, ndjson',
      'usage.accessLogs[0]: timeZone must be an IANA time zone such as "Europe/Paris"',
      'usage.accessLogs[1]: app must name the application (1–200 characters of text)',
      'usage.accessLogs[2]: app must name the application (1–200 characters of text)',
      "usage.accessLogs[4]: path '/var/log/c.log' is also usage.accessLogs[3]; one file is one application's log",
      'usage.accessLogs[5]: must be an object',
      "KEYROTOR_ACCESS_LOG_INTERVAL / usage.accessLogInterval: '1s' must be from 5s to 1h",
    ]);
    expect(problemsOf({ file: { usage: { accessLogs: { path: '/x' } } } })).toEqual(['usage.accessLogs: must be an array of {path, app, node, format, timeZone}']);
  });
});
