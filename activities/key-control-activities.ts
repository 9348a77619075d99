import { Context } from '@temporalio/activity';
import type { HarvestReport } from '../domain/entropy/node-entropy';
import { raiseAlert } from '../adapters/postgres/alert-repository';
import { storeEntropyReport } from '../adapters/postgres/entropy-repository';
import { signsAfter } from '../adapters/postgres/usage-repository';
import { USAGE_OPERATIONS, type UsageOperation } from '../domain/usage/events';
import type { Database } from '../adapters/postgres/database';
import { deleteArchiveBlob, loadArchiveBlob, recordKeyEvents, storeArchiveBlob, type KeyRecording } from '../adapters/postgres/key-repository';
import { GroupCommit } from '../adapters/postgres/group-commit';
import { listSubscriptions, subscriptionWithSecret } from '../adapters/postgres/subscription-repository';
import { requestKeymapSync } from '../adapters/temporal/schedules';
import { SharedAsks } from '../adapters/temporal/shared-asks';
import { postSignedJson } from '../adapters/webhooks/signed-post';
import { webhookUrlForMessages, type HostResolver } from '../adapters/webhooks/target-guard';
import type { KeyrotorConfig } from '../domain/config';
import type { KeyLifecycleState } from '../domain/keys/lifecycle-state';
import { activityFailure, withTypedFailures } from './failures';

export interface RecordKeyEventInput {
  state: KeyLifecycleState;
  event: { action: string; actor: string; details: Record<string, unknown> };
}

/** Activities of the lifecycle that need PostgreSQL or the network, not an HSM; they run on the control task queue. */
export function createKeyControlActivities(deps: { db: Database; config: KeyrotorConfig; resolveHost?: HostResolver }) {
  const { db, config } = deps;
  const webhookGuard = { allowedTargets: config.webhooks.allowedTargets, ...(deps.resolveHost ? { resolve: deps.resolveHost } : {}) };
  // Made with the first step's activity context: its client is the worker's.
  let syncAsks: SharedAsks | undefined;
  // Steps of keys rotating at once are recorded together: one transaction for those that come while one commits.
  const recordings = new GroupCommit<KeyRecording, { recorded: boolean }>((items) => recordKeyEvents(db, items));
  return withTypedFailures({
    getClusterNodes(_input: Record<string, never>): Promise<{ nodeIds: string[] }> {
      return Promise.resolve({ nodeIds: config.hsm.nodes.map((node) => node.id) });
    },

    /**
     * Records the step (in one transaction with the steps of other keys that come meanwhile: GroupCommit), then asks
     * for a key map sync and waits for the ask (steps recorded at the same time share one: SharedAsks). Asking runs
     * outside the workflow, so the lifecycle's command sequence (and its recorded histories) stay as they are, and a
     * failure to ask never fails the step: the minutely run catches up.
     */
    async recordKeyEvent(input: RecordKeyEventInput): Promise<{ recorded: boolean }> {
      const recorded = await recordings.submit({ state: input.state, event: { id: `${input.state.name}/${input.state.eventSeq}`, ...input.event } });
      if (recorded.recorded) {
        try {
          const { client } = Context.current();
          syncAsks ??= new SharedAsks(() => requestKeymapSync(client, config.temporal.controlTaskQueue));
          await syncAsks.request();
        } catch (error) {
          Context.current().log.warn('could not ask for a key map sync after a lifecycle step', { key: input.state.name, error: error instanceof Error ? error.message : String(error) });
        }
      }
      return recorded;
    },

    async storeArchiveBlob(input: { name: string; version: number; fingerprint: string; wrapped: string }): Promise<Record<string, never>> {
      await storeArchiveBlob(db, input);
      return {};
    },

    async loadArchiveBlob(input: { name: string; version: number }): Promise<{ wrapped: string; fingerprint: string }> {
      const blob = await loadArchiveBlob(db, input.name, input.version);
      if (!blob) throw activityFailure('archive_missing', `no archive blob for ${input.name} v${input.version}`);
      return blob;
    },

    async deleteArchiveBlob(input: { name: string; version: number }): Promise<{ deleted: boolean }> {
      return { deleted: await deleteArchiveBlob(db, input.name, input.version) };
    },

    async listSubscriptionIds(_input: Record<string, never>): Promise<{ ids: string[] }> {
      return { ids: (await listSubscriptions(db)).map((subscription) => subscription.id) };
    },

    /**
     * One signed delivery; a non-2xx answer throws so that Temporal retries with back-off. A target refused now (its
     * host resolves to an internal address, or the allowlist no longer admits it) sends nothing and raises an alert;
     * the retries go on, so a receiver whose DNS is put right, or that is allowlisted, gets the event.
     */
    async deliverWebhook(input: { subscriptionId: string; event: string; payload: Record<string, unknown> }): Promise<{ status: number | null }> {
      const subscription = await subscriptionWithSecret(db, input.subscriptionId);
      if (!subscription) return { status: null };
      const result = await postSignedJson(subscription.url, subscription.secret, input.event, { event: input.event, ...input.payload }, webhookGuard);
      if (result.ok) return { status: result.status };
      if (result.refused !== undefined) {
        await raiseAlert(db, {
          dedupKey: `webhook-refused:subscription:${subscription.id}`,
          severity: 'warning',
          source: 'webhooks',
          subject: `subscription/${subscription.id}`,
          message: `the delivery of ${input.event} to subscription ${subscription.id} (${webhookUrlForMessages(subscription.url)}) was refused: ${result.refused}`,
        }, config.alerts.webhooks.map((hook) => hook.id));
        throw activityFailure('webhook_target_refused', `delivery to subscription ${input.subscriptionId} refused: ${result.refused}`, { retryable: true });
      }
      throw activityFailure('webhook_failed', `delivery to subscription ${input.subscriptionId} failed: ${result.error}`);
    },

    /** Stores a harvest report and raises the alerts it calls for: a quarantined source, a pool below its minimum. */
    async recordEntropyReport(input: { nodeId: string; report: HarvestReport }): Promise<{ alerts: number }> {
      const { nodeId, report } = input;
      await storeEntropyReport(db, nodeId, report);
      const sinks = config.alerts.webhooks.map((hook) => hook.id);
      let alerts = 0;
      for (const source of report.sources) {
        if (source.state !== 'quarantined') continue;
        alerts += 1;
        await raiseAlert(db, {
          dedupKey: `entropy:${nodeId}:${source.name}:quarantined`,
          severity: 'critical',
          source: 'entropy',
          subject: `node/${nodeId}`,
          message: `entropy source ${source.name} on ${nodeId} failed its SP 800-90B health test (${source.lastHealth?.verdict ?? 'failure'} at sample ${source.lastHealth?.failedAt ?? '?'}) and is quarantined: it contributes nothing until it passes again`,
        }, sinks);
      }
      if (!report.snapshot.healthy) {
        alerts += 1;
        await raiseAlert(db, {
          dedupKey: `entropy:${nodeId}:pool-low`,
          severity: 'warning',
          source: 'entropy',
          subject: `node/${nodeId}`,
          message: `the entropy pool of ${nodeId} holds ${report.snapshot.creditedBits} credited bits, below its minimum of ${report.snapshot.minimumCreditedBits}${report.snapshot.drbg.instantiated ? '' : ' (DRBG not seeded yet)'}: key generation follows each key's entropy policy`,
        }, sinks);
      }
      return { alerts };
    },

    /**
     * Use of a version after it stopped being active, from the usage events: signatures, or for an encryption key the
     * operations its input names (decrypt and unwrap).
     */
    async countSignsAfter(input: { name: string; version: number; since: string; operations?: UsageOperation[] }): Promise<{ evidence: 'none' | 'events'; count: number; apps: string[] }> {
      const operations = (input.operations ?? ['sign']).filter((op) => (USAGE_OPERATIONS as readonly string[]).includes(op));
      return signsAfter(db, { key: input.name, version: input.version, since: input.since, operations });
    },

    async raiseKeyAlert(input: { dedupKey: string; severity: 'info' | 'warning' | 'critical'; subject: string; message: string }): Promise<{ alertId: string }> {
      const { alert } = await raiseAlert(db, { ...input, source: 'lifecycle' }, config.alerts.webhooks.map((hook) => hook.id));
      return { alertId: alert.id };
    },
  });
}

export type KeyControlActivities = ReturnType<typeof createKeyControlActivities>;
