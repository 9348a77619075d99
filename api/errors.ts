import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { UPDATE_RETRY_AFTER_SECONDS } from '../adapters/temporal/updates';
import { isShownErrorCode, type ErrorCode } from '../domain/error-codes';
import { ExternalError, KeyrotorError, UserError } from '../domain/errors';
import { PROBLEM_MEDIA_TYPE } from './schemas/problem';

export class AuthError extends UserError {}

/**
 * Turns a refused or failed Update into the error the client sees: a workflow refusal whose code the error-code table
 * shows to clients becomes that refusal, with the table's status; anything else stays an internal error.
 */
export function fromUpdateFailure(error: unknown): never {
  if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure && isShownErrorCode(error.cause.type)) {
    throw new UserError(error.cause.type, error.cause.message);
  }
  throw error;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The stable code of a request refused by its schema, by where the refusal is (`body/policy` covers every field of
     * the policy): the code the service would give for the same input, so that checking a bound at the edge does not
     * change what clients see. Used when every refusal of the request has the same code; otherwise `invalid_request`.
     */
    problemCodes?: Readonly<Record<string, ErrorCode>>;
  }
}

/** The code a schema refusal gets: the route's code for where every refused field is, or `invalid_request`. */
function validationCode(paths: string[], problemCodes: Readonly<Record<string, ErrorCode>> | undefined): ErrorCode {
  if (!problemCodes) return 'invalid_request';
  const codeOf = (path: string): ErrorCode | undefined => {
    const prefix = Object.keys(problemCodes)
      .filter((candidate) => path === candidate || path.startsWith(`${candidate}/`))
      .sort((a, b) => b.length - a.length)[0];
    return prefix === undefined ? undefined : problemCodes[prefix];
  };
  const codes = new Set(paths.map(codeOf));
  const [only] = codes;
  return codes.size === 1 && only !== undefined ? only : 'invalid_request';
}

/** Fastify's own client errors (bad JSON, wrong content type, body too large) keep the framework's code. */
type FrameworkCode = `fst_${string}`;

interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode | FrameworkCode;
  detail?: string;
  requestId: string;
  errors?: Array<{ path: string; message: string }>;
}

const TITLES: Record<number, string> = {
  400: 'Bad request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not found', 409: 'Conflict', 413: 'Payload too large',
  415: 'Unsupported media type', 422: 'Unprocessable content', 429: 'Too many requests', 500: 'Internal error', 503: 'Service unavailable',
};

function problem(status: number, code: Problem['code'], requestId: string, detail?: string, errors?: Problem['errors']): Problem {
  return {
    type: `urn:keyrotor:problem:${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    code,
    ...(detail !== undefined ? { detail } : {}),
    requestId,
    ...(errors ? { errors } : {}),
  };
}

/**
 * Errors the router meets before any route is chosen (a path that is not valid percent-encoding, a path parameter
 * longer than the router takes): problems like every other refusal, not the framework's own JSON.
 */
export function frameworkErrorProblem(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const detail = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path parameter is longer than any this API takes' : 'the path is not valid percent-encoded text';
  void reply.status(400).type(PROBLEM_MEDIA_TYPE).send(problem(400, 'invalid_request', request.id, detail));
}

/**
 * One error handler for the whole API. Clients see only messages meant for them (UserError and request validation);
 * everything else becomes a generic problem while the full error is logged with the request id.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | KeyrotorError, request, reply) => {
    let body: Problem;
    if ('validation' in error && error.validation) {
      const errors = error.validation.map((issue) => ({
        path: `${error.validationContext ?? 'body'}${issue.instancePath || ''}`,
        message: issue.message ?? 'is invalid',
      }));
      const code = validationCode(errors.map((e) => e.path), request.routeOptions.config.problemCodes);
      body = problem(400, code, request.id, errors.map((e) => `${e.path} ${e.message}`).join('; '), errors);
    } else if (error instanceof UserError) {
      // A refused batch names each bad row; other details stay server-side.
      const rows = error.details?.rows as Array<{ row: number; problems: string[] }> | undefined;
      const errors = rows?.map((row) => ({ path: row.row < 0 ? 'body' : `body/${row.row}`, message: row.problems.join('; ') }));
      body = problem(error.status, error.code, request.id, error.message, errors);
    } else if (error instanceof ExternalError) {
      request.log.error({ err: error }, 'dependency failure');
      if (error.code === 'update_outcome_unknown') {
        void reply.header('Retry-After', String(UPDATE_RETRY_AFTER_SECONDS));
        body = problem(error.status, error.code, request.id, `the outcome of this request is not known yet, and it may still take effect: send it again with the same Idempotency-Key to get its outcome, or read what it changes before asking again without one (request id ${request.id})`);
      } else {
        body = problem(error.status, error.code, request.id, `a dependency of keyrotor is unavailable; retry later, or give request id ${request.id} to an operator`);
      }
    } else if (typeof (error as FastifyError).statusCode === 'number' && (error as FastifyError).statusCode! < 500) {
      const status = (error as FastifyError).statusCode as number;
      // Fastify's own client errors (bad JSON, wrong content type, body too large) describe the request only.
      const frameworkCode = ((error as FastifyError).code ?? '').toLowerCase();
      body = problem(status, frameworkCode.startsWith('fst_') ? (frameworkCode as FrameworkCode) : 'bad_request', request.id, error.message);
    } else {
      request.log.error({ err: error }, 'internal error');
      body = problem(500, 'internal_error', request.id, `keyrotor failed to handle this request; give request id ${request.id} to an operator`);
    }
    void reply.status(body.status).type(PROBLEM_MEDIA_TYPE).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).type(PROBLEM_MEDIA_TYPE).send(problem(404, 'route_not_found', request.id, `no route ${request.method} ${request.url.split('?')[0]}`));
  });
}
