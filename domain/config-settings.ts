import { DEFAULT_CONTROL_TASK_QUEUE } from './identifiers';
import { formatDuration } from './keys/durations';

/**
 * Every setting of keyrotor, once: where it is in keyrotor.config.json, its environment variable (which wins over the
 * file), its type, bounds, default and what it is for. domain/config.ts parses from this table, its messages name
 * what it says, and the README's configuration tables are generated from it (`npm run docs:config`).
 */
interface SettingBase {
  /** The environment variable, or none for a setting only the file holds. */
  env?: string;
  /** None: an environment variable alone, read by the process it concerns (see `PROCESS_SETTINGS`). */
  file?: string;
  doc: string;
  /** The README table the setting is listed in. */
  readme: 'configuration' | 'entropy';
  /** What the README says for the default, where the value alone would not explain it. */
  shownDefault?: string;
}

export type Setting =
  | (SettingBase & { type: 'integer'; default: number; min: number; max: number })
  /** Written as "15m", "30d" or ISO 8601 ("P7D"); held in milliseconds. */
  | (SettingBase & { type: 'duration'; default: number; min: number; max: number })
  | (SettingBase & { type: 'text'; default?: string; check?: TextCheck })
  /** A structured setting (a list, a secret source, a weight table): parsed by its own function in domain/config.ts. */
  | (SettingBase & { type: 'structured' });

export interface TextCheck {
  test: (value: string) => boolean;
  problem: (value: string) => string;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const HTTP_URL = /^https?:\/\/[^\s]+$/;
const POSTGRES_URL = /^postgres(ql)?:\/\//;
const TASK_QUEUE_NAME = /^[A-Za-z0-9._/-]{1,200}$/;

const httpUrl: TextCheck = { test: (value) => HTTP_URL.test(value), problem: () => 'must be an http:// or https:// URL' };
const postgresUrl: TextCheck = { test: (value) => POSTGRES_URL.test(value), problem: () => 'must start with postgres:// or postgresql://' };
const port = (fallback: number, min = 1) => ({ type: 'integer', default: fallback, min, max: 65535 }) as const;

export const SETTINGS = {
  dataDir: { env: 'KEYROTOR_DATA_DIR', file: 'dataDir', type: 'text', default: '.keyrotor', readme: 'configuration', doc: 'tokens, secrets, embedded PostgreSQL, Temporal database' },
  apiHost: { env: 'KEYROTOR_API_HOST', file: 'api.host', type: 'text', default: '127.0.0.1', readme: 'configuration', doc: 'API bind address' },
  apiPort: { env: 'KEYROTOR_API_PORT', file: 'api.port', ...port(8080, 0), readme: 'configuration', doc: 'API port' },
  databaseUrl: {
    env: 'DATABASE_URL', file: 'database.url', type: 'text', check: postgresUrl, readme: 'configuration',
    doc: "PostgreSQL server, as the application's role (owns nothing); unset: embedded PostgreSQL in the data folder. See [PostgreSQL roles](#postgresql-roles)",
  },
  databaseOwnerUrl: {
    env: 'KEYROTOR_DATABASE_OWNER_URL', file: 'database.ownerUrl', type: 'text', check: postgresUrl, readme: 'configuration',
    doc: "the same database as the role that owns the schema: runs the migrations and grants the application role what it needs. Only beside `DATABASE_URL`; without it, `DATABASE_URL`'s role does both and keyrotor warns",
  },
  embeddedPort: { env: 'KEYROTOR_PG_PORT', file: 'database.embeddedPort', ...port(54329), readme: 'configuration', doc: 'port of the embedded PostgreSQL' },
  temporalAddress: {
    env: 'TEMPORAL_ADDRESS', file: 'temporal.address', type: 'text', readme: 'configuration', doc: 'Temporal frontend `host:port`; unset: the dev server',
    check: { test: (value) => /^[^\s:/]+:\d+$/.test(value), problem: (value) => `'${value}' must look like host:port` },
  },
  temporalNamespace: {
    env: 'TEMPORAL_NAMESPACE', file: 'temporal.namespace', type: 'text', default: 'default', readme: 'configuration',
    doc: 'Temporal namespace (one per keyrotor deployment: workflow and schedule ids are namespace-wide)',
  },
  controlTaskQueue: {
    env: 'KEYROTOR_CONTROL_TASK_QUEUE', file: 'temporal.controlTaskQueue', type: 'text', default: DEFAULT_CONTROL_TASK_QUEUE, readme: 'configuration',
    doc: "task queue of the control workers (every workflow, and every activity that is not a PKCS#11 call); the HSM workers' queues are `hsm.<node>`; on another queue than the default, the deployment's schedules are named `<schedule>@<queue>` (`keymap-sync@<queue>`)",
    check: {
      test: (value) => TASK_QUEUE_NAME.test(value) && !value.startsWith('hsm.'),
      problem: (value) => `'${value}' must be 1–200 of letters, digits, '.', '_', '-' and '/', and must not start with 'hsm.' (the HSM nodes' queues)`,
    },
  },
  tlsClientCertFile: { env: 'TEMPORAL_TLS_CERT', file: 'temporal.tls.clientCertFile', type: 'text', readme: 'configuration', doc: 'mTLS to a Temporal cluster: the client certificate (PEM file); goes with `TEMPORAL_TLS_KEY`' },
  tlsClientKeyFile: { env: 'TEMPORAL_TLS_KEY', file: 'temporal.tls.clientKeyFile', type: 'text', readme: 'configuration', doc: "mTLS: the client certificate's private key (PEM file)" },
  tlsServerCaFile: { env: 'TEMPORAL_TLS_CA', file: 'temporal.tls.serverCaFile', type: 'text', readme: 'configuration', doc: "mTLS: the CA that signed the server's certificate (PEM file)" },
  tlsServerName: { env: 'TEMPORAL_TLS_SERVER_NAME', file: 'temporal.tls.serverName', type: 'text', readme: 'configuration', doc: "mTLS: the name the server's certificate must carry" },
  devServerPort: { env: 'KEYROTOR_TEMPORAL_PORT', file: 'temporal.devServerPort', ...port(7233), readme: 'configuration', doc: 'dev server frontend port' },
  uiPort: { env: 'KEYROTOR_TEMPORAL_UI_PORT', file: 'temporal.uiPort', ...port(8233), readme: 'configuration', doc: 'dev server Web UI port' },
  webUiUrl: {
    env: 'KEYROTOR_TEMPORAL_UI_URL', file: 'temporal.webUiUrl', type: 'text', check: httpUrl, readme: 'configuration', shownDefault: "the dev server's UI; none with an external Temporal",
    doc: "where operators open the Temporal Web UI (the dashboard links each key's workflow there)",
  },
  workerMetricsPort: { env: 'KEYROTOR_WORKER_METRICS_PORT', file: 'workerMetricsPort', ...port(9464, 0), readme: 'configuration', doc: 'Prometheus endpoint of the Temporal workers' },
  pingTimeoutMs: { env: 'KEYROTOR_HSM_PING_TIMEOUT_MS', file: 'hsm.pingTimeoutMs', type: 'integer', default: 3000, min: 100, max: 60000, readme: 'configuration', doc: 'how long a node has to answer a health ping, in milliseconds' },
  shutdownGraceMs: { env: 'KEYROTOR_SHUTDOWN_GRACE_MS', file: 'shutdownGraceMs', type: 'integer', default: 10000, min: 0, max: 600000, readme: 'configuration', doc: 'how long running activities get at shutdown, in milliseconds' },
  nodes: { file: 'hsm.nodes', type: 'structured', readme: 'configuration', shownDefault: 'three SoftHSM nodes `hsm-1`…`hsm-3`', doc: 'the HSM cluster, below' },
  alertWebhooks: { file: 'alerts.webhooks', type: 'structured', readme: 'configuration', doc: 'alert sinks `[{id, url, secret}]`, below' },
  allowedTargets: {
    env: 'KEYROTOR_WEBHOOK_ALLOW', file: 'webhooks.allowedTargets', type: 'structured', readme: 'configuration',
    doc: 'internal receivers that subscriptions and alert sinks may reach on purpose: networks (`10.0.0.0/8`, `fd00::/8`), addresses with an optional port (`127.0.0.1:9000`, `[::1]:9000`), host names with an optional port (`hooks.internal:8443`); the variable separates entries with commas or spaces. See [Webhook targets](#webhook-targets)',
  },
  feedUrl: {
    env: 'KEYROTOR_THREAT_FEED_URL', file: 'threatIntel.feedUrl', type: 'text', check: httpUrl, readme: 'configuration',
    doc: 'a JSON feed of threat indicators, pulled by the `threat-intel-feed` schedule (none without a feed)',
  },
  feedInterval: { env: 'KEYROTOR_THREAT_FEED_INTERVAL', file: 'threatIntel.feedInterval', type: 'duration', default: 15 * 60_000, min: 60_000, max: 7 * DAY_MS, readme: 'configuration', doc: 'how often the feed is pulled' },
  feedToken: { file: 'threatIntel.feedToken', type: 'structured', readme: 'configuration', doc: '`{"env"}` or `{"file"}`: sent to the feed as `Authorization: Bearer …`' },
  rawRetention: {
    env: 'KEYROTOR_USAGE_RAW_RETENTION', file: 'usage.rawRetention', type: 'duration', default: 30 * DAY_MS, min: HOUR_MS, max: 3650 * DAY_MS, readme: 'configuration',
    doc: "how long raw usage events are kept; the hourly aggregates stay. The clean-transition check counts raw signing events since the switch, so a key policy whose `maxGracePeriod` exceeds it is refused (400 `grace_outlasts_usage_retention`); lowering it later below existing keys' `maxGracePeriod` is not checked",
  },
  accessLogs: {
    file: 'usage.accessLogs', type: 'structured', readme: 'configuration', shownDefault: 'none',
    doc: 'HSM access logs to tail `[{path, app, node, format, timeZone}]`: each file is one application\'s log on one node (see [HSM access logs](#hsm-access-logs-in-progress))',
  },
  accessLogInterval: {
    env: 'KEYROTOR_ACCESS_LOG_INTERVAL', file: 'usage.accessLogInterval', type: 'duration', default: 20_000, min: 5_000, max: HOUR_MS, readme: 'configuration',
    doc: 'how often each node\'s access logs are read (the `access-logs-<node>` schedules)',
  },
  riskWeights: { file: 'prediction.riskWeights', type: 'structured', readme: 'configuration', shownDefault: 'see [Prediction](#prediction)', doc: 'how far each risk component alone can take the risk score (component → 0–1)' },
  sensitivityWeights: { file: 'prediction.sensitivityWeights', type: 'structured', readme: 'configuration', shownDefault: 'see [Prediction](#prediction)', doc: 'the data classes and how sensitive each is (class → 0–1); a configured table replaces the built-in one' },
  classMismatchPenalty: { file: 'prediction.classMismatchPenalty', type: 'structured', readme: 'configuration', shownDefault: 'see [Prediction](#prediction)', doc: 'added to the sensitivity when a key serves data of a class above its own (0–1)' },
  retrainIntervalHours: { file: 'prediction.retrainIntervalHours', type: 'integer', default: 24, min: 1, max: 24 * 30, readme: 'configuration', doc: 'how often the global forecast model is retrained, in hours' },
  anomalyWindowHours: { file: 'prediction.anomalyWindowHours', type: 'integer', default: 24, min: 1, max: 24 * 7, readme: 'configuration', doc: 'how many of the latest hours the anomaly detector judges at each evaluation' },
  evaluationRetention: {
    env: 'KEYROTOR_EVALUATION_RETENTION', file: 'prediction.evaluationRetention', type: 'duration', default: 90 * DAY_MS, min: HOUR_MS, max: 3650 * DAY_MS, readme: 'configuration',
    doc: "how long risk evaluations (`GET /keys/:name/risk`) are kept; each key's newest and those a version's lineage names as its rotation's evidence are kept whatever their age",
  },
  harvestIntervalSeconds: { env: 'KEYROTOR_ENTROPY_INTERVAL_SECONDS', file: 'entropy.harvestIntervalSeconds', type: 'integer', default: 300, min: 10, max: 86_400, readme: 'entropy', doc: "how often each node's entropyHarvest schedule runs, in seconds" },
  samplesPerSource: { env: 'KEYROTOR_ENTROPY_SAMPLES', file: 'entropy.samplesPerSource', type: 'integer', default: 65_536, min: 1024, max: 10_000_000, readme: 'entropy', doc: 'samples drawn from each source per harvest' },
  assessmentSamples: { env: 'KEYROTOR_ENTROPY_ASSESSMENT_SAMPLES', file: 'entropy.assessmentSamples', type: 'integer', default: 1_000_000, min: 10_000, max: 10_000_000, readme: 'entropy', doc: 'fresh samples per source for the SP 800-90B assessment (section 6.3 asks for 1,000,000)' },
  assessmentIntervalHours: { env: 'KEYROTOR_ENTROPY_ASSESSMENT_HOURS', file: 'entropy.assessmentIntervalHours', type: 'integer', default: 24, min: 1, max: 24 * 30, readme: 'entropy', doc: 'how often the SP 800-90B assessment runs, in hours' },
  minimumCreditedBits: { env: 'KEYROTOR_ENTROPY_MINIMUM_BITS', file: 'entropy.minimumCreditedBits', type: 'integer', default: 1024, min: 256, max: 1_000_000_000, readme: 'entropy', doc: "below this many credited bits in a node's pool, an alert, and key generation follows each key's entropy policy" },
  batteryBits: { env: 'KEYROTOR_ENTROPY_BATTERY_BITS', file: 'entropy.batteryBits', type: 'integer', default: 1_000_000, min: 100_000, max: 10_000_000, readme: 'entropy', doc: 'bits of DRBG output the SP 800-22 battery tests at each harvest' },
  devicePath: {
    env: 'KEYROTOR_ENTROPY_DEVICE', file: 'entropy.devicePath', type: 'text', readme: 'entropy', doc: 'an extra noise device read on every node (for example /dev/hwrng)',
    check: { test: (value) => value.startsWith('/'), problem: (value) => `'${value}' must be an absolute path` },
  },
} as const satisfies Record<string, Setting>;

/**
 * Environment variables that are not part of the configuration but tune one process: read through
 * adapters/config-loader.ts (`processSetting`), which is the only reader of the environment.
 */
export const PROCESS_SETTINGS = {
  config: { env: 'KEYROTOR_CONFIG', doc: 'the configuration file; unset: `keyrotor.config.json` in the project folder' },
  adminToken: { env: 'KEYROTOR_ADMIN_TOKEN', doc: 'registers this value as an admin API token (at least 24 characters)' },
  logLevel: { env: 'KEYROTOR_LOG_LEVEL', default: 'info', doc: 'API log level (pino)' },
  workerLogLevel: { env: 'KEYROTOR_WORKER_LOG_LEVEL', default: 'WARN', doc: 'Temporal worker log level' },
  workflowBundle: { env: 'KEYROTOR_WORKFLOW_BUNDLE', doc: 'a workflow bundle made by `keyrotor bundle-workflows`, loaded by control workers instead of bundling at start' },
  apiUrl: { env: 'KEYROTOR_API', doc: 'the API the commands call; unset: `http://127.0.0.1:<api.port>`' },
  apiToken: { env: 'KEYROTOR_TOKEN', doc: 'the API token the commands send' },
} as const satisfies Record<string, { env: string; default?: string; doc: string }>;

export type SettingName = keyof typeof SETTINGS;
export type ProcessSettingName = keyof typeof PROCESS_SETTINGS;

/** How messages name a setting: `VARIABLE / file.path`, or the one of them it has. */
export function settingLabel(setting: Setting): string {
  return [setting.env, setting.file].filter((part) => part !== undefined).join(' / ');
}

function shownDefault(setting: Setting): string {
  if (setting.shownDefault !== undefined) return setting.shownDefault;
  if (setting.type === 'duration') return `\`${formatDuration(setting.default)}\``;
  if (setting.type === 'integer') return `\`${setting.default}\``;
  if (setting.type === 'text' && setting.default !== undefined) return `\`${setting.default}\``;
  return '—';
}

function bounds(setting: Setting): string {
  if (setting.type === 'duration') return ` (${formatDuration(setting.min)} to ${formatDuration(setting.max)})`;
  if (setting.type === 'integer') return ` (${setting.min}–${setting.max})`;
  return '';
}

/** The README's table of one group of settings, as Markdown. */
export function settingsTable(readme: Setting['readme']): string {
  const rows = (Object.values(SETTINGS) as Setting[]).filter((setting) => setting.readme === readme).map((setting) => {
    const names = [setting.env, setting.file].filter((part) => part !== undefined).map((part) => `\`${part}\``).join(' / ');
    return `| ${names} | ${shownDefault(setting)} | ${setting.doc}${bounds(setting)} |`;
  });
  const process = readme === 'configuration'
    ? Object.values(PROCESS_SETTINGS).map((setting) => `| \`${setting.env}\` | ${'default' in setting ? `\`${setting.default}\`` : '—'} | ${setting.doc} |`)
    : [];
  return ['| variable / file setting | default | meaning |', '| --- | --- | --- |', ...rows, ...process].join('\n');
}

const GENERATED = /(<!-- settings:(configuration|entropy) \(generated from domain\/config-settings\.ts by `npm run docs:config`\) -->\n)[^]*?(\n<!-- \/settings -->)/g;

/** The README with its settings tables regenerated from the table; unchanged when it is up to date. */
export function readmeWithSettingsTables(readme: string): string {
  return readme.replace(GENERATED, (_match, opening: string, readmeTable: Setting['readme'], closing: string) => `${opening}${settingsTable(readmeTable)}${closing}`);
}
