export {
  alignToHour,
  buildHourlySeries,
  dayOfWeek,
  HOUR_MS,
  hourOfDay,
  hourOfWeek,
  HOURS_PER_DAY,
  HOURS_PER_WEEK,
  seasonalIndexes,
  syntheticUsageSeries,
  timestampAt,
  truncateSeries,
} from './series';
export type { BuiltSeries, HourlySeries, Observation, SeasonalIndexes, SyntheticUsageSpec } from './series';
export {
  RECENT_LEVEL_HOURS,
  recentLevelRatio,
  SEASONAL_MEAN_WEEKS,
  seasonalMeanForecast,
  seasonalNaiveForecast,
  seasonalProfile,
  seasonalProfileForecast,
} from './baseline';
export type { SeasonalProfile } from './baseline';
export { FEATURE_COUNT, FEATURE_NAMES, LAGS, MIN_FEATURE_HISTORY, writeFeatures } from './features';
export type { RowContext, RowScale } from './features';
export { createSeededRandom, DEFAULT_FOREST_OPTIONS, FOREST_FORMAT, ForestModel, trainForest } from './forest-model';
export type { ForestModelJson, ForestTrainingOptions, Random, TrainForestInput, TreeJson } from './forest-model';
export { DEFAULT_HORIZON, forecastKey, forecastKeys, forestForecasts, INTERVAL_LEVEL, MAX_HORIZON, MIN_FOREST_HISTORY, SPARSE_LEVEL } from './forecaster';
export type { ComponentName, ForecastComponent, ForecastRequest, ForestJob, KeyForecast } from './forecaster';
export {
  countLowerTail,
  countUpperTail,
  DEFAULT_ANOMALY_ALPHA,
  detectAnomalies,
  inverseStandardNormal,
  negativeBinomialQuantile,
  SPARSE_ANOMALY_LEVEL,
} from './anomaly';
export type { AnomalyOptions, AnomalyReport, FlaggedHour } from './anomaly';
export {
  capacityExhaustion,
  computeRisk,
  decideRotation,
  DEFAULT_CLASS_MISMATCH_PENALTY,
  DEFAULT_RISK_WEIGHTS,
  DEFAULT_SENSITIVITY_WEIGHTS,
  RISK_COMPONENTS,
} from './risk';
export type {
  RiskComponent,
  RiskComponentName,
  RiskConfig,
  RiskInput,
  RiskScore,
  RiskWeights,
  RotationDecision,
  RotationDecisionInput,
  RotationPolicy,
  ThreatIndicator,
} from './risk';
export {
  BACKTEST_METHODS,
  BACKTEST_ORIGINS,
  backtestOrigins,
  DEFAULT_BACKTEST_HORIZON,
  DEFAULT_RETRAIN_EVERY,
  MASE_SEASON,
  maseScale,
  runBacktest,
} from './backtest';
export type { BacktestMethod, BacktestOptions, BacktestResult, MethodScore } from './backtest';
export {
  ANOMALY_MIN_HISTORY,
  ANOMALY_SCORED_HOURS,
  ANOMALY_SPIKE_SIGMAS,
  DEFAULT_ANOMALY_TRIALS,
  drawSpikeHours,
  injectSpikes,
  MATCH_TOLERANCE_HOURS,
  MIN_SPIKE_GAP_HOURS,
  replayDetector,
  residualSigma,
  runAnomalyBacktest,
  scoreDetections,
  SPIKES_PER_TRIAL,
} from './anomaly-backtest';
export type { AnomalyBacktestOptions, AnomalyBacktestResult, SpikeScore } from './anomaly-backtest';
export { evaluateKey } from './evaluate';
export type { KeyEvaluation, KeyEvaluationInput } from './evaluate';
