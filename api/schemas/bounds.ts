import { Type, type Static } from '@sinclair/typebox';
import { NODE_ID } from '../../domain/config';
import { CLEAN_TEXT_PATTERN } from '../../domain/input-bounds';
import { KEY_NAME_CHARACTERS, KEY_NAME_PATTERN, KEY_NAME_RULE } from '../../domain/keys/key-model';
import { Json } from './typebox';

/**
 * Schemas of the parameters many routes share, so that each bound is written once. Every string a client sends is
 * bounded in length and characters, every number in range: what the schema admits PostgreSQL accepts.
 */

export const keyNameSchema = (description = `a key name: ${KEY_NAME_RULE}`) =>
  ({ type: 'string', minLength: 1, maxLength: 64, pattern: KEY_NAME_PATTERN.source, description }) as const;

/** Path parameters of the routes under /keys/{name}. */
export const KeyNameParamsSchema = Type.Object({ name: Json<string>(keyNameSchema()) });
export type KeyNameParams = Static<typeof KeyNameParamsSchema>;

/**
 * The start of key names (GET /keys?prefix=): characters of key names. One that no name starts with (".") finds no
 * key rather than refusing the request: it is what someone typed into a search box.
 */
export const keyNamePrefixSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 64,
  pattern: `^${KEY_NAME_CHARACTERS}+$`,
  description: 'only keys whose name starts with this',
} as const;

export const nodeIdSchema = (description: string) => ({ type: 'string', minLength: 1, maxLength: 31, pattern: NODE_ID.source, description }) as const;

/** A UUID in its canonical form only: ajv's uuid format also admits a urn:uuid: prefix, which PostgreSQL does not read. */
const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
export const uuidSchema = { type: 'string', format: 'uuid', minLength: 36, maxLength: 36, pattern: UUID_PATTERN } as const;
/** Path parameters of the routes under /alerts/{id}, /tokens/{id}, /subscriptions/{id}. */
export const IdParamsSchema = Type.Object({ id: Json<string>(uuidSchema) });
export type IdParams = Static<typeof IdParamsSchema>;

/** A page offset past any list keyrotor keeps: larger ones are refused, never sent to PostgreSQL. */
export const MAX_OFFSET = 1_000_000_000;
export const offsetSchema = { type: 'integer', minimum: 0, maximum: MAX_OFFSET, default: 0, description: `entries to skip (at most ${MAX_OFFSET})` } as const;
export const limitSchema = (maximum: number, defaultLimit: number) => ({ type: 'integer', minimum: 1, maximum, default: defaultLimit }) as const;

/** A sequence number (audit seq): a safe integer. */
export const sequenceSchema = (description: string) => ({ type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description }) as const;

/** A short free-text filter: clean text of at most `maxLength` characters. */
export const textFilterSchema = (maxLength: number, description: string) =>
  ({ type: 'string', maxLength, pattern: CLEAN_TEXT_PATTERN, description }) as const;

/** A page's query fields: how many entries at the most (`maximum`, by default `defaultLimit`), and how many to skip. */
export const Limit = (maximum: number, defaultLimit: number) => Type.Optional(Json<number>(limitSchema(maximum, defaultLimit)));
export const Offset = Type.Optional(Json<number>(offsetSchema));

/**
 * A query as its handler receives it: the fields whose schema has a default are always there, because the validator
 * fills them in (ajv's useDefaults, api/app.ts). The default is written once, in the schema.
 */
export type Defaulted<Query, Field extends keyof Query> = Omit<Query, Field> & { [F in Field]-?: Exclude<Query[F], undefined> };
