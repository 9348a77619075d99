import type { Database } from '../../adapters/postgres/database';
import { storeUsageBatch } from '../../adapters/postgres/usage-repository';
import { validateUsageBatch } from '../../domain/usage/events';
import type { UsageStored } from '../schemas/usage';
import { batchRefusal } from './batch-refusal';

/** The events of a body: an array, or `{"events": [...]}`. */
function eventsOf(body: unknown): unknown {
  return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { events?: unknown }).events : body;
}

/** What POST /usage does: check a batch of access-log events and store it whole, or refuse it whole. */
export class UsageService {
  constructor(
    private readonly db: Database,
    /** The data classes of prediction.sensitivityWeights: an event's sensitivity must be one. */
    private readonly dataClasses: readonly string[],
  ) {}

  /**
   * The batch's own check names each bad row with every reason, as for `keyrotor ingest`; the schema's verdict
   * (`shapeError`) comes second, for what the rows do not cover (the shape of the body around them).
   */
  async report(input: { body: unknown; shapeError: Error | undefined }): Promise<UsageStored> {
    const checked = validateUsageBatch(eventsOf(input.body), Date.now(), this.dataClasses);
    if (checked.problems.length === 0 && input.shapeError) throw input.shapeError;
    const outcome = checked.problems.length > 0 ? { kind: 'refused' as const, problems: checked.problems } : await storeUsageBatch(this.db, checked.events);
    if (outcome.kind === 'refused') throw batchRefusal('invalid_usage_batch', 'event', outcome.problems);
    return { stored: outcome.stored, duplicates: outcome.duplicates };
  }
}
