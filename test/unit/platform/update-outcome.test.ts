import { ServiceError, WorkflowUpdateRPCTimeoutOrCancelledError, type WorkflowHandle } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import Fastify from 'fastify';
import { executeUpdateOnItsRun, isUndecidedUpdateError, UPDATE_RETRY_AFTER_SECONDS } from '../../../adapters/temporal/updates';
import { installErrorHandler } from '../../../api/errors';
import { ExternalError } from '../../../domain/errors';

const echo = { type: 'update', name: 'echo' } as UpdateDefinition<string, [string]>;
/** What @temporalio/client throws when the server gives up on an Update it aborted (its workflow context was evicted). */
const aborted = (): ServiceError =>
  new ServiceError('Workflow Update failed', { cause: Object.assign(new Error('14 UNAVAILABLE: workflow update was aborted'), { code: 14, details: 'workflow update was aborted' }) });
const notFound = (): ServiceError => new ServiceError('Workflow Update failed', { cause: Object.assign(new Error('5 NOT_FOUND: gone'), { code: 5 }) });

/** A handle whose startUpdate fails with `failures` in turn, then accepts; it records the Update id of every call. */
function handleFailing(failures: Array<() => Error>, where: 'start' | 'result' = 'start'): { handle: WorkflowHandle; ids: string[] } {
  const ids: string[] = [];
  const queue = [...failures];
  const handle = {
    workflowId: 'key/k',
    startUpdate: (_def: unknown, options: { updateId?: string; args: [string] }) => {
      ids.push(options.updateId as string);
      const failure = queue.shift();
      if (failure && where === 'start') return Promise.reject(failure());
      return Promise.resolve({ result: () => (failure ? Promise.reject(failure()) : Promise.resolve(`done ${options.args[0]}`)) });
    },
  } as unknown as WorkflowHandle;
  return { handle, ids };
}

describe('an Update whose calls end without its outcome', () => {
  it('tells the calls that say nothing of the Update from the ones that do', () => {
    expect(isUndecidedUpdateError(aborted())).toBe(true);
    expect(isUndecidedUpdateError(new WorkflowUpdateRPCTimeoutOrCancelledError('cut short'))).toBe(true);
    expect(isUndecidedUpdateError(notFound())).toBe(false);
    expect(isUndecidedUpdateError(new Error('other'))).toBe(false);
  });

  it.each(['start', 'result'] as const)('is asked again under the same Update id when its %s call was aborted, and answers the outcome', async (where) => {
    const { handle, ids } = handleFailing([aborted, () => new WorkflowUpdateRPCTimeoutOrCancelledError('cut short')], where);
    await expect(executeUpdateOnItsRun(handle, echo, { args: ['x'], updateId: 'u-1' })).resolves.toBe('done x');
    expect(ids).toEqual(['u-1', 'u-1', 'u-1']);
  });

  it('tells a listener of each call made again, with the Update, its id and the reason', async () => {
    const { handle } = handleFailing([aborted, aborted]);
    const heard: Array<{ update: string; workflowId: string; updateId: string; calls: number; reason: string }> = [];
    await expect(executeUpdateOnItsRun(handle, echo, { args: ['x'], updateId: 'u-4', onUndecided: (call) => heard.push(call) })).resolves.toBe('done x');
    expect(heard.map(({ update, workflowId, updateId, calls }) => ({ update, workflowId, updateId, calls }))).toEqual([
      { update: 'echo', workflowId: 'key/k', updateId: 'u-4', calls: 1 },
      { update: 'echo', workflowId: 'key/k', updateId: 'u-4', calls: 2 },
    ]);
    expect(heard[0]!.reason).toMatch(/Workflow Update failed/);
  });

  it('has an Update id of its own when the caller gives none, the same on every call', async () => {
    const { handle, ids } = handleFailing([aborted]);
    await executeUpdateOnItsRun(handle, echo, { args: ['x'] });
    expect(ids).toHaveLength(2);
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids[1]).toBe(ids[0]);
  });

  it('does not ask again after an error that is an answer', async () => {
    const { handle, ids } = handleFailing([notFound]);
    await expect(executeUpdateOnItsRun(handle, echo, { args: ['x'], updateId: 'u-2' })).rejects.toBeInstanceOf(ServiceError);
    expect(ids).toEqual(['u-2']);
  });

  it('says the outcome is unknown once its patience is spent, and the API answers 503 with Retry-After', async () => {
    const { handle } = handleFailing(Array.from({ length: 100 }, () => aborted));
    const error = await executeUpdateOnItsRun(handle, echo, { args: ['x'], updateId: 'u-3', patienceMs: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExternalError);
    expect(error).toMatchObject({ code: 'update_outcome_unknown', retryable: true, cause: expect.any(ServiceError) });

    const app = Fastify({ logger: false });
    installErrorHandler(app);
    app.post('/rotate', () => {
      throw error;
    });
    const reply = await app.inject({ method: 'POST', url: '/rotate' });
    await app.close();
    expect(reply.statusCode).toBe(503);
    expect(reply.headers['retry-after']).toBe(String(UPDATE_RETRY_AFTER_SECONDS));
    expect(reply.json()).toMatchObject({ code: 'update_outcome_unknown', detail: expect.stringContaining('may still take effect') });
  });
});
