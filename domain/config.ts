import { SETTINGS, settingLabel, type Setting, type SettingName } from './config-settings';
import { ConfigError, UserError } from './errors';
import { isCleanText } from './input-bounds';
import { formatDuration, parseDuration } from './keys/durations';
import { SENSITIVITY_CLASS_PATTERN } from './keys/policy';
import { DEFAULT_CLASS_MISMATCH_PENALTY, DEFAULT_RISK_WEIGHTS, DEFAULT_SENSITIVITY_WEIGHTS, RISK_COMPONENTS, type RiskWeights } from './prediction/risk';
import { ACCESS_LOG_FORMATS, isKnownTimeZone, type AccessLogFormat } from './usage/access-log';
import { USAGE_FIELD_BOUNDS } from './usage/events';
import { checkWebhookUrl, parseAllowedTarget, type AllowedTarget } from './webhook-target';

/** Where a secret comes from. The value itself never appears in the configuration. */
export type SecretSource = { env: string } | { file: string };

export interface HsmNodeConfig {
  id: string;
  /** Path of the PKCS#11 module (SoftHSM, Luna, nShield, CloudHSM, YubiHSM…). */
  modulePath: string;
  tokenLabel: string;
  pin: SecretSource;
  /** `softhsm`: keyrotor creates the token, its PINs and the KEK. `none`: the token and KEK must already exist. */
  provision: 'softhsm' | 'none';
  /** Security Officer PIN, needed only to put the cluster KEK on the token. */
  soPin?: SecretSource;
  /** PKCS#11 sessions the node's worker keeps open (one per in-flight operation). */
  sessionPoolSize: number;
  /**
   * Environment the node's PKCS#11 module reads when it is initialised (SOFTHSM2_CONF, ChrystokiConfigurationPath,
   * YUBIHSM_PKCS11_CONF…), set before the module loads in every process that drives this node; it wins over the
   * process's own environment. Never a PIN: those come from `pin` and `soPin`.
   */
  moduleEnv?: Record<string, string>;
}

export interface AlertWebhookConfig {
  id: string;
  url: string;
  /** HMAC-SHA256 key for the signature header. */
  secret: SecretSource;
}

export interface EntropyConfig {
  /** How often each node's entropyHarvest schedule runs. */
  harvestIntervalSeconds: number;
  /** Samples drawn from each source per harvest. */
  samplesPerSource: number;
  /** Fresh samples per source for the SP 800-90B assessment (section 6.3 asks for 1,000,000). */
  assessmentSamples: number;
  assessmentIntervalHours: number;
  /** Below this many credited bits in a node's pool, an alert, and key generation follows each key's entropy policy. */
  minimumCreditedBits: number;
  /** Bits of DRBG output the SP 800-22 battery tests at each harvest. */
  batteryBits: number;
  /** An extra noise device read on every node (for example /dev/hwrng). */
  devicePath?: string;
}

export interface PredictionConfig {
  /** How far each risk component alone can take the risk score (0–1 each; see domain/prediction/risk.ts). */
  riskWeights: RiskWeights;
  /** Data classes and how sensitive each is (0–1). A key's policy and each usage event name one of these. */
  sensitivityWeights: Record<string, number>;
  /** Added to the sensitivity when a key is used for data of a class above its own. */
  classMismatchPenalty: number;
  /** How often the global forecast model is retrained (the forecastModelRetrain schedule). */
  retrainIntervalHours: number;
  /** The latest hours the anomaly detector judges at each evaluation. */
  anomalyWindowHours: number;
  /**
   * How long risk evaluations are kept. Older ones are deleted by the hourly usage-retention run, except each key's
   * newest and those a version's lineage names as the evidence of its rotation.
   */
  evaluationRetentionMs: number;
}

export interface ThreatIntelConfig {
  /** A JSON feed of indicators pulled by the `threat-intel-feed` schedule; none: no schedule. */
  feedUrl?: string;
  feedIntervalMs: number;
  /** Sent as `Authorization: Bearer …` to the feed. */
  feedToken?: SecretSource;
}

export interface WebhooksConfig {
  /**
   * Internal receivers that subscriptions and alert sinks may reach on purpose (networks, addresses, host names, each
   * with an optional port). Everything else internal is refused (domain/webhook-target.ts).
   */
  allowedTargets: AllowedTarget[];
}

export interface UsageConfig {
  /** How long raw usage events are kept; the hourly aggregates stay. */
  rawRetentionMs: number;
  /** HSM access logs, each read on its node by the `access-logs-<node>` schedule. */
  accessLogs: AccessLogSource[];
  accessLogIntervalMs: number;
}

/** One application's PKCS#11 access log on one node: what the HSM saw that application do. */
export interface AccessLogSource {
  /** Absolute path on the node's HSM worker machine. */
  path: string;
  /** The application the file's uses are attributed to. */
  app: string;
  node: string;
  format: AccessLogFormat;
  /** The IANA zone of the log's local times (the spy writes local time without a zone); default UTC. */
  timeZone?: string;
}

export interface KeyrotorConfig {
  dataDir: string;
  api: { host: string; port: number };
  database: {
    /** The server the application connects to, as a role that owns nothing; unset: embedded PostgreSQL. */
    url?: string;
    /** The role that owns the schema and runs the migrations; unset with `url`: `url`'s role does both. */
    ownerUrl?: string;
    embeddedPort: number;
  };
  temporal: {
    address?: string;
    namespace: string;
    /**
     * The task queue of the control worker: every workflow and every activity that is not a PKCS#11 call. Two keyrotor
     * deployments sharing one namespace need different queues (and different node ids).
     */
    controlTaskQueue: string;
    devServerPort: number;
    uiPort: number;
    /** Where operators open the Temporal Web UI (the dashboard links each key's workflow there). */
    webUiUrl?: string;
    /** mTLS to a Temporal cluster (Temporal Cloud or self-hosted): PEM files. */
    tls?: { clientCertFile: string; clientKeyFile: string; serverCaFile?: string; serverName?: string };
  };
  workerMetricsPort: number;
  hsm: { nodes: HsmNodeConfig[]; pingTimeoutMs: number };
  alerts: { webhooks: AlertWebhookConfig[] };
  webhooks: WebhooksConfig;
  entropy: EntropyConfig;
  prediction: PredictionConfig;
  threatIntel: ThreatIntelConfig;
  usage: UsageConfig;
  shutdownGraceMs: number;
}

export interface ConfigInputs {
  env: Record<string, string | undefined>;
  /** Parsed keyrotor.config.json, or undefined when there is none. */
  file: unknown;
  /** Where the file came from, for messages. */
  fileName?: string;
  projectRoot: string;
  /** The SoftHSM module found on this machine, used for the default nodes. */
  softHsmModule?: string;
}

/** An HSM node id: it names task queues (hsm.<id>) and appears in URLs. */
export const NODE_ID = /^[a-z0-9][a-z0-9-]{0,30}$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type Settings = typeof SETTINGS;
/** The value a setting of the table parses to. */
type ValueOf<N extends SettingName> = Settings[N] extends { type: 'integer' | 'duration' } ? number
  : Settings[N] extends { type: 'text'; default: string } ? string
  : Settings[N] extends { type: 'text' } ? string | undefined
  : never;
type ScalarName = { [N in SettingName]: Settings[N] extends { type: 'structured' } ? never : N }[SettingName];
type Values = { [N in ScalarName]: ValueOf<N> };
type ScalarSetting = Exclude<Setting, { type: 'structured' }>;

const settingsOf = (): Array<[SettingName, Setting]> => Object.entries(SETTINGS) as Array<[SettingName, Setting]>;

/** The names the file may use at its top level, or inside one section of it, in the table's order. */
function knownFileKeys(section?: string): string[] {
  const keys = settingsOf().flatMap(([, setting]) => {
    if (setting.file === undefined) return [];
    const path = setting.file.split('.');
    if (section === undefined) return [path[0] as string];
    return path[0] === section && path.length > 1 ? [path[1] as string] : [];
  });
  return [...new Set(keys)];
}

/** Reads one scalar setting: the variable wins over the file, an empty variable means the default. */
function readSetting(setting: ScalarSetting, env: ConfigInputs['env'], fileValue: unknown, problems: string[]): number | string | undefined {
  const label = settingLabel(setting);
  const raw = (setting.env === undefined ? undefined : env[setting.env]) ?? fileValue;
  const unset = raw === undefined || raw === '';
  switch (setting.type) {
    case 'integer': {
      if (unset) return setting.default;
      const value = typeof raw === 'number' ? raw : Number(raw);
      if (!Number.isInteger(value) || value < setting.min || value > setting.max) {
        problems.push(`${label}: ${JSON.stringify(raw)} is not a whole number from ${setting.min} to ${setting.max}`);
        return setting.default;
      }
      return value;
    }
    case 'duration': {
      if (unset) return setting.default;
      if (typeof raw !== 'string') {
        problems.push(`${label}: ${JSON.stringify(raw)} is not a duration such as "15m" or "30d"`);
        return setting.default;
      }
      let ms: number;
      try {
        ms = parseDuration(raw, label);
      } catch (error) {
        problems.push(error instanceof UserError ? error.message : String(error));
        return setting.default;
      }
      if (ms < setting.min || ms > setting.max) {
        problems.push(`${label}: '${raw}' must be from ${formatDuration(setting.min)} to ${formatDuration(setting.max)}`);
        return setting.default;
      }
      return ms;
    }
    case 'text': {
      let value: string | undefined;
      if (unset) value = undefined;
      else if (typeof raw !== 'string') problems.push(`${label}: must be a string`);
      else value = raw;
      value ??= setting.default;
      if (value !== undefined && setting.check && !setting.check.test(value)) problems.push(`${label}: ${setting.check.problem(value)}`);
      return value;
    }
  }
}

/**
 * Builds the validated configuration from environment variables (which win) and the optional file, as the table in
 * domain/config-settings.ts describes it. Every problem is collected, so one failed start lists all of them: texts and
 * structured settings first, then numbers and durations.
 */
export function parseConfig(inputs: ConfigInputs): KeyrotorConfig {
  const problems: string[] = [];
  const where = inputs.fileName ?? 'keyrotor.config.json';
  const file: Json = inputs.file === undefined ? {} : isObject(inputs.file) ? inputs.file : {};
  if (inputs.file !== undefined && !isObject(inputs.file)) problems.push(`${where}: must hold a JSON object`);
  const topLevel = knownFileKeys();
  for (const key of Object.keys(file)) {
    if (!topLevel.includes(key)) problems.push(`${where}: unknown setting '${key}' (known: ${topLevel.join(', ')})`);
  }
  const sections: Record<string, Json> = {};
  for (const name of ['api', 'database', 'temporal', 'hsm', 'alerts', 'entropy', 'threatIntel', 'prediction', 'usage', 'webhooks']) {
    const value = file[name];
    if (value !== undefined && !isObject(value)) problems.push(`${where}: '${name}' must be an object`);
    sections[name] = isObject(value) ? value : {};
  }
  // Only these sections are checked for names the table does not know; the prediction section names its own.
  for (const name of ['threatIntel', 'usage', 'webhooks']) {
    const known = knownFileKeys(name);
    for (const key of Object.keys(sections[name] as Json)) {
      if (!known.includes(key)) problems.push(`${where}: unknown setting '${name}.${key}' (known: ${known.join(', ')})`);
    }
  }
  const fileValue = (path: string): unknown => {
    const [section, ...rest] = path.split('.');
    let value: unknown = rest.length === 0 ? file[section as string] : sections[section as string];
    for (const part of rest) value = isObject(value) ? value[part] : undefined;
    return value;
  };

  const values: Partial<Record<ScalarName, number | string | undefined>> = {};
  const scalars = settingsOf().filter((entry): entry is [ScalarName, ScalarSetting] => entry[1].type !== 'structured');
  for (const [name, setting] of scalars) {
    if (setting.type === 'text') values[name] = readSetting(setting, inputs.env, setting.file === undefined ? undefined : fileValue(setting.file), problems);
  }
  // Only the texts are read yet.
  const text = values as Values;
  const dataDir = resolvePath(inputs.projectRoot, text.dataDir);
  const allowedTargets = parseAllowedTargets(inputs.env[SETTINGS.allowedTargets.env], sections.webhooks?.allowedTargets, problems);
  const threatIntel = sections.threatIntel as Json;
  const feedToken = threatIntel.feedToken === undefined ? undefined : parseSecretSource(threatIntel.feedToken, 'threatIntel.feedToken', dataDir, problems);
  if (feedToken !== undefined && text.feedUrl === undefined) problems.push('threatIntel.feedToken: is sent to the feed, but no threatIntel.feedUrl is set');
  if (text.databaseOwnerUrl !== undefined && text.databaseUrl === undefined) {
    problems.push(`${settingLabel(SETTINGS.databaseOwnerUrl)}: goes with DATABASE_URL (the application role); the embedded PostgreSQL makes both roles itself`);
  }
  const { tlsClientCertFile: clientCertFile, tlsClientKeyFile: clientKeyFile, tlsServerCaFile: serverCaFile, tlsServerName: serverName } = text;
  if ((clientCertFile === undefined) !== (clientKeyFile === undefined)) {
    problems.push(`${SETTINGS.tlsClientCertFile.env} and ${SETTINGS.tlsClientKeyFile.env} go together: set both for mTLS, or neither`);
  }
  const nodes = parseNodes(sections.hsm?.nodes, where, dataDir, inputs.softHsmModule, problems);
  const webhooks = parseWebhooks(sections.alerts?.webhooks, where, dataDir, allowedTargets, problems);
  const weights = parsePredictionWeights(sections.prediction as Json, problems);
  const accessLogs = parseAccessLogs(sections.usage?.accessLogs, nodes.map((node) => node.id), problems);

  for (const [name, setting] of scalars) {
    if (setting.type !== 'text') values[name] = readSetting(setting, inputs.env, setting.file === undefined ? undefined : fileValue(setting.file), problems);
  }
  const value = values as Values;
  const { databaseUrl, databaseOwnerUrl, temporalAddress, webUiUrl, feedUrl, devicePath } = value;

  const config: KeyrotorConfig = {
    dataDir,
    api: { host: value.apiHost, port: value.apiPort },
    database: {
      ...(databaseUrl !== undefined ? { url: databaseUrl } : {}),
      ...(databaseOwnerUrl !== undefined && databaseUrl !== undefined ? { ownerUrl: databaseOwnerUrl } : {}),
      embeddedPort: value.embeddedPort,
    },
    temporal: {
      ...(temporalAddress !== undefined ? { address: temporalAddress } : {}),
      namespace: value.temporalNamespace,
      controlTaskQueue: value.controlTaskQueue,
      devServerPort: value.devServerPort,
      uiPort: value.uiPort,
      ...(webUiUrl !== undefined ? { webUiUrl: webUiUrl.replace(/\/+$/, '') } : {}),
      ...(clientCertFile && clientKeyFile
        ? { tls: { clientCertFile, clientKeyFile, ...(serverCaFile ? { serverCaFile } : {}), ...(serverName ? { serverName } : {}) } }
        : {}),
    },
    workerMetricsPort: value.workerMetricsPort,
    hsm: { nodes, pingTimeoutMs: value.pingTimeoutMs },
    alerts: { webhooks },
    webhooks: { allowedTargets },
    entropy: {
      harvestIntervalSeconds: value.harvestIntervalSeconds,
      samplesPerSource: value.samplesPerSource,
      assessmentSamples: value.assessmentSamples,
      assessmentIntervalHours: value.assessmentIntervalHours,
      minimumCreditedBits: value.minimumCreditedBits,
      batteryBits: value.batteryBits,
      ...(devicePath !== undefined ? { devicePath } : {}),
    },
    prediction: {
      ...weights,
      retrainIntervalHours: value.retrainIntervalHours,
      anomalyWindowHours: value.anomalyWindowHours,
      evaluationRetentionMs: value.evaluationRetention,
    },
    threatIntel: {
      ...(feedUrl !== undefined ? { feedUrl } : {}),
      feedIntervalMs: value.feedInterval,
      ...(feedToken !== undefined ? { feedToken } : {}),
    },
    usage: { rawRetentionMs: value.rawRetention, accessLogs, accessLogIntervalMs: value.accessLogInterval },
    shutdownGraceMs: value.shutdownGraceMs,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

const ACCESS_LOG_KEYS = ['path', 'app', 'node', 'format', 'timeZone'];

function parseAccessLogs(raw: unknown, nodeIds: string[], problems: string[]): AccessLogSource[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    problems.push('usage.accessLogs: must be an array of {path, app, node, format, timeZone}');
    return [];
  }
  const sources: AccessLogSource[] = [];
  const seenPaths = new Map<string, number>();
  raw.forEach((entry: unknown, index) => {
    const label = `usage.accessLogs[${index}]`;
    if (!isObject(entry)) {
      problems.push(`${label}: must be an object`);
      return;
    }
    const before = problems.length;
    for (const key of Object.keys(entry)) if (!ACCESS_LOG_KEYS.includes(key)) problems.push(`${label}: unknown setting '${key}' (known: ${ACCESS_LOG_KEYS.join(', ')})`);
    const { path, app, node, format, timeZone } = entry;
    if (typeof path !== 'string' || !path.startsWith('/') || !isCleanText(path, 4096)) problems.push(`${label}: path must be an absolute path`);
    else if (seenPaths.has(path)) problems.push(`${label}: path '${path}' is also usage.accessLogs[${seenPaths.get(path) ?? 0}]; one file is one application's log`);
    else seenPaths.set(path, index);
    if (!isCleanText(app, USAGE_FIELD_BOUNDS.app)) problems.push(`${label}: app must name the application (1–${USAGE_FIELD_BOUNDS.app} characters of text)`);
    if (typeof node !== 'string' || !nodeIds.includes(node)) problems.push(`${label}: node must be one of the configured nodes (${nodeIds.join(', ')})`);
    const formatOk = (ACCESS_LOG_FORMATS as readonly unknown[]).includes(format);
    if (!formatOk) problems.push(`${label}: format must be one of ${ACCESS_LOG_FORMATS.join(', ')}`);
    if (timeZone !== undefined && (typeof timeZone !== 'string' || !isKnownTimeZone(timeZone))) problems.push(`${label}: timeZone must be an IANA time zone such as "Europe/Paris"`);
    if (problems.length > before) return;
    sources.push({ path: path as string, app: app as string, node: node as string, format: format as AccessLogFormat, ...(typeof timeZone === 'string' ? { timeZone } : {}) });
  });
  return sources;
}

/** The prediction section's tables, which the setting table lists as structured; it names unknown settings itself. */
function parsePredictionWeights(raw: Json, problems: string[]): Pick<PredictionConfig, 'riskWeights' | 'sensitivityWeights' | 'classMismatchPenalty'> {
  const known = knownFileKeys('prediction');
  for (const key of Object.keys(raw)) if (!known.includes(key)) problems.push(`prediction.${key}: unknown setting (known: ${known.join(', ')})`);
  const weightTable = (label: string, value: unknown, allowed: readonly string[] | null): Record<string, number> => {
    if (value === undefined) return {};
    if (!isObject(value)) {
      problems.push(`${label}: must be an object of name → number from 0 to 1`);
      return {};
    }
    const table: Record<string, number> = {};
    for (const [name, weight] of Object.entries(value)) {
      if (allowed !== null && !allowed.includes(name)) problems.push(`${label}.${name}: unknown (known: ${allowed.join(', ')})`);
      else if (allowed === null && !SENSITIVITY_CLASS_PATTERN.test(name)) problems.push(`${label}.${name}: a data class name is lower-case letters, digits and '-'`);
      else if (typeof weight !== 'number' || !(weight >= 0 && weight <= 1)) problems.push(`${label}.${name}: must be a number from 0 to 1`);
      else table[name] = weight;
    }
    return table;
  };
  const penalty = raw.classMismatchPenalty ?? DEFAULT_CLASS_MISMATCH_PENALTY;
  if (typeof penalty !== 'number' || !(penalty >= 0 && penalty <= 1)) problems.push('prediction.classMismatchPenalty: must be a number from 0 to 1');
  return {
    riskWeights: { ...DEFAULT_RISK_WEIGHTS, ...weightTable('prediction.riskWeights', raw.riskWeights, RISK_COMPONENTS) },
    // A configured table replaces the default one: classes a deployment does not use should not be accepted.
    sensitivityWeights: raw.sensitivityWeights === undefined ? { ...DEFAULT_SENSITIVITY_WEIGHTS } : weightTable('prediction.sensitivityWeights', raw.sensitivityWeights, null),
    classMismatchPenalty: typeof penalty === 'number' ? penalty : DEFAULT_CLASS_MISMATCH_PENALTY,
  };
}

function resolvePath(root: string, value: string): string {
  if (value.startsWith('/')) return value;
  return `${root.replace(/\/+$/, '')}/${value.replace(/^\.\//, '')}`;
}

function defaultNodes(dataDir: string, softHsmModule: string | undefined, problems: string[]): HsmNodeConfig[] {
  if (softHsmModule === undefined) {
    problems.push('hsm.nodes: no nodes are configured and SoftHSMv2 is not installed; run `npm start` (it installs softhsm2) or configure hsm.nodes');
    return [];
  }
  return ['hsm-1', 'hsm-2', 'hsm-3'].map((id) => ({
    id,
    modulePath: softHsmModule,
    tokenLabel: `keyrotor-${id}`,
    pin: { file: `${dataDir}/secrets/${id}.pin` },
    soPin: { file: `${dataDir}/secrets/${id}.so-pin` },
    provision: 'softhsm' as const,
    sessionPoolSize: 4,
  }));
}

function parseSecretSource(value: unknown, label: string, dataDir: string, problems: string[]): SecretSource | undefined {
  if (!isObject(value)) {
    problems.push(`${label}: must be {"env": "VARIABLE"} or {"file": "/path"} (the secret itself never goes in the configuration)`);
    return undefined;
  }
  const keys = Object.keys(value);
  if (keys.length === 1 && typeof value.env === 'string') {
    if (!ENV_NAME.test(value.env)) problems.push(`${label}.env: '${value.env}' is not an environment variable name`);
    return { env: value.env };
  }
  if (keys.length === 1 && typeof value.file === 'string' && value.file.length > 0) {
    return { file: resolvePath(dataDir, value.file) };
  }
  problems.push(`${label}: must be {"env": "VARIABLE"} or {"file": "/path"}, nothing else`);
  return undefined;
}

const NODE_KEYS = ['id', 'modulePath', 'tokenLabel', 'pin', 'soPin', 'provision', 'sessionPoolSize', 'moduleEnv'];
// Variables keyrotor reads itself, and names that would put a secret into the configuration file.
const RESERVED_MODULE_ENV = /^(KEYROTOR_|TEMPORAL_|DATABASE_URL$)/;
const SECRET_LIKE_ENV = /(^|_)(PIN|PASSWORD|PASSPHRASE|SECRET)(_|$)/;

function parseModuleEnv(raw: unknown, named: string, secretNames: string[], problems: string[]): Record<string, string> | undefined {
  if (raw === undefined) return undefined;
  if (!isObject(raw)) {
    problems.push(`${named}.moduleEnv: must be an object of environment variables for the PKCS#11 module, for example {"SOFTHSM2_CONF": "/etc/keyrotor/softhsm/hsm-1.conf"}`);
    return undefined;
  }
  const moduleEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    const where = `${named}.moduleEnv.${name}`;
    if (!ENV_NAME.test(name)) problems.push(`${where}: '${name}' is not an environment variable name`);
    else if (RESERVED_MODULE_ENV.test(name)) problems.push(`${where}: keyrotor reads ${name} itself; set it for the whole process, not for one node`);
    else if (SECRET_LIKE_ENV.test(name) || secretNames.includes(name)) problems.push(`${where}: looks like a secret, which never goes in the configuration; PINs come from the node's pin and soPin sources`);
    if (typeof value !== 'string' || value === '') problems.push(`${where}: must be a non-empty string`);
    else moduleEnv[name] = value;
  }
  return Object.keys(moduleEnv).length > 0 ? moduleEnv : undefined;
}

/** A stable text form of a module environment, so that equal environments compare equal. */
export function moduleEnvKey(moduleEnv: Record<string, string> | undefined): string {
  return JSON.stringify(Object.entries(moduleEnv ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function parseNodes(raw: unknown, where: string, dataDir: string, softHsmModule: string | undefined, problems: string[]): HsmNodeConfig[] {
  if (raw === undefined) return defaultNodes(dataDir, softHsmModule, problems);
  if (!Array.isArray(raw) || raw.length === 0) {
    problems.push(`${where}: hsm.nodes must be a non-empty array`);
    return [];
  }
  const nodes: HsmNodeConfig[] = [];
  const seenIds = new Map<string, number>();
  const seenTokens = new Map<string, string>();
  raw.forEach((entry: unknown, index) => {
    const label = `hsm.nodes[${index}]`;
    if (!isObject(entry)) {
      problems.push(`${label}: must be an object`);
      return;
    }
    const id = typeof entry.id === 'string' ? entry.id : '';
    const named = id ? `${label} (node '${id}')` : label;
    for (const key of Object.keys(entry)) {
      if (!NODE_KEYS.includes(key)) problems.push(`${named}: unknown setting '${key}' (known: ${NODE_KEYS.join(', ')})`);
    }
    if (!NODE_ID.test(id)) problems.push(`${named}: id must be 1–31 of a-z, 0-9 and '-', starting with a letter or digit`);
    const previous = seenIds.get(id);
    if (id && previous !== undefined) {
      problems.push(`${named}: duplicate node id '${id}' (also hsm.nodes[${previous}]); give every node its own id`);
    }
    seenIds.set(id, index);
    const provision = entry.provision ?? 'softhsm';
    if (provision !== 'softhsm' && provision !== 'none') problems.push(`${named}: provision must be "softhsm" or "none"`);
    const modulePath = typeof entry.modulePath === 'string' && entry.modulePath ? entry.modulePath : softHsmModule;
    if (!modulePath) problems.push(`${named}: modulePath is required (the PKCS#11 library, for example /usr/lib/softhsm/libsofthsm2.so)`);
    else if (!modulePath.startsWith('/')) problems.push(`${named}: modulePath '${modulePath}' must be an absolute path`);
    const tokenLabel = typeof entry.tokenLabel === 'string' ? entry.tokenLabel : `keyrotor-${id}`;
    if (tokenLabel.length === 0 || Buffer.byteLength(tokenLabel) > 32) problems.push(`${named}: tokenLabel must be 1–32 bytes (a PKCS#11 limit)`);
    const secretNames = [entry.pin, entry.soPin].flatMap((source) => (isObject(source) && typeof source.env === 'string' ? [source.env] : []));
    const moduleEnv = parseModuleEnv(entry.moduleEnv, named, secretNames, problems);
    // Nodes with different module environments (SoftHSM token folders, for one) may carry the same label.
    const tokenKey = `${modulePath}\u0000${moduleEnvKey(moduleEnv)}\u0000${tokenLabel}`;
    const tokenOwner = seenTokens.get(tokenKey);
    if (tokenOwner !== undefined) problems.push(`${named}: token '${tokenLabel}' is already used by node '${tokenOwner}'; each node needs its own token`);
    seenTokens.set(tokenKey, id);
    const pin = entry.pin === undefined && provision === 'softhsm'
      ? { file: `${dataDir}/secrets/${id}.pin` }
      : parseSecretSource(entry.pin, `${named}.pin`, dataDir, problems);
    const soPin = entry.soPin === undefined
      ? provision === 'softhsm' ? { file: `${dataDir}/secrets/${id}.so-pin` } : undefined
      : parseSecretSource(entry.soPin, `${named}.soPin`, dataDir, problems);
    const poolSize = entry.sessionPoolSize ?? 4;
    if (typeof poolSize !== 'number' || !Number.isInteger(poolSize) || poolSize < 1 || poolSize > 64) {
      problems.push(`${named}: sessionPoolSize must be a whole number from 1 to 64`);
    }
    if (pin && modulePath) {
      nodes.push({
        id,
        modulePath,
        tokenLabel,
        pin,
        provision: provision === 'none' ? 'none' : 'softhsm',
        ...(soPin ? { soPin } : {}),
        sessionPoolSize: typeof poolSize === 'number' ? poolSize : 4,
        ...(moduleEnv ? { moduleEnv } : {}),
      });
    }
  });
  return nodes;
}

/** The webhook allowlist: `KEYROTOR_WEBHOOK_ALLOW` (entries separated by commas or spaces) or `webhooks.allowedTargets`. */
function parseAllowedTargets(envValue: string | undefined, fileValue: unknown, problems: string[]): AllowedTarget[] {
  const label = envValue !== undefined && envValue !== '' ? SETTINGS.allowedTargets.env : SETTINGS.allowedTargets.file;
  let entries: unknown[];
  if (envValue !== undefined && envValue !== '') entries = envValue.split(/[\s,]+/).filter((entry) => entry !== '');
  else if (fileValue === undefined) return [];
  else if (Array.isArray(fileValue)) entries = fileValue;
  else {
    problems.push('webhooks.allowedTargets: must be an array such as ["10.0.0.0/8", "hooks.internal:8443"]');
    return [];
  }
  const allowed: AllowedTarget[] = [];
  entries.forEach((entry, index) => {
    if (typeof entry !== 'string') {
      problems.push(`${label}[${index}]: must be a string`);
      return;
    }
    const parsed = parseAllowedTarget(entry);
    if ('problem' in parsed) problems.push(`${label}: ${parsed.problem}`);
    else allowed.push(parsed);
  });
  return allowed;
}

function parseWebhooks(raw: unknown, where: string, dataDir: string, allowedTargets: readonly AllowedTarget[], problems: string[]): AlertWebhookConfig[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    problems.push(`${where}: alerts.webhooks must be an array`);
    return [];
  }
  const hooks: AlertWebhookConfig[] = [];
  const ids = new Set<string>();
  raw.forEach((entry: unknown, index) => {
    const label = `alerts.webhooks[${index}]`;
    if (!isObject(entry)) {
      problems.push(`${label}: must be an object {id, url, secret}`);
      return;
    }
    const id = typeof entry.id === 'string' ? entry.id : '';
    if (!NODE_ID.test(id)) problems.push(`${label}: id must be 1–31 of a-z, 0-9 and '-'`);
    if (ids.has(id)) problems.push(`${label}: duplicate webhook id '${id}'`);
    ids.add(id);
    const url = typeof entry.url === 'string' ? entry.url : '';
    const target = checkWebhookUrl(url, allowedTargets);
    if (!/^https?:\/\/[^\s]+$/.test(url)) problems.push(`${label}: url must be an http:// or https:// URL`);
    else if (!target.ok) problems.push(`${label}: url ${url} is refused as a webhook target: ${target.reason}`);
    const secret = parseSecretSource(entry.secret, `${label}.secret`, dataDir, problems);
    if (secret) hooks.push({ id, url, secret });
  });
  return hooks;
}

/**
 * The Temporal Web UI operators can open: the configured one, else the dev server's own UI when keyrotor runs the dev
 * server (it listens on 127.0.0.1), else none (an external cluster whose UI address keyrotor cannot know).
 */
export function temporalWebUiUrl(config: KeyrotorConfig): string | null {
  if (config.temporal.webUiUrl) return config.temporal.webUiUrl;
  return config.temporal.address ? null : `http://127.0.0.1:${config.temporal.uiPort}`;
}
