import { proxyActivities } from '@temporalio/workflow';
import type { PredictionActivities } from '../activities/prediction-activities';

const { retrainForecastModel } = proxyActivities<PredictionActivities>({
  // Training is bounded (a sampled forest, see trainForest): seconds for 1,000 keys; the timeout is for a dead worker.
  startToCloseTimeout: '15m',
  retry: { maximumAttempts: 3 },
  summary: 'retrain the global forecast model on every key\'s recent use',
});

/** One retrain of the global forecast model, started by the forecastModelRetrain schedule or POST /models/retrain. */
export async function retrainForecastModelWorkflow(): Promise<Awaited<ReturnType<PredictionActivities['retrainForecastModel']>>> {
  return retrainForecastModel({});
}
