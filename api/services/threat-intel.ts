import type { Client } from '@temporalio/client';
import type { Database } from '../../adapters/postgres/database';
import { keysReachedBy } from '../../adapters/postgres/prediction-repository';
import {
  deleteIndicator,
  lastFeedPull,
  listIndicators,
  upsertIndicators,
  type IndicatorQuery,
  type UpsertOutcome,
} from '../../adapters/postgres/threat-intel-repository';
import { signalKeyReevaluation } from '../../adapters/temporal/key-reevaluation';
import { NotFoundError } from '../../domain/errors';
import { indicatorsOf, validateIndicatorBatch } from '../../domain/threat-intel/indicators';
import type { IndicatorList } from '../schemas/threat-intel';
import { batchRefusal } from './batch-refusal';

/** What the threat-intelligence routes do: check and store reported indicators, wake the keys they reach, list them. */
export class ThreatIntelService {
  constructor(
    private readonly db: Database,
    private readonly temporal: Client,
    private readonly feedConfigured: boolean,
  ) {}

  /**
   * Stores a reported batch whole or not at all. The batch's own check names each bad row with every reason, as for the
   * feed; the schema's verdict (`shapeError`) comes second, for what the rows do not cover (the shape of the body around
   * them). The keys whose threat component new or changed indicators move evaluate now, not at their next scheduled
   * evaluation; a key that cannot be asked keeps its schedule (`onReevaluationFailure` hears of it).
   */
  async report(input: {
    body: unknown;
    shapeError: Error | undefined;
    actor: string;
    onReevaluationFailure: (key: string, error: unknown) => void;
  }): Promise<UpsertOutcome> {
    const checked = validateIndicatorBatch(indicatorsOf(input.body));
    if (checked.problems.length > 0) throw batchRefusal('invalid_threat_indicators', 'indicator', checked.problems);
    if (input.shapeError) throw input.shapeError;
    const { reach, ...outcome } = await upsertIndicators(this.db, checked.indicators, input.actor);
    await signalKeyReevaluation(this.temporal, await keysReachedBy(this.db, reach, new Date()), { why: 'new threat intelligence', onFailure: input.onReevaluationFailure });
    return outcome;
  }

  /** A page of indicators, and how the last pull of the feed went. */
  async list(query: IndicatorQuery): Promise<IndicatorList> {
    const [page, lastPull] = await Promise.all([listIndicators(this.db, query), lastFeedPull(this.db)]);
    return { ...page, feed: { configured: this.feedConfigured, lastPull } };
  }

  /** Withdraws an indicator (audited), or says there is none by that id. */
  async withdraw(id: string, actor: string): Promise<void> {
    if (!(await deleteIndicator(this.db, id, actor))) throw new NotFoundError('threat indicator', id);
  }
}
