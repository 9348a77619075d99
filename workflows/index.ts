// The workflow bundle's entry point: every workflow type the control worker serves.
export { healthCheckWorkflow } from './health-check';
export { keyLifecycleWorkflow } from './key-lifecycle';
export { webhookDeliveryWorkflow } from './webhook-delivery';
export { entropyHarvestWorkflow } from './entropy-harvest';
export { keymapSyncWorkflow } from './keymap-sync';
