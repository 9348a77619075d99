import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A SoftHSM token folder of its own under `dir` (`dir/tokens`) and the configuration that points at it; returns the
 * configuration's path, for SOFTHSM2_CONF.
 */
export function softHsmFolder(dir: string): string {
  mkdirSync(join(dir, 'tokens'), { recursive: true, mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  return conf;
}
