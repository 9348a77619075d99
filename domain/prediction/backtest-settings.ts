import { HOURS_PER_WEEK } from './series';

// The backtest's settings apart from its code, so that `keyrotor backtest --help` states them without loading the forest.

/** One origin a day over the last four weeks. */
export const BACKTEST_ORIGINS = 28;
export const DEFAULT_BACKTEST_HORIZON = 24;
/** The forest is retrained every seven origins (weekly), each time on all the hours before that origin. */
export const DEFAULT_RETRAIN_EVERY = 7;

// The anomaly backtest's (domain/prediction/anomaly-backtest.ts).

/** Spike sizes measured by default, in standard deviations of the series' residual noise (see residualSigma). */
export const ANOMALY_SPIKE_SIGMAS: readonly number[] = [3, 5, 8, 12];
/** The anomaly backtest scores the last four weeks of the series. */
export const ANOMALY_SCORED_HOURS = 4 * HOURS_PER_WEEK;
/** History the detector has before the first scored hour at least: two weeks, so its noise fit is out of sample. */
export const ANOMALY_MIN_HISTORY = 2 * HOURS_PER_WEEK;
/** Spikes injected into each copy of the series: about one every four or five days, rare as incidents are. */
export const SPIKES_PER_TRIAL = 6;
/** Copies of the series, each with its own spike hours: 60 spikes of each size in all. */
export const DEFAULT_ANOMALY_TRIALS = 10;
