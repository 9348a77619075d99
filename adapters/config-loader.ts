import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseConfig, type KeyrotorConfig } from '../domain/config';
import { ConfigError } from '../domain/errors';
import { findSoftHsmModule, projectRoot } from '../scripts/tool-paths';

/** Reads keyrotor.config.json (or $KEYROTOR_CONFIG) and the environment into one validated configuration. */
export function loadConfig(env: Record<string, string | undefined> = process.env): KeyrotorConfig {
  const explicit = env.KEYROTOR_CONFIG;
  const fileName = explicit ? resolve(explicit) : resolve(projectRoot, 'keyrotor.config.json');
  let file: unknown;
  if (existsSync(fileName)) {
    try {
      file = JSON.parse(readFileSync(fileName, 'utf8'));
    } catch (error) {
      throw new ConfigError([`${fileName}: not valid JSON (${(error as Error).message})`]);
    }
  } else if (explicit) {
    throw new ConfigError([`KEYROTOR_CONFIG=${explicit}: no such file`]);
  }
  const softHsmModule = findSoftHsmModule();
  return parseConfig({ env, file, fileName, projectRoot, ...(softHsmModule ? { softHsmModule } : {}) });
}
