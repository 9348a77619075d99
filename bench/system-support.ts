import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { parseConfig, type KeyrotorConfig } from '../domain/config';
import { findSoftHsmModule, projectRoot } from '../scripts/tool-paths';
import { freePort } from '../test/support/ports';

/**
 * A fresh data folder and the default configuration (three SoftHSM nodes, embedded PostgreSQL, Temporal dev server) on
 * free ports, for a bench that starts the whole system. `api: 'listen'` gives the API a port of its own (benches that
 * measure over real HTTP); otherwise the API is only injected into.
 */
export async function benchSystemConfig(options: { api?: 'listen' | 'inject' } = {}): Promise<{ dataDir: string; config: KeyrotorConfig }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyrotor-bench-'));
  // The embedded PostgreSQL runs as the postgres user when this runs as root: it must be able to enter the folder.
  chmodSync(dataDir, 0o755);
  Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
  const config = parseConfig({
    env: {
      KEYROTOR_DATA_DIR: dataDir,
      KEYROTOR_API_PORT: options.api === 'listen' ? String(await freePort()) : '0',
      KEYROTOR_PG_PORT: String(await freePort()),
      KEYROTOR_TEMPORAL_PORT: String(await freePort()),
      KEYROTOR_TEMPORAL_UI_PORT: String(await freePort()),
    },
    file: undefined,
    projectRoot,
    softHsmModule: findSoftHsmModule() ?? '',
  });
  return { dataDir, config };
}
