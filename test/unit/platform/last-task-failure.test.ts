import { temporal } from '@temporalio/proto';
import { lastTaskFailure } from '../../../adapters/temporal/replay-check';

const Cause = temporal.api.enums.v1.WorkflowTaskFailedCause;
const completed = { workflowTaskCompletedEventAttributes: {} };
const failed = (cause: number, message?: string) => ({ workflowTaskFailedEventAttributes: { cause, ...(message ? { failure: { message } } : {}) } });

describe('lastTaskFailure (keyrotor replay-check)', () => {
  it('names a run whose last workflow task the worker failed, with its failure or its cause', () => {
    expect(lastTaskFailure({ events: [completed, failed(Cause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE, 'no such workflow type')] })).toBe('no such workflow type');
    expect(lastTaskFailure({ events: [failed(Cause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR)] })).toBe('the workflow task failed (WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR)');
  });

  it('passes a run whose last task completed, or failed for the server\'s own reasons (it follows with a fresh task)', () => {
    expect(lastTaskFailure({ events: [failed(Cause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE, 'once'), completed] })).toBeNull();
    expect(lastTaskFailure({ events: [completed, failed(Cause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND)] })).toBeNull();
    expect(lastTaskFailure({ events: [completed, failed(Cause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE)] })).toBeNull();
    expect(lastTaskFailure({ events: [] })).toBeNull();
  });
});
