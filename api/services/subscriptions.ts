import type { Database } from '../../adapters/postgres/database';
import { createSubscription, deleteSubscription, listSubscriptions, type Subscription } from '../../adapters/postgres/subscription-repository';
import { assertWebhookTarget, type WebhookGuard } from '../../adapters/webhooks/target-guard';
import { NotFoundError } from '../../domain/errors';

/** What the subscription routes do: subscribe an application's webhook to rotations, list and remove subscriptions. */
export class SubscriptionService {
  constructor(
    private readonly db: Database,
    private readonly guard: WebhookGuard,
  ) {}

  /** Subscribes a URL the webhook guard admits (internal addresses only when allowlisted); the secret is in this answer only. */
  async subscribe(input: { url: string; actor: string }): Promise<{ subscription: Subscription; secret: string }> {
    await assertWebhookTarget(input.url, this.guard);
    return createSubscription(this.db, input);
  }

  async list(): Promise<Subscription[]> {
    return listSubscriptions(this.db);
  }

  /** Removes a subscription (audited), or says there is none by that id. */
  async remove(id: string, actor: string): Promise<void> {
    if (!(await deleteSubscription(this.db, id, actor))) throw new NotFoundError('subscription', id);
  }
}
