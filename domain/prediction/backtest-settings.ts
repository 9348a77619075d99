// The backtest's settings apart from its code, so that `keyrotor backtest --help` states them without loading the forest.

/** One origin a day over the last four weeks. */
export const BACKTEST_ORIGINS = 28;
export const DEFAULT_BACKTEST_HORIZON = 24;
/** The forest is retrained every seven origins (weekly), each time on all the hours before that origin. */
export const DEFAULT_RETRAIN_EVERY = 7;
