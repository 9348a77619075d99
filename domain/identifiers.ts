// Every name that crosses a process boundary (task queues, workflow ids, search attributes) is defined here once.

/**
 * The control worker's task queue unless temporal.controlTaskQueue says otherwise. Workflows never name it: their
 * control activities and child workflows run on the queue the workflow itself runs on.
 */
export const DEFAULT_CONTROL_TASK_QUEUE = 'keyrotor.control';

/**
 * The workflow types the control worker serves, as clients and schedules start them: each is the name of the function
 * workflows/index.ts exports (a unit test holds the two together).
 */
export const WORKFLOW_TYPES = {
  healthCheck: 'healthCheckWorkflow',
  keyLifecycle: 'keyLifecycleWorkflow',
  webhookDelivery: 'webhookDeliveryWorkflow',
  entropyHarvest: 'entropyHarvestWorkflow',
  retrainForecastModel: 'retrainForecastModelWorkflow',
  threatIntelFeed: 'threatIntelFeedWorkflow',
  usageRetention: 'usageRetentionWorkflow',
  keymapSync: 'keymapSyncWorkflow',
  accessLogRead: 'accessLogReadWorkflow',
  envelopeOperation: 'envelopeOperationWorkflow',
} as const;
export type WorkflowType = (typeof WORKFLOW_TYPES)[keyof typeof WORKFLOW_TYPES];

export function hsmTaskQueue(nodeId: string): string {
  return `hsm.${nodeId}`;
}

/** One envelope operation (datakey, unwrap, rewrap) of the API, by the request's id. */
export function envelopeWorkflowId(key: string, requestId: string): string {
  return `envelope/${key}/${requestId}`;
}

export function healthCheckWorkflowId(requestId: string): string {
  return `health/${requestId}`;
}

/** Custom search attributes the Web UI filters keys by; all Keyword. */
export const SEARCH_ATTRIBUTE_NAMES = ['KeyName', 'KeyPhase', 'ActiveVersion'] as const;

/** PKCS#11 label of the cluster key-encryption key that keys are replicated under. */
export const CLUSTER_KEK_LABEL = 'keyrotor-cluster-kek';

/** PKCS#11 label of the key that retired private keys are archived under; kept apart so an archive blob cannot be replayed as a replica. */
export const ARCHIVE_KEK_LABEL = 'keyrotor-archive-kek';

export const CLUSTER_WRAPPING_KEY_LABELS = [CLUSTER_KEK_LABEL, ARCHIVE_KEK_LABEL] as const;
export type ClusterWrappingKeyLabel = (typeof CLUSTER_WRAPPING_KEY_LABELS)[number];

/** One lifecycle workflow per key. */
/** Update ids the API makes from an Idempotency-Key: a key's workflow keeps their outcomes across its runs. */
export const IDEMPOTENT_UPDATE_ID_PREFIX = 'idempotency-';

export function keyWorkflowId(name: string): string {
  return `key/${name}`;
}

export function webhookDeliveryWorkflowId(name: string, version: number, subscriptionId: string): string {
  return `webhook/${name}/v${version}/${subscriptionId}`;
}

/** The schedule (and the workflow id of each of its runs) harvesting one node's entropy. */
export function entropyHarvestScheduleId(nodeId: string): string {
  return `entropy-harvest/${nodeId}`;
}

export function accessLogScheduleId(nodeId: string): string {
  return `access-logs/${nodeId}`;
}

/**
 * The id of one of a deployment's own schedules (and of its runs), from its base name: the base name on the default
 * control queue, as ever; on another queue, the base name scoped by the queue. Deployments that share a Temporal
 * namespace on different control queues (and the test files of one run, which share a server) then never take over
 * each other's schedule: one's start re-aimed the other's key map sync, or deleted its threat feed.
 */
export function deploymentScheduleId(base: string, controlTaskQueue: string): string {
  return controlTaskQueue === DEFAULT_CONTROL_TASK_QUEUE ? base : `${base}@${controlTaskQueue}`;
}

/** The schedule that retrains the global forecast model, and the id of its workflow runs (deploymentScheduleId). */
export const FORECAST_MODEL_RETRAIN_SCHEDULE_ID = 'forecast-model-retrain';

/** The schedule (and the workflow id of each of its runs) pulling the threat-intelligence feed; absent without a feed (deploymentScheduleId). */
export const THREAT_FEED_SCHEDULE_ID = 'threat-intel-feed';

/** The hourly schedule deleting raw usage events past their retention (deploymentScheduleId). */
export const USAGE_RETENTION_SCHEDULE_ID = 'usage-retention';
/** The schedule (and the workflow id prefix of its runs) that syncs the key map every minute (deploymentScheduleId). */
export const KEYMAP_SYNC_SCHEDULE_ID = 'keymap-sync';

/** A sync an operator asked for through the API. */
export function keymapSyncWorkflowId(requestId: string): string {
  return `keymap-sync/manual/${requestId}`;
}

/** PKCS#11 label of the cluster map-signing key pair, on every node. */
export const MAP_SIGNING_KEY_LABEL = 'keyrotor-keymap-signing-key';

/** PKCS#11 label of the signed head of the key map snapshot (a data object on every node). */
export const KEYMAP_SNAPSHOT_LABEL = 'keyrotor-keymap-snapshot';

/** CKA_APPLICATION of the snapshot's data objects. */
export const KEYMAP_SNAPSHOT_APPLICATION = 'keyrotor';

/**
 * PKCS#11 label of the audit anchor (a data object on every node, CKA_APPLICATION as the snapshot's): the audit chain
 * head signed by the map-signing key, so that removing the newest audit entries in PostgreSQL is found.
 */
export const AUDIT_ANCHOR_LABEL = 'keyrotor-audit-anchor';

/** PKCS#11 label of one shard of the key map snapshot. */
export function keymapSnapshotShardLabel(shard: number): string {
  return `${KEYMAP_SNAPSHOT_LABEL}/${String(shard).padStart(2, '0')}`;
}
