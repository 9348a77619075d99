import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Database } from '../../adapters/postgres/database';
import { listModels } from '../../adapters/postgres/prediction-repository';
import { FORECAST_MODEL_RETRAIN_SCHEDULE_ID, WORKFLOW_TYPES } from '../../domain/identifiers';
import type { retrainForecastModelWorkflow } from '../../workflows/forecast-model';
import type { ModelList, Retrained } from '../schemas/prediction';

/** What the forecast-model routes do: list the trained global models, or retrain one now through Temporal. */
export class ForecastModelService {
  constructor(
    private readonly db: Database,
    private readonly temporal: Client,
    private readonly controlTaskQueue: string,
  ) {}

  /** The newest models first: the first is the one in use. */
  async list(limit: number): Promise<ModelList> {
    return { models: await listModels(this.db, limit) };
  }

  /** Retrains now, as the forecastModelRetrain schedule does on its own, and waits for the result. */
  async retrain(): Promise<Retrained> {
    return this.temporal.workflow.execute<typeof retrainForecastModelWorkflow>(WORKFLOW_TYPES.retrainForecastModel, {
      taskQueue: this.controlTaskQueue,
      workflowId: `${FORECAST_MODEL_RETRAIN_SCHEDULE_ID}/manual-${randomUUID()}`,
      args: [],
      staticSummary: 'retrain the forecast model (requested through the API)',
    });
  }
}
