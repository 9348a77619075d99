import { Type, type Static } from '@sinclair/typebox';
import { DATA_KEY_BYTES, MAX_CIPHERTEXT_LENGTH } from '../../domain/keys/ciphertext';
import { MAX_ENVELOPE_BATCH } from '../../domain/keys/envelope-access';

/**
 * The envelope API of aes-256 keys (POST /keys/{name}/datakey, /unwrap, /rewrap). A ciphertext is
 * `keyrotor:<key>:v<version>:<base64url of the AES key wrap (RFC 5649) blob>`; a data key travels as base64.
 */

const CiphertextText = Type.String({
  minLength: 1,
  maxLength: MAX_CIPHERTEXT_LENGTH,
  description: 'keyrotor:<key>:v<version>:<base64url, no padding, of the data key wrapped with AES key wrap with padding (RFC 5649) under that version>',
});
const DataKeyText = Type.String({ description: 'the data key, base64 (standard alphabet, padded)' });
const ItemError = Type.Object({ code: Type.String(), message: Type.String() }, { description: 'why this item was refused; the other items are unaffected' });

export const DataKeyBodySchema = Type.Object(
  {
    bytes: Type.Optional(Type.Union(DATA_KEY_BYTES.map((bytes) => Type.Literal(bytes)), { default: 32, description: 'the data key\'s length: 16, 24 or 32 bytes (AES-128/192/256)' })),
    plaintext: Type.Optional(Type.Boolean({ default: false, description: 'also return the data key itself, once (to encrypt with it now); without it only its wrapped form is returned' })),
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_ENVELOPE_BATCH, description: `the batch form: this many data keys (1 to ${MAX_ENVELOPE_BATCH}), answered as \`batch\`` })),
  },
  { additionalProperties: false },
);
export type DataKeyBody = Static<typeof DataKeyBodySchema>;

const MadeDataKey = { ciphertext: CiphertextText, plaintext: Type.Optional(DataKeyText) };
const DataKeyHeader = { key: Type.String(), version: Type.Integer({ description: 'the active version that wrapped the data keys' }) };
export const DataKeySchema = Type.Union([
  Type.Object({ ...DataKeyHeader, ...MadeDataKey }),
  Type.Object({ ...DataKeyHeader, batch: Type.Array(Type.Object(MadeDataKey)) }),
]);
export type DataKeyReply = Static<typeof DataKeySchema>;

const oneOrBatch = (description: string) =>
  Type.Object(
    {
      ciphertext: Type.Optional(CiphertextText),
      batch: Type.Optional(Type.Array(Type.Object({ ciphertext: CiphertextText }, { additionalProperties: false }), { minItems: 1, maxItems: MAX_ENVELOPE_BATCH, description: `up to ${MAX_ENVELOPE_BATCH} items; each is answered on its own` })),
    },
    { additionalProperties: false, description: `${description}: either \`ciphertext\` or \`batch\`` },
  );

export const EnvelopeBodySchema = oneOrBatch('the ciphertexts');
export type EnvelopeBody = Static<typeof EnvelopeBodySchema>;

const Unwrapped = Type.Object({ version: Type.Integer(), plaintext: DataKeyText });
export const UnwrapSchema = Type.Union([
  Unwrapped,
  Type.Object({ batch: Type.Array(Type.Union([Unwrapped, Type.Object({ error: ItemError })])) }),
]);
export type UnwrapReply = Static<typeof UnwrapSchema>;

const Rewrapped = Type.Object({ version: Type.Integer({ description: 'the active version the data key is wrapped under now' }), ciphertext: CiphertextText });
export const RewrapSchema = Type.Union([
  Rewrapped,
  Type.Object({ batch: Type.Array(Type.Union([Rewrapped, Type.Object({ error: ItemError })])) }),
]);
export type RewrapReply = Static<typeof RewrapSchema>;
