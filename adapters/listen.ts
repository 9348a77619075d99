import { createServer } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { UserError } from '../domain/errors';

/** The setting an operator changes to move the API, named in every message about its port. */
const API_PORT_SETTING = 'KEYROTOR_API_PORT (api.port)';

function portProblem(host: string, port: number, code: string | undefined): UserError | undefined {
  if (code === 'EADDRINUSE') {
    return new UserError('port_in_use', `the API cannot listen on ${host}:${port}: something else already uses that port; stop it or set ${API_PORT_SETTING} to a free port`);
  }
  if (code === 'EACCES') {
    return new UserError('port_not_permitted', `the API may not listen on ${host}:${port} (ports below 1024 need privileges); set ${API_PORT_SETTING} to a port above 1023`);
  }
  if (code === 'EADDRNOTAVAIL') {
    return new UserError('address_not_available', `the API cannot listen on ${host}:${port}: this machine has no such address; set KEYROTOR_API_HOST (api.host) to one of its addresses`);
  }
  return undefined;
}

/**
 * Fails at once, before anything is created, when the API's port cannot be bound: `keyrotor start` would otherwise
 * create tokens, start PostgreSQL and Temporal, and only then find out. Port 0 (any free port) always passes.
 */
export function assertApiPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => reject(portProblem(host, port, error.code) ?? error));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** app.listen, with a port that cannot be bound reported as the setting to change rather than a stack trace. */
export async function listenApi(app: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    return await app.listen({ host, port });
  } catch (error) {
    throw portProblem(host, port, (error as NodeJS.ErrnoException).code) ?? error;
  }
}
