// The workflow bundle's entry point: every workflow type the control worker serves.
export { healthCheckWorkflow } from './health-check';
