import type { Database } from '../../adapters/postgres/database';
import { createToken, listTokens, revokeToken, type ApiTokenInfo, type Role } from '../../adapters/postgres/token-repository';
import { NotFoundError } from '../../domain/errors';

/** What the token routes do: issue API tokens (the secret is shown once), list them, revoke one. */
export class TokenService {
  constructor(private readonly db: Database) {}

  async issue(input: { name: string; role: Role; actor: string }): Promise<{ info: ApiTokenInfo; token: string }> {
    return createToken(this.db, input);
  }

  async list(): Promise<ApiTokenInfo[]> {
    return listTokens(this.db);
  }

  /** Revokes an active token, or says there is no active token by that id. */
  async revoke(id: string, actor: string): Promise<ApiTokenInfo> {
    const revoked = await revokeToken(this.db, id, actor);
    if (!revoked) throw new NotFoundError('active token', id);
    return revoked;
  }
}
