import { type Command, InvalidArgumentError } from 'commander';
import { BACKTEST_ORIGINS, DEFAULT_BACKTEST_HORIZON } from '../../domain/prediction/backtest-settings';
import { HOURS_PER_WEEK } from '../../domain/prediction/series';
import type { BacktestCommandOptions } from '../actions/backtest';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the command runs, so that the others start without it
const actions = (): typeof import('../actions/backtest') => require('../actions/backtest') as typeof import('../actions/backtest');

function parseHorizon(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed < 1 || parsed > HOURS_PER_WEEK) throw new InvalidArgumentError(`expected a whole number of hours from 1 to ${HOURS_PER_WEEK}.`);
  return parsed;
}

/** `keyrotor backtest --series FILE.csv`: how the forecasters would have done on a usage series. */
export function registerBacktest(program: Command): void {
  program
    .command('backtest')
    .summary('score the usage forecasters on an hourly series, rolling origin over its last four weeks')
    .description(
      'Forecasts the series from one origin a day over its last four weeks and prints MASE (scale: 24-hour seasonal ' +
        'differences) and MAE for the seasonal naive forecasts (24 h, 168 h), the four-week seasonal mean, the random ' +
        'forest alone, and the shipped forecaster (see domain/prediction/forecaster.ts).',
    )
    .requiredOption('--series <file>', 'CSV of timestamp,count, one row per hour (ISO 8601 or epoch seconds; a header line is optional)')
    .option('--horizon <hours>', `hours ahead to forecast from each origin (default: ${DEFAULT_BACKTEST_HORIZON})`, parseHorizon)
    .option('--json', 'print {"origins", "horizon", "methods": [{"name", "mase", "mae"}]}')
    .addHelpText(
      'after',
      [
        '',
        'Missing hours count as zero use; rows in the same hour add up. The series needs at least two weeks plus the',
        `horizon, and ${2 * HOURS_PER_WEEK + DEFAULT_BACKTEST_HORIZON + (BACKTEST_ORIGINS - 1) * 24} hours for all ${BACKTEST_ORIGINS} origins at the default horizon.`,
        'On a terminal, training and forecasting show their progress on stderr (not with --json).',
        '',
        'Example:',
        '  $ keyrotor backtest --series usage.csv --horizon 48',
      ].join('\n'),
    )
    .action((options: BacktestCommandOptions) => actions().runBacktestCommand(options));
}
