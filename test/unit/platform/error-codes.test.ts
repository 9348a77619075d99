import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import Fastify, { type FastifyInstance } from 'fastify';
import { activityFailure, toActivityFailure } from '../../../activities/failures';
import { fromUpdateFailure, installErrorHandler } from '../../../api/errors';
import { ERROR_CODES, errorCodeSpec, isErrorCode, type ErrorCodeSpec, type ListedErrorCode } from '../../../domain/error-codes';
import { ExternalError, InternalError, UserError, type KeyrotorError } from '../../../domain/errors';

/**
 * The error-code table is the one place a code's status, retry rule and visibility are written: these tests hold the
 * API's problem+json answers, the failures activities raise, and the API's reading of a workflow's refusal to it.
 */
type Code = ListedErrorCode;
const listed = Object.entries(ERROR_CODES) as Array<[Code, ErrorCodeSpec]>;

/** The error class a code may be raised with, as the types allow it. */
function raise(code: Code, spec: ErrorCodeSpec): KeyrotorError {
  const message = `the message of ${code}`;
  if (spec.shown) return new UserError(code as never, message);
  if (spec.status === 503) return new ExternalError(code as never, message, { retryable: false });
  return new InternalError(code as never, message);
}

function appThrowing(error: () => unknown): FastifyInstance {
  const app = Fastify({ logger: false });
  installErrorHandler(app);
  app.get('/fail', () => {
    throw error();
  });
  return app;
}

async function answer(error: () => unknown): Promise<{ status: number; body: Record<string, unknown>; type: string }> {
  const app = appThrowing(error);
  try {
    const reply = await app.inject({ method: 'GET', url: '/fail' });
    return { status: reply.statusCode, body: reply.json(), type: String(reply.headers['content-type']) };
  } finally {
    await app.close();
  }
}

describe('the error-code table', () => {
  it('gives every code a status the API can answer, and only 4xx codes are shown to clients', () => {
    for (const [code, spec] of listed) {
      expect({ code, ok: [400, 401, 403, 404, 409, 410, 422, 500, 503].includes(spec.status) }).toEqual({ code, ok: true });
      expect({ code, shown: spec.shown }).toEqual({ code, shown: spec.status < 500 });
    }
  });

  it.each(listed)('%s answers its status as problem+json, with its message only when the table shows it', async (code, spec) => {
    const reply = await answer(() => raise(code, spec));
    expect(reply.status).toBe(spec.status);
    expect(reply.type).toMatch(/^application\/problem\+json/);
    if (spec.shown) expect(reply.body).toMatchObject({ code, status: spec.status, detail: `the message of ${code}` });
    else if (spec.status === 503) expect(reply.body).toMatchObject({ code, status: 503, detail: expect.not.stringContaining('the message of') });
    else expect(reply.body).toMatchObject({ code: 'internal_error', status: 500, detail: expect.not.stringContaining('the message of') });
  });

  it('reads the code families of outside errors: hsm_ + CKR name and db_ + SQLSTATE, retried as their raiser says', async () => {
    expect(errorCodeSpec('hsm_device_error')).toMatchObject({ status: 503, shown: false });
    expect(errorCodeSpec('db_40001')).toMatchObject({ status: 503, shown: false });
    expect(isErrorCode('hsm_')).toBe(false);
    expect(isErrorCode('no_such_code')).toBe(false);
    expect(new ExternalError('hsm_device_error', 'busy', { retryable: true }).retryable).toBe(true);
    expect(new ExternalError('hsm_pin_incorrect', 'wrong PIN', { retryable: false }).retryable).toBe(false);
    expect((await answer(() => new ExternalError('db_08006', 'connection lost', { retryable: true }))).body).toMatchObject({ status: 503, code: 'db_08006' });
  });

  it('gives activity failures the table\'s retry rule, and a user error never retries', () => {
    expect(activityFailure('keymap_sync_busy', 'another sync holds the map')).toMatchObject({ type: 'keymap_sync_busy', nonRetryable: false });
    expect(activityFailure('keymap_lease_lost', 'the lease expired')).toMatchObject({ type: 'keymap_lease_lost', nonRetryable: true });
    expect(activityFailure('webhook_target_refused', 'refused', { retryable: true })).toMatchObject({ nonRetryable: false });
    expect(toActivityFailure(new UserError('webhook_target_refused', 'refused'))).toMatchObject({ type: 'webhook_target_refused', nonRetryable: true });
    expect(toActivityFailure(new ExternalError('entropy_hold', 'the pool is low'))).toMatchObject({ type: 'entropy_hold', nonRetryable: false });
    expect(toActivityFailure(new Error('a defect'))).toMatchObject({ type: 'internal_error', nonRetryable: false });
  });
});

describe('a workflow refusal seen by the API', () => {
  const refusedUpdate = (type: string, message: string) => new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.nonRetryable(message, type));

  it.each([
    ['key_busy', 409],
    ['reason_required', 400],
    ['invalid_duration', 400],
    ['grace_cap_exceeded', 409],
  ] as const)('%s becomes the table\'s status %d with the workflow\'s message', async (type, status) => {
    expect(errorCodeSpec(type)?.status).toBe(status);
    const reply = await answer(() => {
      try {
        return fromUpdateFailure(refusedUpdate(type, `refused: ${type}`));
      } catch (error) {
        return error;
      }
    });
    expect(reply).toMatchObject({ status, body: { code: type, status, detail: `refused: ${type}` } });
  });

  it.each(['keymap_lease_lost', 'hsm_device_error', 'not_a_code'])('%s, not meant for clients, stays an internal error', async (type) => {
    const reply = await answer(() => {
      try {
        return fromUpdateFailure(refusedUpdate(type, 'secret detail'));
      } catch (error) {
        return error;
      }
    });
    expect(reply).toMatchObject({ status: 500, body: { code: 'internal_error', detail: expect.not.stringContaining('secret detail') } });
  });
});
