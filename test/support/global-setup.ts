import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../adapters/postgres/embedded';
import { startTemporalDevServer, type DevServerHandle } from '../../adapters/temporal/dev-server';
import { isAlive } from '../../adapters/processes';
import { freePort } from './ports';
import { softHsmFolder } from './softhsm-folder';
import { bundleTestWorkflows } from './workflow-bundle';

export const TEST_ROOT = resolve(__dirname, '../../.keyrotor-test');

declare global {
  var keyrotorTestServices: { postgres: EmbeddedPostgresHandle; temporal: DevServerHandle } | undefined;
}

/**
 * One real PostgreSQL and one real Temporal dev server for the whole integration run, in a fresh folder; each test file
 * makes its own database, token labels and node ids, so files never see each other's state.
 */
export default async function globalSetup(): Promise<void> {
  mkdirSync(TEST_ROOT, { recursive: true });
  // Folders of earlier runs go, but not those of a run still going on beside this one.
  for (const old of readdirSync(TEST_ROOT)) {
    const pid = Number(/^run-(\d+)$/.exec(old)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) continue;
    rmSync(join(TEST_ROOT, old), { recursive: true, force: true });
  }
  const runDir = join(TEST_ROOT, `run-${process.pid}`);
  const log = (message: string): void => {
    process.stderr.write(`[test services] ${message}\n`);
  };
  // The workflow code is bundled once for the run (webpack, seconds of CPU): every test file's control worker and
  // replay check, and every keyrotor process a test starts for the fault scenarios, loads this one file.
  mkdirSync(runDir, { recursive: true });
  const bundling = bundleTestWorkflows(join(runDir, 'workflow-bundle.js'));
  bundling.catch(() => undefined); // awaited below, after the servers start
  const postgres = await startEmbeddedPostgres(join(runDir, 'postgres-data'), await freePort(), log);
  const temporal = await startTemporalDevServer({ dataDir: join(runDir, 'temporal'), port: await freePort(), uiPort: await freePort(), namespace: 'default', log });
  const softhsmConf = softHsmFolder(join(runDir, 'softhsm'));
  process.env.KEYROTOR_TEST_RUN_DIR = runDir;
  // Test systems read it (testWorkflowBundle), and keyrotor processes the tests start load it as an image's control
  // worker does (npmStartEnvironment's, a newcomer's `npm start`, bundle at start).
  process.env.KEYROTOR_WORKFLOW_BUNDLE = await bundling;
  // The superuser: test files make their own databases and roles with it.
  process.env.KEYROTOR_TEST_DATABASE_URL = postgres.superuserUrl;
  process.env.KEYROTOR_TEST_TEMPORAL_ADDRESS = temporal.address;
  process.env.KEYROTOR_TEST_TEMPORAL_UI_URL = temporal.uiUrl;
  process.env.SOFTHSM2_CONF = softhsmConf;
  globalThis.keyrotorTestServices = { postgres, temporal };
}
