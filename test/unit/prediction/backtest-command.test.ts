import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { parseSeriesCsv } from '../../../cli/actions/backtest';
import { registerBacktest } from '../../../cli/commands/backtest';
import { createSeededRandom, HOUR_MS, HOURS_PER_WEEK, syntheticUsageSeries } from '../../../domain/prediction';
import { runCommand } from '../../support/commands-in-process';

interface BacktestJson {
  origins: number;
  horizon: number;
  methods: { name: string; mase: number; mae: number }[];
}

interface AnomalyJson {
  seed: number;
  sigma: number;
  trials: number;
  sizes: { sigmas: number; added: number; injected: number; detected: number; falseAlarms: number; recall: number; falseAlarmsPer4Weeks: number }[];
}

const MONDAY = Date.UTC(2024, 0, 1);

const runBacktestCommand = (args: string[]): Promise<string> => runCommand(registerBacktest, ['backtest', ...args]);

describe('keyrotor backtest', () => {
  let directory = '';
  let isoFile = '';
  let epochFile = '';
  // Two weeks and the horizon: one origin, quick to run.
  const series = syntheticUsageSeries({ startMs: MONDAY, hours: 2 * HOURS_PER_WEEK + 24, level: 50, dailyAmplitude: 0.7, weekendFactor: 0.5 }, createSeededRandom(71));

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'keyrotor-backtest-'));
    isoFile = join(directory, 'iso.csv');
    epochFile = join(directory, 'epoch.csv');
    const at = (i: number): number => MONDAY + i * HOUR_MS;
    await writeFile(isoFile, `timestamp,count\n${series.counts.map((count, i) => `${new Date(at(i)).toISOString()},${count}`).join('\n')}\n`);
    await writeFile(epochFile, series.counts.map((count, i) => `${at(i) / 1000},${count}`).join('\r\n'));
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('prints the JSON the issue specifies', async () => {
    const result = JSON.parse(await runBacktestCommand(['--series', isoFile, '--json'])) as BacktestJson;
    expect(Object.keys(result)).toEqual(['origins', 'horizon', 'methods']);
    expect(result.origins).toBe(1);
    expect(result.horizon).toBe(24);
    expect(result.methods.map((m) => m.name)).toEqual(['seasonal-naive-24', 'seasonal-naive-168', 'seasonal-mean-4w', 'forest', 'shipped']);
    for (const method of result.methods) {
      expect(Object.keys(method)).toEqual(['name', 'mase', 'mae']);
      expect(method.mase).toBeGreaterThan(0);
      expect(method.mae).toBeGreaterThan(0);
    }
  });

  it('reads ISO timestamps with a header and epoch seconds without one alike', async () => {
    const iso = parseSeriesCsv(await readFile(isoFile, 'utf8'), isoFile);
    expect(iso).toHaveLength(series.counts.length);
    expect(parseSeriesCsv(await readFile(epochFile, 'utf8'), epochFile)).toEqual(iso);
    // Without a zone a time is UTC; a space may stand for the T.
    expect(parseSeriesCsv('2024-01-01 05:00:00,3\n2024-01-01T06:00+01:00,2', 'inline')).toEqual([
      { timestampMs: MONDAY + 5 * HOUR_MS, count: 3 },
      { timestampMs: MONDAY + 5 * HOUR_MS, count: 2 },
    ]);
  });

  it('prints a table and says how the forest was trained', async () => {
    const text = await runBacktestCommand(['--series', isoFile, '--horizon', '12']);
    expect(text).toMatch(/each forecasting 12 h ahead/);
    expect(text).toMatch(/retrained every 7 origins on the hours before that origin/);
    expect(text).toMatch(/^\s+shipped\s+\d+\.\d+\s+\d+\.\d+$/m);
  });

  it('names the line of a row it cannot read', async () => {
    const bad = join(directory, 'bad.csv');
    await writeFile(bad, 'timestamp,count\n2024-01-01T00:00:00Z,4\n2024-01-01T01:00:00Z,many\n');
    await expect(runBacktestCommand(['--series', bad])).rejects.toMatchObject({ code: 'invalid_series_csv', message: expect.stringContaining('line 3') });
    const worse = join(directory, 'worse.csv');
    await writeFile(worse, '2024-01-01T00:00:00Z,4\nyesterday,3\n');
    await expect(runBacktestCommand(['--series', worse])).rejects.toMatchObject({ code: 'invalid_series_csv', message: expect.stringContaining('line 2') });
  });

  it('says how much history a backtest needs', async () => {
    const short = join(directory, 'short.csv');
    await writeFile(short, series.counts.slice(0, 200).map((count, i) => `${(MONDAY + i * HOUR_MS) / 1000},${count}`).join('\n'));
    await expect(runBacktestCommand(['--series', short])).rejects.toMatchObject({ code: 'series_too_short' });
    await expect(runBacktestCommand(['--series', join(directory, 'missing.csv')])).rejects.toMatchObject({ code: 'series_unreadable' });
  });

  it('refuses a horizon outside one to 168 hours', async () => {
    await expect(runBacktestCommand(['--series', isoFile, '--horizon', '0'])).rejects.toBeInstanceOf(CommanderError);
    await expect(runBacktestCommand(['--series', isoFile, '--horizon', '169'])).rejects.toBeInstanceOf(CommanderError);
  });

  describe('--anomalies', () => {
    let sixWeeks = '';
    beforeAll(async () => {
      const long = syntheticUsageSeries({ startMs: MONDAY, hours: 6 * HOURS_PER_WEEK, level: 2, dailyAmplitude: 0.7, weekendFactor: 0.5 }, createSeededRandom(72));
      sixWeeks = join(directory, 'six-weeks.csv');
      await writeFile(sixWeeks, long.counts.map((count, i) => `${(MONDAY + i * HOUR_MS) / 1000},${count}`).join('\n'));
    });

    it('prints the figures the issue asks for, for every spike size, the same for the same seed', async () => {
      const text = await runBacktestCommand(['--anomalies', '--series', sixWeeks, '--trials', '1', '--seed', '3', '--json']);
      const result = JSON.parse(text) as AnomalyJson;
      expect(result).toMatchObject({ seed: 3, trials: 1 });
      expect(result.sigma).toBeGreaterThan(0);
      expect(result.sizes.map((size) => size.sigmas)).toEqual([3, 5, 8, 12]);
      for (const size of result.sizes) {
        expect(Object.keys(size)).toEqual(['sigmas', 'added', 'injected', 'detected', 'falseAlarms', 'recall', 'falseAlarmsPer4Weeks']);
        expect(size.injected).toBe(6);
        expect(size.recall).toBe(size.detected / size.injected);
        expect(size.falseAlarmsPer4Weeks).toBe(size.falseAlarms);
        expect(size.added).toBe(Math.ceil(size.sigmas * result.sigma));
      }
      // Larger spikes are found at least as often: every size has the same spike hours.
      const recalls = result.sizes.map((size) => size.recall);
      expect([...recalls].sort((a, b) => a - b)).toEqual(recalls);
      expect(await runBacktestCommand(['--anomalies', '--series', sixWeeks, '--trials', '1', '--seed', '3', '--json'])).toBe(text);
    });

    it('prints a table with one row per spike size', async () => {
      const text = await runBacktestCommand(['--anomalies', '--series', sixWeeks, '--trials', '1']);
      expect(text).toMatch(/noise model negative-binomial/);
      for (const k of [3, 5, 8, 12]) expect(text).toMatch(new RegExp(`^\\s+\\+${k} σ\\s+\\d+\\s+6\\s+\\d\\s+\\d\\.\\d\\d\\s+\\d+\\s+\\d+\\.\\d\\d$`, 'm'));
    });

    // cli/main.ts turns every CommanderError into exit code 2 (usage).
    it('refuses options that do not go together or do not parse, as usage errors', async () => {
      for (const args of [
        ['--anomalies', '--horizon', '24'],
        ['--seed', '3'],
        ['--trials', '2'],
        ['--anomalies', '--seed', 'x'],
        ['--anomalies', '--seed', '-1'],
        ['--anomalies', '--trials', '0'],
      ]) {
        await expect(runBacktestCommand(['--series', sixWeeks, ...args])).rejects.toBeInstanceOf(CommanderError);
      }
      await expect(runBacktestCommand(['--anomalies', '--series', isoFile])).rejects.toMatchObject({ code: 'series_too_short' });
    });
  });
});
