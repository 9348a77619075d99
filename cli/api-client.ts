import { loadConfig, processSetting } from '../adapters/config-loader';
import { ExternalError, UserError } from '../domain/errors';

/**
 * Exit codes of every command that talks to the API. Scripts branch on them: 3 means the API answered and refused (fix
 * the input or the permission), 4 means it did not answer usefully (start it, or try again later).
 */
export const EXIT_CODES = { ok: 0, failed: 1, usage: 2, refused: 3, unreachable: 4 } as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  failure: a check ran and failed (audit verify: the chain is broken), --wait saw the work end held, or the configuration is invalid
  2  usage error (a missing argument or option, no KEYROTOR_TOKEN, an unconfirmed emergency rotation)
  3  refused by the API (4xx): the problem's code and detail are printed
  4  the API is unreachable or failed (5xx)

Environment:
  KEYROTOR_TOKEN  API token (keyrotor tokens create, or the admin token \`keyrotor start\` printed)
  KEYROTOR_API    API address (default: http://127.0.0.1:<api.port> from the configuration)`;

/** An RFC 9457 problem as the API sends it. */
export interface Problem {
  status: number;
  code: string;
  title?: string;
  detail?: string;
  errors?: Array<{ path: string; message: string }>;
}

/** The API answered 4xx: the request was refused and changed nothing. */
export class ApiRefusedError extends UserError {
  constructor(readonly problem: Problem) {
    const fields = (problem.errors ?? []).map((e) => `\n  ${e.path}: ${e.message}`).join('');
    super('api_refused', `refused (${problem.status} ${problem.code}): ${problem.detail ?? problem.title ?? 'no detail'}${fields}`);
  }
}

/** The API could not be reached, or failed on its side (5xx). */
export class ApiUnavailableError extends ExternalError {
  constructor(message: string, readonly problem?: Problem, options?: { cause?: unknown; retryAfterMs?: number }) {
    super('api_unavailable', message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }

  /** How long the API asked to wait before the next try (its Retry-After), when it said. */
  readonly retryAfterMs: number | undefined;
}

export interface ApiRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  /** Routes anyone may call (the JWKS) go without a token. */
  anonymous?: boolean;
  /** RFC 7240 preferences (`respond-async`: an early 202 where the route offers one). */
  prefer?: string;
  /**
   * Sent as the Idempotency-Key header (a rotation): the request is then sent again, with the same key, when the API
   * could not be reached, failed (5xx) or was still answering it, and the API gives the first answer instead of
   * rotating twice.
   */
  idempotencyKey?: string;
}

/**
 * Tries of a request with an idempotency key, and the pause before each try after the first: these, or the API's
 * Retry-After when it asks for longer (up to MAX_RETRY_AFTER_MS).
 */
const IDEMPOTENT_TRIES = 5;
const RETRY_PAUSE_MS = [1_000, 2_000, 4_000, 8_000];
const MAX_RETRY_AFTER_MS = 60_000;
/** The advice a failed answer ends with; a request sent again under its key ends with other advice. */
const API_FAILED_ADVICE = "; try again, or see the API's log";

// A key map sync or an emergency rotation on a slow cluster answers in minutes, not seconds.
const REQUEST_TIMEOUT_MS = 10 * 60_000;

/** KEYROTOR_API, or the API of the local configuration (a wildcard listen address is reached on loopback). */
export function apiBaseUrl(env?: Record<string, string | undefined>): string {
  const explicit = processSetting('apiUrl', env);
  if (explicit) return explicit.replace(/\/+$/, '');
  const { host, port } = loadConfig(env).api;
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

function urlOf(base: string, request: ApiRequest): string {
  const url = new URL(`${base}${request.path}`);
  for (const [name, value] of Object.entries(request.query ?? {})) if (value !== undefined) url.searchParams.set(name, value);
  return url.toString();
}

/**
 * Sends a request and returns the reply's JSON; a refusal or an unreachable API is thrown as the errors above. A request
 * with an idempotency key is sent up to 5 times (over about 15 s, longer when the API's Retry-After asks) while the API
 * cannot be reached, fails or is still answering it; one without is sent once. When the last try fails, the error says
 * that the request may still take effect (the API may have received it, or, 503 `update_outcome_unknown`, be carrying
 * it out), so that it is checked before it is sent anew under another key.
 */
export async function callApi(request: ApiRequest, env?: Record<string, string | undefined>): Promise<unknown> {
  if (request.idempotencyKey === undefined) return callApiOnce(request, env);
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await callApiOnce(request, env);
    } catch (error) {
      const again = error instanceof ApiUnavailableError || (error instanceof ApiRefusedError && error.problem.code === 'idempotency_key_in_progress');
      if (!again) throw error;
      if (attempt >= IDEMPOTENT_TRIES) {
        if (!(error instanceof ApiUnavailableError)) throw error;
        const reason = error.message.replace(API_FAILED_ADVICE, '');
        throw new ApiUnavailableError(`${reason}. ${request.method} ${request.path} was sent ${attempt} times under Idempotency-Key ${request.idempotencyKey} and may still take effect: look at its outcome before sending it again`, error.problem, { cause: error });
      }
      const retryAfterMs = error instanceof ApiUnavailableError ? Math.min(error.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS) : 0;
      await new Promise((resolve) => setTimeout(resolve, Math.max(RETRY_PAUSE_MS[attempt - 1]!, retryAfterMs)));
    }
  }
}

/** Retry-After in milliseconds: seconds or an HTTP date (RFC 9110 section 10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

async function callApiOnce(request: ApiRequest, env?: Record<string, string | undefined>): Promise<unknown> {
  const token = processSetting('apiToken', env);
  if (!token && !request.anonymous) throw new UserError('token_required', 'set KEYROTOR_TOKEN to an API token (keyrotor tokens create, or the admin token `keyrotor start` printed)');
  const base = apiBaseUrl(env);
  let response: Response;
  try {
    response = await fetch(urlOf(base, request), {
      method: request.method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(request.prefer ? { prefer: request.prefer } : {}),
        ...(request.idempotencyKey ? { 'idempotency-key': request.idempotencyKey } : {}),
      },
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const reason = error instanceof Error && error.cause instanceof Error ? error.cause.message : (error as Error).message;
    throw new ApiUnavailableError(`cannot reach keyrotor at ${base} (${reason}); is it running? Set KEYROTOR_API to its address`, undefined, { cause: error });
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.ok) {
    if (body === undefined) throw new ApiUnavailableError(`${base} answered ${response.status} with something that is not JSON; is KEYROTOR_API the keyrotor API?`);
    return body;
  }
  const problem = isProblem(body) ? body : { status: response.status, code: `http_${response.status}`, detail: text.slice(0, 200) };
  if (response.status >= 400 && response.status < 500) throw new ApiRefusedError(problem);
  const retryAfter = retryAfterMs(response.headers.get('retry-after'), Date.now());
  throw new ApiUnavailableError(`keyrotor at ${base} failed (${response.status} ${problem.code}): ${problem.detail ?? problem.title ?? ''}${API_FAILED_ADVICE}`, problem, retryAfter === undefined ? {} : { retryAfterMs: retryAfter });
}

function isProblem(body: unknown): body is Problem {
  return typeof body === 'object' && body !== null && typeof (body as Problem).code === 'string' && typeof (body as Problem).status === 'number';
}
