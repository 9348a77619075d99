import type { AlertWebhookConfig } from '../../domain/config';
import { claimDueDeliveries, raiseAlert, recordDelivery } from '../postgres/alert-repository';
import type { Database } from '../postgres/database';
import { readSecret } from '../secrets';
import { postSignedJson } from './signed-post';
import { webhookUrlForMessages, type WebhookGuard } from './target-guard';

const MAX_ATTEMPTS = 12;

/** Exponential backoff from 2 s, capped at 5 minutes. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(2 ** attempts, 300);
}

/**
 * Delivers queued alerts to the configured webhook sinks, signed, with retries. Runs beside the API; the outbox
 * table makes it safe to run in several processes and to crash.
 */
export class AlertDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly secrets = new Map<string, { url: string; secret: string }>();

  constructor(
    private readonly db: Database,
    sinks: readonly AlertWebhookConfig[],
    private readonly guard: WebhookGuard,
    private readonly log: (message: string) => void,
    private readonly intervalMs = 1000,
  ) {
    for (const sink of sinks) this.secrets.set(sink.id, { url: sink.url, secret: readSecret(sink.secret, `alert webhook ${sink.id}: secret`) });
  }

  start(): void {
    if (this.secrets.size === 0 || this.timer) return;
    this.timer = setInterval(() => {
      this.running ??= this.deliverDue().then(
        () => {
          this.running = undefined;
        },
        () => {
          this.running = undefined;
        },
      );
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass over the due deliveries; returns how many were attempted. */
  async deliverDue(): Promise<number> {
    let due;
    try {
      due = await claimDueDeliveries(this.db, 20, 60);
    } catch (error) {
      this.log(`alert delivery: could not read the outbox (${(error as Error).message})`);
      return 0;
    }
    await Promise.all(
      due.map(async (delivery) => {
        const sink = this.secrets.get(delivery.sinkId);
        if (!sink) {
          await recordDelivery(this.db, delivery, { ok: false, error: 'sink no longer configured', retryInSeconds: 0, giveUp: true });
          return;
        }
        const result = await postSignedJson(sink.url, sink.secret, delivery.event, { event: delivery.event, alert: delivery.alert }, this.guard);
        const giveUp = !result.ok && delivery.attempts >= MAX_ATTEMPTS;
        if (!result.ok) {
          this.log(`alert delivery to ${delivery.sinkId} failed (attempt ${delivery.attempts}: ${result.error})${giveUp ? '; giving up' : ''}`);
          if (result.refused !== undefined) await this.raiseRefused(delivery.sinkId, sink.url, result.refused);
        }
        await recordDelivery(this.db, delivery, { ok: result.ok, ...(result.ok ? {} : { error: result.error }), retryInSeconds: retryDelaySeconds(delivery.attempts), giveUp });
      }),
    );
    return due.length;
  }

  /**
   * A sink that passed the configuration check but resolves to an internal address now: its host's DNS changed, or
   * someone is trying DNS rebinding. Deliveries to it stop until it resolves to an allowed address again.
   */
  private async raiseRefused(sinkId: string, url: string, reason: string): Promise<void> {
    try {
      await raiseAlert(this.db, {
        dedupKey: `webhook-refused:alert-sink:${sinkId}`,
        severity: 'critical',
        source: 'webhooks',
        subject: `alert-sink/${sinkId}`,
        message: `alert webhook ${sinkId} (${webhookUrlForMessages(url)}) was refused at delivery: ${reason}; alerts do not reach it until it resolves to an allowed address`,
      }, [...this.secrets.keys()]);
    } catch (error) {
      this.log(`could not raise the alert for the refused alert webhook ${sinkId} (${(error as Error).message})`);
    }
  }
}
