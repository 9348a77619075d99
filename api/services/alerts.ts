import { acknowledgeAlert, listAlerts, type AlertQuery } from '../../adapters/postgres/alert-repository';
import type { Database } from '../../adapters/postgres/database';
import { NotFoundError } from '../../domain/errors';
import type { AlertList, AlertReply } from '../schemas/alerts';

/** What the alert routes do: list alerts and acknowledge one, which tells the configured alert sinks. */
export class AlertService {
  constructor(
    private readonly db: Database,
    /** The configured alert webhooks, by id: an acknowledgement is delivered to each. */
    private readonly sinkIds: readonly string[],
  ) {}

  async list(query: AlertQuery): Promise<AlertList> {
    return listAlerts(this.db, query);
  }

  /** Acknowledges an alert (idempotent), or says there is none by that id. */
  async acknowledge(id: string, actor: string): Promise<AlertReply> {
    const outcome = await acknowledgeAlert(this.db, id, actor, this.sinkIds);
    if (outcome.kind === 'missing') throw new NotFoundError('alert', id);
    return outcome.alert;
  }
}
