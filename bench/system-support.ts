import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createToken } from '../adapters/postgres/token-repository';
import { parseConfig, type KeyrotorConfig } from '../domain/config';
import { findSoftHsmModule, projectRoot } from '../scripts/tool-paths';
import type { RunningSystem } from '../workers/system';
import { freePort } from '../test/support/ports';

/**
 * A fresh data folder and the default configuration (three SoftHSM nodes, embedded PostgreSQL, Temporal dev server) on
 * free ports, for a bench that starts the whole system. `api: 'listen'` gives the API a port of its own (benches that
 * measure over real HTTP); otherwise the API is only injected into. `env` adds settings (KEYROTOR_… variables).
 */
export async function benchSystemConfig(options: { api?: 'listen' | 'inject'; env?: Record<string, string> } = {}): Promise<{ dataDir: string; config: KeyrotorConfig }> {
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
      ...options.env,
    },
    file: undefined,
    projectRoot,
    softHsmModule: findSoftHsmModule() ?? '',
  });
  return { dataDir, config };
}

export type ApiCall = (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) => Promise<Record<string, unknown>>;

/** A new operator token, and calls to the system's API with it (injected, no port); a reply of 300 or more throws with its body. */
export async function operatorApi(system: RunningSystem): Promise<{ token: string; call: ApiCall }> {
  const { token } = await createToken(system.db, { name: 'bench', role: 'operator', actor: 'bench' });
  const call: ApiCall = async (method, url, payload) => {
    const reply = await system.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });
    if (reply.statusCode >= 300) throw new Error(`${method} ${url}: ${reply.statusCode} ${reply.body}`);
    return reply.json<Record<string, unknown>>();
  };
  return { token, call };
}

/** Creates the keys (`request` is the rest of each POST /keys body) and waits until each has an active version: its kid. */
export async function createActiveKeys(call: ApiCall, names: string[], request: Record<string, unknown>): Promise<Array<{ name: string; kid: string }>> {
  await Promise.all(names.map((name) => call('POST', '/keys', { name, ...request })));
  const keys: Array<{ name: string; kid: string }> = [];
  for (const name of names) {
    for (;;) {
      const key = await call('GET', `/keys/${name}`);
      const kid = (key.versions as Array<{ kid: string; state: string }>).find((v) => v.state === 'active')?.kid;
      if (kid) {
        keys.push({ name, kid });
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return keys;
}
