import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ROLES, findActiveToken, type ApiTokenInfo, type Role } from '../adapters/postgres/token-repository';
import type { Database } from '../adapters/postgres/database';
import { AuthError } from './errors';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: ApiTokenInfo;
  }
  interface FastifyContextConfig {
    /** Roles allowed on the route; absent means the route needs no token. */
    roles?: readonly Role[];
  }
}

/** Who may do what: admins everything, operators act on keys, auditors read, encrypters and decrypters use the envelope API. Routes name the roles they allow. */
export const READERS: readonly Role[] = ['admin', 'operator', 'auditor'];
/** Any valid token, whatever its role (GET /whoami). */
export const TOKEN_HOLDERS: readonly Role[] = ROLES;
export const OPERATORS: readonly Role[] = ['admin', 'operator'];
export const AUDITORS: readonly Role[] = ['admin', 'auditor'];
export const ADMINS: readonly Role[] = ['admin'];
/**
 * The envelope API. A new data key, and moving a wrapped one to the active version inside the HSM, give no data key
 * that the caller does not already have: encrypters (and operators, for rewrap after a rotation) may do them. Opening
 * a wrapped data key gives its plaintext: decrypters only. So a role allowed to rewrap is not thereby allowed to unwrap.
 */
export const DATA_KEY_MAKERS: readonly Role[] = ['admin', 'encrypter'];
export const REWRAPPERS: readonly Role[] = ['admin', 'operator', 'encrypter'];
export const UNWRAPPERS: readonly Role[] = ['admin', 'decrypter'];

export function actorOf(request: FastifyRequest): string {
  return request.principal ? `token:${request.principal.name} (${request.principal.id})` : 'anonymous';
}

/** Bearer-token authentication on every route that declares roles in its config. */
export function installAuth(app: FastifyInstance, db: Database): void {
  app.addHook('onRequest', async (request) => {
    const roles = request.routeOptions.config.roles;
    if (!roles) return;
    const header = request.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) throw new AuthError('unauthenticated', 'send an API token as "Authorization: Bearer <token>"');
    const principal = await findActiveToken(db, match[1] as string);
    if (!principal) throw new AuthError('unauthenticated', 'the API token is unknown or revoked');
    if (!roles.includes(principal.role)) {
      throw new AuthError('forbidden', `this needs the role ${roles.join(' or ')}; the token has role ${principal.role}`);
    }
    request.principal = principal;
  });
}
