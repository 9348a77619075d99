import { proxyActivities } from '@temporalio/workflow';
import type { KeyControlActivities } from '../activities/key-control-activities';

const { deliverWebhook } = proxyActivities<KeyControlActivities>({
  startToCloseTimeout: '30s',
  // About a day of attempts; each failure is visible in this workflow's history in the Web UI.
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30m', maximumAttempts: 60 },
  summary: 'signed POST to the subscriber',
});

export interface WebhookDeliveryInput {
  subscriptionId: string;
  event: string;
  payload: Record<string, unknown>;
}

/** Delivers one event to one subscriber, with its own retries, apart from the rotation that caused it. */
export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<{ status: number | null }> {
  return deliverWebhook(input);
}
