import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports';
import { requireEnv, uniqueName } from './system';

export interface NpmStartPorts {
  api: number;
  pg: number;
  temporal: number;
  ui: number;
  metrics: number;
}

export interface NpmStartEnvironment {
  dataDir: string;
  ports: NpmStartPorts;
  env: Record<string, string | undefined>;
}

/**
 * The environment of `npm start` as a newcomer runs it, on embedded defaults: its own SoftHSM tokens, embedded
 * PostgreSQL and the Temporal dev server, all in a fresh data folder. Only the ports are moved (each to a free one), so
 * that it cannot clash with a running copy or with another test.
 */
export async function npmStartEnvironment(prefix: string): Promise<NpmStartEnvironment> {
  return npmStartEnvironmentIn(join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName(prefix)));
}

/** The same in a data folder of the caller's (the whole-system fault scenario keeps its own). */
export async function npmStartEnvironmentIn(dataDir: string): Promise<NpmStartEnvironment> {
  mkdirSync(dataDir, { recursive: true });
  const ports: NpmStartPorts = { api: await freePort(), pg: await freePort(), temporal: await freePort(), ui: await freePort(), metrics: await freePort() };
  const env = {
    ...process.env,
    // The embedded defaults: no external database, Temporal or SoftHSM configuration.
    DATABASE_URL: undefined,
    TEMPORAL_ADDRESS: undefined,
    SOFTHSM2_CONF: undefined,
    KEYROTOR_ADMIN_TOKEN: undefined,
    KEYROTOR_CONFIG: undefined,
    // A fresh clone bundles its workflow code at start (the test run's prebuilt bundle stays out).
    KEYROTOR_WORKFLOW_BUNDLE: undefined,
    KEYROTOR_DATA_DIR: dataDir,
    KEYROTOR_API_PORT: String(ports.api),
    KEYROTOR_PG_PORT: String(ports.pg),
    KEYROTOR_TEMPORAL_PORT: String(ports.temporal),
    KEYROTOR_TEMPORAL_UI_PORT: String(ports.ui),
    KEYROTOR_WORKER_METRICS_PORT: String(ports.metrics),
    // The first harvest assesses every source; 1,000,000 samples each would only slow the test down.
    KEYROTOR_ENTROPY_ASSESSMENT_SAMPLES: '20000',
  };
  return { dataDir, ports, env };
}

/** What `npm start` prints once it is ready: the first admin token, on a fresh data folder only. */
export const FIRST_ADMIN_TOKEN = /first admin API token \(shown once, stored only as a hash\): (kr_\S+)/;
export const READY = /Ctrl-C stops everything/;
