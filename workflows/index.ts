// The workflow bundle's entry point: every workflow type the control worker serves.
export { healthCheckWorkflow } from './health-check';
export { keyLifecycleWorkflow } from './key-lifecycle';
export { webhookDeliveryWorkflow } from './webhook-delivery';
export { entropyHarvestWorkflow } from './entropy-harvest';
export { retrainForecastModelWorkflow } from './forecast-model';
export { threatIntelFeedWorkflow } from './threat-intel-feed';
export { usageRetentionWorkflow } from './usage-retention';
export { keymapSyncWorkflow } from './keymap-sync';
export { accessLogReadWorkflow } from './access-log-read';
export { envelopeOperationWorkflow } from './envelope-operation';
