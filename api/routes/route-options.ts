import type { Role } from '../../adapters/postgres/token-repository';
import type { ErrorCode } from '../../domain/error-codes';
import { authErrors } from '../schemas/problem';

interface RouteSchemas {
  params?: object;
  querystring?: object;
  headers?: object;
  body?: object;
  response: Record<number, unknown>;
}

/**
 * The options of the routes of one OpenAPI tag, so that what every route repeats is written once. A route that names the
 * roles it allows needs a bearer token, is documented as such and may answer with the errors of authentication
 * (`authErrors`); a public route (`roles` null) lists all of its error replies itself. `problemCodes` names the error
 * code a refused body field gets (api/errors.ts).
 */
export function routesOf(tag: string) {
  return <S extends RouteSchemas>(roles: readonly Role[] | null, summary: string, schema: S, problemCodes?: Readonly<Record<string, ErrorCode>>) => ({
    config: { ...(roles ? { roles } : {}), ...(problemCodes ? { problemCodes } : {}) },
    schema: {
      tags: [tag],
      summary,
      ...(roles ? { security: [{ bearer: [] }] } : {}),
      ...schema,
      response: roles ? { ...schema.response, ...authErrors } : schema.response,
    },
  });
}
