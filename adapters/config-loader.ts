import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseConfig, type KeyrotorConfig } from '../domain/config';
import { PROCESS_SETTINGS, type ProcessSettingName } from '../domain/config-settings';
import { ConfigError } from '../domain/errors';
import { findSoftHsmModule, projectRoot } from '../scripts/tool-paths';

// The one reader of the process environment: the configuration, the process settings and the variables secret sources
// name. (Child processes and the PKCS#11 module are handed the environment whole.)
type Environment = Record<string, string | undefined>;

type ProcessSettingValue<N extends ProcessSettingName> = (typeof PROCESS_SETTINGS)[N] extends { default: string } ? string : string | undefined;

/** A process setting of domain/config-settings.ts: its variable, else its default. */
export function processSetting<N extends ProcessSettingName>(name: N, env: Environment = process.env): ProcessSettingValue<N> {
  const setting: { env: string; default?: string } = PROCESS_SETTINGS[name];
  return (env[setting.env] ?? setting.default) as ProcessSettingValue<N>;
}

/** The variable a secret source names (`{"env": "VARIABLE"}`): the configuration says which one, this module reads it. */
export function secretVariable(name: string, env: Environment = process.env): string | undefined {
  return env[name];
}

/** Reads keyrotor.config.json (or $KEYROTOR_CONFIG) and the environment into one validated configuration. */
export function loadConfig(env: Environment = process.env): KeyrotorConfig {
  const explicit = processSetting('config', env);
  const fileName = explicit ? resolve(explicit) : resolve(projectRoot, 'keyrotor.config.json');
  let file: unknown;
  if (existsSync(fileName)) {
    try {
      file = JSON.parse(readFileSync(fileName, 'utf8'));
    } catch (error) {
      throw new ConfigError([`${fileName}: not valid JSON (${(error as Error).message})`]);
    }
  } else if (explicit) {
    throw new ConfigError([`${PROCESS_SETTINGS.config.env}=${explicit}: no such file`]);
  }
  const softHsmModule = findSoftHsmModule();
  return parseConfig({ env, file, fileName, projectRoot, ...(softHsmModule ? { softHsmModule } : {}) });
}
