import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Database } from './database';
import { appendAudit } from './audit-repository';

/**
 * admin, operator and auditor manage and read keyrotor; encrypter and decrypter are applications of the envelope API:
 * an encrypter makes and rewraps data keys, only a decrypter unwraps them (see api/auth.ts).
 */
export const ROLES = ['admin', 'operator', 'auditor', 'encrypter', 'decrypter'] as const;
export type Role = (typeof ROLES)[number];

export interface ApiTokenInfo {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
}

/** Tokens carry 256 random bits, so a plain SHA-256 is a sound way to store them: nothing to brute-force. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function newToken(): string {
  return `kr_${randomBytes(32).toString('base64url')}`;
}

interface TokenRow {
  id: string;
  name: string;
  role: Role;
  created_at: Date;
  created_by: string;
  revoked_at: Date | null;
}

const toInfo = (row: TokenRow): ApiTokenInfo => ({
  id: row.id,
  name: row.name,
  role: row.role,
  createdAt: row.created_at.toISOString(),
  createdBy: row.created_by,
  revokedAt: row.revoked_at?.toISOString() ?? null,
});

export async function findActiveToken(db: Database, token: string): Promise<ApiTokenInfo | undefined> {
  const { rows } = await db.query<TokenRow>('SELECT * FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL', [hashToken(token)]);
  return rows[0] ? toInfo(rows[0]) : undefined;
}

/** Stores a new token's hash and audits it; returns the clear token, which is shown once and never stored. */
export async function createToken(db: Database, input: { name: string; role: Role; actor: string; token?: string }): Promise<{ info: ApiTokenInfo; token: string }> {
  const token = input.token ?? newToken();
  const info = await db.transaction(async (client) => {
    const { rows } = await client.query<TokenRow>(
      'INSERT INTO api_tokens (id, name, role, token_hash, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING *',
      [randomUUID(), input.name, input.role, hashToken(token), input.actor],
    );
    const created = toInfo(rows[0] as TokenRow);
    await appendAudit(client, { actor: input.actor, action: 'token.created', subject: `token/${created.id}`, details: { name: created.name, role: created.role } });
    return created;
  });
  return { info, token };
}

export async function listTokens(db: Database): Promise<ApiTokenInfo[]> {
  const { rows } = await db.query<TokenRow>('SELECT * FROM api_tokens ORDER BY created_at');
  return rows.map(toInfo);
}

export async function revokeToken(db: Database, id: string, actor: string): Promise<ApiTokenInfo | undefined> {
  return db.transaction(async (client) => {
    const { rows } = await client.query<TokenRow>('UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING *', [id]);
    if (!rows[0]) return undefined;
    await appendAudit(client, { actor, action: 'token.revoked', subject: `token/${id}`, details: { name: rows[0].name, role: rows[0].role } });
    return toInfo(rows[0]);
  });
}

/**
 * Makes sure an administrator can get in: KEYROTOR_ADMIN_TOKEN is registered when given; otherwise, when no admin
 * token exists yet, one is created and returned so that start-up prints it once.
 */
export async function ensureAdminToken(db: Database, fromEnv: string | undefined): Promise<{ created: string | undefined }> {
  if (fromEnv !== undefined) {
    if (fromEnv.length < 24) throw new Error('KEYROTOR_ADMIN_TOKEN must be at least 24 characters; generate one with `openssl rand -base64 32`');
    if (!(await findActiveToken(db, fromEnv))) await createToken(db, { name: 'admin (KEYROTOR_ADMIN_TOKEN)', role: 'admin', actor: 'system', token: fromEnv });
    return { created: undefined };
  }
  const { rows } = await db.query<{ count: string }>("SELECT count(*) FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL");
  if (Number(rows[0]?.count ?? 0) > 0) return { created: undefined };
  const { token } = await createToken(db, { name: 'first admin', role: 'admin', actor: 'system' });
  return { created: token };
}
