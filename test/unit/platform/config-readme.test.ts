import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { processSetting } from '../../../adapters/config-loader';
import { PROCESS_SETTINGS, SETTINGS, readmeWithSettingsTables, settingsTable } from '../../../domain/config-settings';

const README = join(__dirname, '..', '..', '..', 'README.md');

describe("the README's settings tables", () => {
  it('are the ones domain/config-settings.ts generates (run `npm run docs:config` after changing a setting)', () => {
    const readme = readFileSync(README, 'utf8');
    expect(readmeWithSettingsTables(readme)).toBe(readme);
  });

  it('list every setting and every environment variable of the table, each once', () => {
    const readme = readFileSync(README, 'utf8');
    const tables = `${settingsTable('configuration')}\n${settingsTable('entropy')}`;
    expect(readme).toContain(settingsTable('configuration'));
    expect(readme).toContain(settingsTable('entropy'));
    const names: Array<string | undefined> = [
      ...Object.values(SETTINGS).flatMap((setting) => [('env' in setting ? setting.env : undefined), setting.file]),
      ...Object.values(PROCESS_SETTINGS).map((setting) => setting.env),
    ];
    for (const name of names.filter((each) => each !== undefined)) expect({ name, rows: tables.split('\n').filter((row) => (row.split(' | ')[0] ?? '').includes(`\`${name}\``)).length }).toEqual({ name, rows: 1 });
  });

  it('regenerates a table that drifted from the settings', () => {
    const readme = readFileSync(README, 'utf8');
    const drifted = readme.replace('| `KEYROTOR_API_PORT` / `api.port` | `8080` |', '| `KEYROTOR_API_PORT` / `api.port` | `8000` |');
    expect(drifted).not.toBe(readme);
    expect(readmeWithSettingsTables(drifted)).toBe(readme);
  });
});

describe('process settings', () => {
  it('take the variable, else the default the table gives', () => {
    expect(processSetting('logLevel', {})).toBe('info');
    expect(processSetting('logLevel', { KEYROTOR_LOG_LEVEL: 'debug' })).toBe('debug');
    expect(processSetting('workerLogLevel', {})).toBe('WARN');
    expect(processSetting('adminToken', {})).toBeUndefined();
    expect(processSetting('apiUrl', { KEYROTOR_API: 'http://api.internal:8080' })).toBe('http://api.internal:8080');
  });
});
