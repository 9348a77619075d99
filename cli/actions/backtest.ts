import { readFile } from 'node:fs/promises';
import { UserError } from '../../domain/errors';
import {
  BACKTEST_ORIGINS,
  buildHourlySeries,
  DEFAULT_BACKTEST_HORIZON,
  DEFAULT_RETRAIN_EVERY,
  type Observation,
  runAnomalyBacktest,
  runBacktest,
} from '../../domain/prediction';

export interface BacktestCommandOptions {
  series: string;
  horizon?: number;
  anomalies?: boolean;
  seed?: number;
  trials?: number;
  json?: boolean;
}

const EPOCH_SECONDS = /^-?\d+(\.\d+)?$/;
const ZONE = /(Z|[+-]\d{2}(:?\d{2})?)$/i;

/**
 * ISO 8601 (a space instead of the T is accepted; without a zone the time is UTC, not the local time of whoever runs
 * the command) or epoch seconds.
 */
function parseTimestamp(text: string): number {
  if (EPOCH_SECONDS.test(text)) return Number(text) * 1000;
  const iso = text.replace(' ', 'T');
  const withZone = /T/.test(iso) && !ZONE.test(iso) ? `${iso}Z` : iso;
  return /^\d{4}-\d{2}-\d{2}/.test(withZone) ? Date.parse(withZone) : Number.NaN;
}

/** Reads `timestamp,count` lines; a first line whose timestamp does not parse is taken for a header. */
export function parseSeriesCsv(text: string, file: string): Observation[] {
  const observations: Observation[] = [];
  let first = true;
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const fields = line.split(',').map((field) => field.trim().replace(/^"(.*)"$/, '$1'));
    const timestampMs = parseTimestamp(fields[0] ?? '');
    const header = first && Number.isNaN(timestampMs);
    first = false;
    if (header) continue;
    const where = `${file} line ${i + 1}`;
    if (fields.length < 2) throw new UserError('invalid_series_csv', `${where}: expected 'timestamp,count', got '${line}'`);
    if (Number.isNaN(timestampMs)) throw new UserError('invalid_series_csv', `${where}: '${fields[0]}' is neither an ISO 8601 time nor epoch seconds`);
    const count = fields[1] === '' ? Number.NaN : Number(fields[1]);
    if (!Number.isFinite(count) || count < 0) throw new UserError('invalid_series_csv', `${where}: the count '${fields[1]}' is not a number of at least 0`);
    observations.push({ timestampMs, count });
  }
  if (observations.length === 0) throw new UserError('invalid_series_csv', `${file} holds no 'timestamp,count' rows`);
  return observations;
}

async function readSeriesFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const reason = error instanceof Error && 'code' in error ? String(error.code) : 'unreadable';
    throw new UserError('series_unreadable', `cannot read ${file} (${reason}); check the path and that it is a readable file`);
  }
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(2);
  return value.toFixed(4);
}

/** `keyrotor backtest --series FILE`: the rolling-origin scores, as a table or as JSON. */
export async function runBacktestCommand(options: BacktestCommandOptions): Promise<void> {
  const file = options.series;
  const observations = parseSeriesCsv(await readSeriesFile(file), file);
  const { series, filledHours, mergedObservations } = buildHourlySeries(observations);
  const showProgress = process.stderr.isTTY === true && !options.json;
  const result = runBacktest(series, {
    horizon: options.horizon ?? DEFAULT_BACKTEST_HORIZON,
    onProgress: showProgress
      ? ({ done, total, stage }) => {
          process.stderr.write(`\r${stage === 'training' ? 'training the forest' : 'forecasting'}… ${done}/${total}   `);
        }
      : undefined,
  });
  if (showProgress) process.stderr.write('\r\x1b[K');

  if (options.json) {
    const { origins, horizon, methods } = result;
    process.stdout.write(`${JSON.stringify({ origins, horizon, methods: methods.map(({ name, mase, mae }) => ({ name, mase, mae })) })}\n`);
    return;
  }
  const hours = series.counts.length;
  const lines = [
    `Backtest of ${file}: ${hours.toLocaleString('en-US')} hours from ${new Date(series.startMs).toISOString()}` +
      (filledHours > 0 ? `, ${filledHours} missing hour(s) counted as zero` : '') +
      (mergedObservations > 0 ? `, ${mergedObservations} row(s) added to an hour already seen` : ''),
    `${result.origins} daily origin(s) from ${result.firstOriginAt} to ${result.lastOriginAt}` +
      (result.origins < BACKTEST_ORIGINS ? ` (fewer than ${BACKTEST_ORIGINS}: the series is short)` : '') +
      `, each forecasting ${result.horizon} h ahead.`,
    `The forest is retrained every ${DEFAULT_RETRAIN_EVERY} origins on the hours before that origin (${result.retrains} time(s)); no method sees an hour after its origin.`,
    '',
    `  ${'method'.padEnd(20)} ${'MASE'.padStart(8)} ${'MAE'.padStart(10)}`,
    ...result.methods.map(({ name, mase, mae }) => `  ${name.padEnd(20)} ${formatNumber(mase).padStart(8)} ${formatNumber(mae).padStart(10)}`),
    '',
    'MASE: at each origin, MAE over the horizon / the mean absolute 24-hour difference of the hours before it; averaged over origins.',
  ];
  if (result.zeroScaleOrigins > 0) {
    lines.push(`${result.zeroScaleOrigins} origin(s) had no change at all before them; their scale is 1 / (hours − 24), as if one event had happened.`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `keyrotor backtest --anomalies --series FILE`: recall and false alarms of the shipped detector for each spike size. */
export async function runAnomalyBacktestCommand(options: BacktestCommandOptions): Promise<void> {
  const file = options.series;
  const { series } = buildHourlySeries(parseSeriesCsv(await readSeriesFile(file), file));
  const seed = options.seed ?? 1;
  const showProgress = process.stderr.isTTY === true && !options.json;
  const result = runAnomalyBacktest(series, {
    seed,
    ...(options.trials === undefined ? {} : { trials: options.trials }),
    onProgress: showProgress
      ? ({ done, total }) => {
          process.stderr.write(`\rreplaying the detector… ${done}/${total}   `);
        }
      : undefined,
  });
  if (showProgress) process.stderr.write('\r\x1b[K');

  if (options.json) {
    process.stdout.write(`${JSON.stringify({ seed, ...result })}\n`);
    return;
  }
  const lines = [
    `Anomaly backtest of ${file}: ${result.scoredFrom} to ${result.scoredTo} scored, seed ${seed}.`,
    `σ = ${formatNumber(result.sigma)} (RMS of the hourly residuals against the detector's seasonal profile); noise model ${result.noiseModel}.`,
    `${result.trials} trial(s) of ${result.spikesPerTrial} spikes; the detector judged the last ${result.windowHours} h every ${result.evaluationEveryHours} h, as the product does.`,
    '',
    `  ${'spike'.padEnd(7)} ${'added'.padStart(9)} ${'injected'.padStart(9)} ${'detected'.padStart(9)} ${'recall'.padStart(7)} ${'false alarms'.padStart(13)} ${'per 4 weeks'.padStart(12)}`,
    ...result.sizes.map(
      (size) =>
        `  ${`+${size.sigmas} σ`.padEnd(7)} ${(Number.isInteger(size.added) ? String(size.added) : formatNumber(size.added)).padStart(9)} ${String(size.injected).padStart(9)} ${String(size.detected).padStart(9)} ` +
        `${size.recall.toFixed(2).padStart(7)} ${String(size.falseAlarms).padStart(13)} ${size.falseAlarmsPer4Weeks.toFixed(2).padStart(12)}`,
    ),
    '',
    'A spike is detected when its own hour is flagged; a false alarm is a flagged hour without a spike (spike or drop).',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
