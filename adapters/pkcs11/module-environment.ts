import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
 * SoftHSM still has no configuration, points it at the project's own token folder under the data folder, whose
 * token.object files it keeps (keepTokenObjects). Must run before the module is loaded.
 */
export function useModuleEnvironment(dataDir: string, nodes: HsmNodeConfig[]): void {
  const shared = sharedModuleEnv(nodes);
  if (!shared) {
    throw new ConfigError([`one process cannot drive nodes whose moduleEnv differ (${describeModuleEnvs(nodes)}); run one HSM worker per node (keyrotor worker hsm --node <id>)`]);
  }
  Object.assign(process.env, shared);
  const ownDir = `${dataDir}/softhsm`;
  const tokenDir = `${ownDir}/tokens`;
  const confFile = `${ownDir}/softhsm2.conf`;
  if (!process.env.SOFTHSM2_CONF && nodes.some((node) => node.provision === 'softhsm')) {
    mkdirSync(dataDir, { recursive: true });
    // Only the SoftHSM folders are private; the data folder must stay traversable for the embedded PostgreSQL user.
    mkdirSync(ownDir, { recursive: true, mode: 0o700 });
    mkdirSync(tokenDir, { recursive: true, mode: 0o700 });
    if (!existsSync(confFile)) {
      writeFileSync(confFile, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`, { mode: 0o600 });
    }
    process.env.SOFTHSM2_CONF = confFile;
  }
  keepOwnTokenObjects(dataDir);
}

/**
 * keepTokenObjects on the token folder keyrotor keeps for SoftHSM under the data folder, when this process uses it:
 * before the module loads (useModuleEnvironment), and once provisioning has made the tokens.
 */
export function keepOwnTokenObjects(dataDir: string): void {
  const ownDir = `${dataDir}/softhsm`;
  if (process.env.SOFTHSM2_CONF !== `${ownDir}/softhsm2.conf` || !existsSync(`${ownDir}/tokens`)) return;
  for (const restored of keepTokenObjects(`${ownDir}/tokens`, `${ownDir}/token-object-copies`)) {
    process.stderr.write(`keyrotor: SoftHSM token folder ${restored} had an empty token.object (a process killed while SoftHSM rewrote it); restored from the copy of an earlier start\n`);
  }
}

/**
 * SoftHSM 2.6.1's file store rewrites a token's token.object in place, truncated and then written, at events such as a
 * login. A process killed in between leaves it empty, and the token is unreadable: token.object holds the token's key,
 * wrapped under the PINs, that every object on it is encrypted with (the fault suite's group kill left one so, and
 * keyrotor then found that node without its cluster key). That key material changes only with the PINs (C_InitToken,
 * C_InitPIN, C_SetPIN; keyrotor sets them once, at provisioning), so a copy of the file from an earlier start restores
 * the token; its flags and generation counter from then are harmless. Run before the module loads: an empty
 * token.object with a copy is restored, and a good one is copied (written aside and renamed, so a copy is never
 * half-written). Answers the token folders restored.
 */
export function keepTokenObjects(tokenDir: string, copyDir: string): string[] {
  const restored: string[] = [];
  mkdirSync(copyDir, { recursive: true, mode: 0o700 });
  for (const folder of readdirSync(tokenDir)) {
    const file = join(tokenDir, folder, 'token.object');
    const copy = join(copyDir, folder);
    if (!existsSync(file)) continue;
    const content = readFileSync(file);
    if (content.length === 0) {
      if (!existsSync(copy)) continue;
      writeFileSync(`${file}.restoring`, readFileSync(copy), { mode: statSync(file).mode & 0o777 });
      renameSync(`${file}.restoring`, file);
      restored.push(folder);
    } else if (!existsSync(copy) || !readFileSync(copy).equals(content)) {
      writeFileSync(`${copy}.new`, content, { mode: 0o600 });
      renameSync(`${copy}.new`, copy);
    }
  }
  return restored;
}

/**
 * The environment this process's PKCS#11 modules read (useModuleEnvironment wrote into it), for a child process that
 * loads the module too (fresh-instance.ts). Handed on explicitly: a sandbox that gives code a process.env of its own
 * (jest's) does not give it to the children that code starts.
 */
export function moduleEnvironmentForChild(): NodeJS.ProcessEnv {
  return { ...process.env };
}
