import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  ANOMALY_MIN_HISTORY,
  ANOMALY_SCORED_HOURS,
  ANOMALY_SPIKE_SIGMAS,
  BACKTEST_ORIGINS,
  DEFAULT_ANOMALY_TRIALS,
  DEFAULT_BACKTEST_HORIZON,
  SPIKES_PER_TRIAL,
} from '../../domain/prediction/backtest-settings';
import { HOURS_PER_WEEK } from '../../domain/prediction/series';
import type { BacktestCommandOptions } from '../actions/backtest';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the command runs, so that the others start without it
const actions = (): typeof import('../actions/backtest') => require('../actions/backtest') as typeof import('../actions/backtest');

function parseHorizon(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed < 1 || parsed > HOURS_PER_WEEK) throw new InvalidArgumentError(`expected a whole number of hours from 1 to ${HOURS_PER_WEEK}.`);
  return parsed;
}

const MAX_SEED = 2 ** 32 - 1;

function parseSeed(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed > MAX_SEED) throw new InvalidArgumentError(`expected a whole number from 0 to ${MAX_SEED}.`);
  return parsed;
}

const MAX_TRIALS = 1000;

function parseTrials(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed < 1 || parsed > MAX_TRIALS) throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_TRIALS}.`);
  return parsed;
}

/**
 * `keyrotor backtest --series FILE.csv`: how the forecasters would have done on a usage series; with `--anomalies`, how
 * the anomaly detector finds spikes injected into it.
 */
export function registerBacktest(program: Command): void {
  program
    .command('backtest')
    .summary('score the usage forecasters (or, with --anomalies, the anomaly detector) on an hourly series over its last four weeks')
    .description(
      'Forecasts the series from one origin a day over its last four weeks and prints MASE (scale: 24-hour seasonal ' +
        'differences) and MAE for the seasonal naive forecasts (24 h, 168 h), the four-week seasonal mean, the random ' +
        'forest alone, and the shipped forecaster (see domain/prediction/forecaster.ts).\n\n' +
        'With --anomalies: injects spikes of several sizes into the last four weeks (seeded, labelled) and replays the ' +
        "product's hourly evaluations over them with the shipped detector (domain/prediction/anomaly.ts, default settings); " +
        'prints, for each size, the spikes injected and detected, the false alarms (flagged hours without a spike), the ' +
        'recall and the false alarms per four weeks.',
    )
    .requiredOption('--series <file>', 'CSV of timestamp,count, one row per hour (ISO 8601 or epoch seconds; a header line is optional)')
    .addOption(
      new Option('--horizon <hours>', `hours ahead to forecast from each origin (default: ${DEFAULT_BACKTEST_HORIZON})`).argParser(parseHorizon).conflicts('anomalies'),
    )
    .option('--anomalies', 'measure the anomaly detector instead of the forecasters')
    .option('--seed <n>', 'with --anomalies: the seed that places the spikes (default: 1)', parseSeed)
    .option('--trials <n>', `with --anomalies: copies of the series, each with ${SPIKES_PER_TRIAL} spikes at its own hours (default: ${DEFAULT_ANOMALY_TRIALS})`, parseTrials)
    .option('--json', 'print {"origins", "horizon", "methods": [{"name", "mase", "mae"}]}; with --anomalies {"sigma", ..., "sizes": [{"sigmas", "added", "injected", "detected", "falseAlarms", "recall", "falseAlarmsPer4Weeks"}]}')
    .addHelpText(
      'after',
      [
        '',
        'Missing hours count as zero use; rows in the same hour add up. The series needs at least two weeks plus the',
        `horizon, and ${2 * HOURS_PER_WEEK + DEFAULT_BACKTEST_HORIZON + (BACKTEST_ORIGINS - 1) * 24} hours for all ${BACKTEST_ORIGINS} origins at the default horizon.`,
        '',
        `--anomalies needs ${ANOMALY_MIN_HISTORY + ANOMALY_SCORED_HOURS} hours (two weeks before the four scored). A spike of k σ adds k × σ operations`,
        "(rounded up) to one hour, σ being the root mean square of the series' hourly residuals against the detector's seasonal",
        `profile over the scored weeks. Sizes: ${ANOMALY_SPIKE_SIGMAS.join(', ')} σ; each trial places ${SPIKES_PER_TRIAL} spikes, at the same hours for every size.`,
        'A spike is detected when its own hour is flagged; any other flagged hour is a false alarm.',
        '',
        'On a terminal, the progress shows on stderr (not with --json).',
        '',
        'Examples:',
        '  $ keyrotor backtest --series usage.csv --horizon 48',
        '  $ keyrotor backtest --anomalies --series examples/series/sparse.csv --seed 7 --json',
      ].join('\n'),
    )
    .action((options: BacktestCommandOptions, command: Command) => {
      for (const [name, value] of [['--seed <n>', options.seed], ['--trials <n>', options.trials]] as const) {
        if (value !== undefined && !options.anomalies) command.error(`error: option '${name}' goes with --anomalies`, { exitCode: 2, code: 'keyrotor.anomalyOptionAlone' });
      }
      return options.anomalies ? actions().runAnomalyBacktestCommand(options) : actions().runBacktestCommand(options);
    });
}
