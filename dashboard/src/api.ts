import type { Problem } from './model/api-types';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What an optional endpoint answers: its data, or that this deployment has no such route. */
export type Optional<T> = { available: true; data: T } | { available: false; endpoint: string };

/**
 * The API as a script uses it: the same routes, the bearer token in the Authorization header. The token lives in
 * sessionStorage only, so it goes when the browser session does.
 */
export class Api {
  constructor(
    private readonly token: string,
    private readonly onUnauthenticated: () => void,
  ) {}

  private async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const response = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      cache: 'no-store',
    });
    const text = await response.text();
    const parsed: unknown = text ? JSON.parse(text) : null;
    // /health answers 503 with its full report when something is down: a report, not an error.
    if (response.ok || (response.status === 503 && path === '/health')) return parsed as T;
    const problem = (parsed ?? {}) as Partial<Problem>;
    if (response.status === 401) this.onUnauthenticated();
    throw new ApiError(response.status, problem.code ?? 'http_error', problem.detail ?? `${method} ${path} answered ${response.status}`);
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  /** GET a route other parts of keyrotor may not have deployed: a route-level 404 is "not available", not an error. */
  async optional<T>(path: string): Promise<Optional<T>> {
    try {
      return { available: true, data: await this.get<T>(path) };
    } catch (error) {
      if (error instanceof ApiError && error.status === 404 && error.code === 'route_not_found') return { available: false, endpoint: `GET ${path.split('?')[0]}` };
      throw error;
    }
  }
}

/** Asks the API who a token is; throws ApiError (401) for an unknown or revoked one. */
export async function whoami<T>(token: string): Promise<T> {
  return new Api(token, () => undefined).get<T>('/whoami');
}

const TOKEN_KEY = 'keyrotor.token';

export const session = {
  load: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  save: (token: string): void => sessionStorage.setItem(TOKEN_KEY, token),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};
