import { createServer } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { UserError } from '../domain/errors';

/** The setting an operator changes to move the API, named in every message about its port. */
const API_PORT_SETTING = 'KEYROTOR_API_PORT (api.port)';

/** What listens on a port of keyrotor's, and the setting that moves it: named in every message about the port. */
export interface Listener {
  what: string;
  setting: string;
  /** Another way out than a free port (an external server instead of the embedded one). */
  otherwise?: string;
}

const API: Listener = { what: 'the API', setting: API_PORT_SETTING };

function portProblem(host: string, port: number, code: string | undefined, listener: Listener = API): UserError | undefined {
  const otherwise = listener.otherwise ? `, or ${listener.otherwise}` : '';
  if (code === 'EADDRINUSE') {
    return new UserError('port_in_use', `${listener.what} cannot listen on ${host}:${port}: something else already uses that port; stop it or set ${listener.setting} to a free port${otherwise}`);
  }
  if (code === 'EACCES') {
    return new UserError('port_not_permitted', `${listener.what} may not listen on ${host}:${port} (ports below 1024 need privileges); set ${listener.setting} to a port above 1023${otherwise}`);
  }
  if (code === 'EADDRNOTAVAIL') {
    return new UserError('address_not_available', `${listener.what} cannot listen on ${host}:${port}: this machine has no such address; set KEYROTOR_API_HOST (api.host) to one of its addresses`);
  }
  return undefined;
}

/**
 * Fails at once, before anything is created, when a port keyrotor is about to listen on cannot be bound: `keyrotor
 * start` would otherwise create tokens, start PostgreSQL and Temporal, and only then find out. Port 0 (any free port)
 * always passes.
 */
export function assertPortFree(host: string, port: number, listener: Listener = API): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => reject(portProblem(host, port, error.code, listener) ?? error));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** The API's port: see assertPortFree. */
export function assertApiPortFree(host: string, port: number): Promise<void> {
  return assertPortFree(host, port, API);
}

/** A listener started by a library that reports a taken port only in its message text (the Temporal runtime's metrics). */
export function portProblemOf(error: unknown, host: string, port: number, listener: Listener): UserError | undefined {
  const message = error instanceof Error ? error.message : '';
  return /address already in use|os error 98/i.test(message) ? portProblem(host, port, 'EADDRINUSE', listener) : undefined;
}

/** app.listen, with a port that cannot be bound reported as the setting to change rather than a stack trace. */
export async function listenApi(app: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    return await app.listen({ host, port });
  } catch (error) {
    throw portProblem(host, port, (error as NodeJS.ErrnoException).code) ?? error;
  }
}
