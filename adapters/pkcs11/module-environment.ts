import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { moduleEnvKey, type HsmNodeConfig } from '../../domain/config';
import { ConfigError } from '../../domain/errors';

/**
 * The module environment every one of these nodes shares (empty when none sets one), or undefined when they differ.
 * A PKCS#11 module reads its environment once, at C_Initialize, so one process can drive only nodes that agree.
 */
export function sharedModuleEnv(nodes: HsmNodeConfig[]): Record<string, string> | undefined {
  const keys = new Set(nodes.map((node) => moduleEnvKey(node.moduleEnv)));
  if (keys.size > 1) return undefined;
  return { ...nodes[0]?.moduleEnv };
}

/** Names each node's module environment, for messages. */
export function describeModuleEnvs(nodes: HsmNodeConfig[]): string {
  return nodes.map((node) => `${node.id}: ${node.moduleEnv ? Object.entries(node.moduleEnv).map(([name, value]) => `${name}=${value}`).join(' ') : '(none)'}`).join('; ');
}

/**
 * Prepares this process to drive `nodes`: sets their module environment (it wins over the inherited one), then, when
 * SoftHSM still has no configuration, points it at the project's own token folder under the data folder. Must run
 * before the module is loaded.
 */
export function useModuleEnvironment(dataDir: string, nodes: HsmNodeConfig[]): void {
  const shared = sharedModuleEnv(nodes);
  if (!shared) {
    throw new ConfigError([`one process cannot drive nodes whose moduleEnv differ (${describeModuleEnvs(nodes)}); run one HSM worker per node (keyrotor worker hsm --node <id>)`]);
  }
  Object.assign(process.env, shared);
  if (process.env.SOFTHSM2_CONF || !nodes.some((node) => node.provision === 'softhsm')) return;
  const tokenDir = `${dataDir}/softhsm/tokens`;
  const confFile = `${dataDir}/softhsm/softhsm2.conf`;
  mkdirSync(dataDir, { recursive: true });
  // Only the SoftHSM folders are private; the data folder must stay traversable for the embedded PostgreSQL user.
  mkdirSync(`${dataDir}/softhsm`, { recursive: true, mode: 0o700 });
  mkdirSync(tokenDir, { recursive: true, mode: 0o700 });
  if (!existsSync(confFile)) {
    writeFileSync(confFile, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`, { mode: 0o600 });
  }
  process.env.SOFTHSM2_CONF = confFile;
}

/**
 * The environment this process's PKCS#11 modules read (useModuleEnvironment wrote into it), for a child process that
 * loads the module too (fresh-instance.ts). Handed on explicitly: a sandbox that gives code a process.env of its own
 * (jest's) does not give it to the children that code starts.
 */
export function moduleEnvironmentForChild(): NodeJS.ProcessEnv {
  return { ...process.env };
}
