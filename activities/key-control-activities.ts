import { ApplicationFailure } from '@temporalio/activity';
import { raiseAlert } from '../adapters/postgres/alert-repository';
import type { Database } from '../adapters/postgres/database';
import { deleteArchiveBlob, loadArchiveBlob, recordKeyEvent, storeArchiveBlob } from '../adapters/postgres/key-repository';
import { listSubscriptions, subscriptionWithSecret } from '../adapters/postgres/subscription-repository';
import { postSignedJson } from '../adapters/webhooks/signed-post';
import type { KeyrotorConfig } from '../domain/config';
import type { KeyLifecycleState } from '../domain/keys/lifecycle-state';
import { withTypedFailures } from './failures';

export interface RecordKeyEventInput {
  state: KeyLifecycleState;
  event: { action: string; actor: string; details: Record<string, unknown> };
}

/** Activities of the lifecycle that need PostgreSQL or the network, not an HSM; they run on the control task queue. */
export function createKeyControlActivities(deps: { db: Database; config: KeyrotorConfig }) {
  const { db, config } = deps;
  return withTypedFailures({
    getClusterNodes(_input: Record<string, never>): Promise<{ nodeIds: string[] }> {
      return Promise.resolve({ nodeIds: config.hsm.nodes.map((node) => node.id) });
    },

    async recordKeyEvent(input: RecordKeyEventInput): Promise<{ recorded: boolean }> {
      return recordKeyEvent(db, input.state, { id: `${input.state.name}/${input.state.eventSeq}`, ...input.event });
    },

    async storeArchiveBlob(input: { name: string; version: number; fingerprint: string; wrapped: string }): Promise<Record<string, never>> {
      await storeArchiveBlob(db, input);
      return {};
    },

    async loadArchiveBlob(input: { name: string; version: number }): Promise<{ wrapped: string; fingerprint: string }> {
      const blob = await loadArchiveBlob(db, input.name, input.version);
      if (!blob) throw ApplicationFailure.nonRetryable(`no archive blob for ${input.name} v${input.version}`, 'archive_missing');
      return blob;
    },

    async deleteArchiveBlob(input: { name: string; version: number }): Promise<{ deleted: boolean }> {
      return { deleted: await deleteArchiveBlob(db, input.name, input.version) };
    },

    async listSubscriptionIds(_input: Record<string, never>): Promise<{ ids: string[] }> {
      return { ids: (await listSubscriptions(db)).map((subscription) => subscription.id) };
    },

    /** One signed delivery; a non-2xx answer throws so that Temporal retries with back-off. */
    async deliverWebhook(input: { subscriptionId: string; event: string; payload: Record<string, unknown> }): Promise<{ status: number | null }> {
      const subscription = await subscriptionWithSecret(db, input.subscriptionId);
      if (!subscription) return { status: null };
      const result = await postSignedJson(subscription.url, subscription.secret, input.event, { event: input.event, ...input.payload });
      if (!result.ok) throw ApplicationFailure.retryable(`delivery to subscription ${input.subscriptionId} failed: ${result.error ?? 'unknown'}`, 'webhook_failed');
      return { status: result.status ?? null };
    },

    async raiseKeyAlert(input: { dedupKey: string; severity: 'info' | 'warning' | 'critical'; subject: string; message: string }): Promise<{ alertId: string }> {
      const { alert } = await raiseAlert(db, { ...input, source: 'lifecycle' }, config.alerts.webhooks.map((hook) => hook.id));
      return { alertId: alert.id };
    },
  });
}

export type KeyControlActivities = ReturnType<typeof createKeyControlActivities>;
