// Regenerates the README's settings tables from domain/config-settings.ts: `npm run docs:config`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readmeWithSettingsTables } from '../domain/config-settings';
import { projectRoot } from './tool-paths';

const file = join(projectRoot, 'README.md');
const readme = readFileSync(file, 'utf8');
const generated = readmeWithSettingsTables(readme);
if (generated === readme) process.stdout.write('README.md: the settings tables are up to date\n');
else {
  writeFileSync(file, generated);
  process.stdout.write('README.md: the settings tables were regenerated from domain/config-settings.ts\n');
}
