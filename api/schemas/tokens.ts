import { Type, type Static } from '@sinclair/typebox';
import { ROLES } from '../../adapters/postgres/token-repository';
import { DateTime, NullableDateTime, StringEnum } from './typebox';

/** An API token as listed: never its value, which only the reply that creates it shows. */
export const TokenInfoSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  role: StringEnum(ROLES),
  createdAt: DateTime(),
  createdBy: Type.String(),
  revokedAt: NullableDateTime(),
});

export const IssueTokenBodySchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[\\w .@-]+$', description: 'what the token is for: letters, digits, _ . @ - and spaces' }),
    role: StringEnum(ROLES),
  },
  { additionalProperties: false },
);
export type IssueTokenBody = Static<typeof IssueTokenBodySchema>;

export const IssuedTokenSchema = Type.Object({ token: Type.String(), info: TokenInfoSchema });
export const TokenListSchema = Type.Object({ tokens: Type.Array(TokenInfoSchema) });

/** GET /whoami: the calling token. */
export const WhoamiSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  role: StringEnum(ROLES),
  mayAct: Type.Boolean({ description: 'true for the roles the action routes accept' }),
});
export type Whoami = Static<typeof WhoamiSchema>;
