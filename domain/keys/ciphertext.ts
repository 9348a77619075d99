import { UserError } from '../errors';
import { KEY_NAME_PATTERN, validateKeyName } from './key-model';

/**
 * The text form of a wrapped data key, as applications store it next to the data it encrypts (like Vault's `vault:v1:`):
 *
 *   keyrotor:<key-name>:v<version>:<blob>
 *
 * `key-name` is the keyrotor key (KEY_NAME_PATTERN), `version` the version of it whose KEK wrapped the data key (a
 * positive integer without leading zeros, at most 2^31 - 1), and `blob` the AES key wrap with padding (RFC 5649,
 * CKM_AES_KEY_WRAP_PAD) of the data key, in base64url without padding (RFC 4648 §5). The prefix names the KEK that opens
 * the blob, so a rotation can rewrap old blobs and a reader can tell which version each one needs.
 *
 * A data key is 16, 24 or 32 bytes (AES-128/192/256); its RFC 5649 blob is 8 bytes longer (the integrity block), so a
 * blob is 24, 32 or 40 bytes. RFC 5649 allows any multiple of 8 from 16 up; the other lengths are refused here, before
 * an HSM is asked, because no keyrotor data key makes them.
 *
 * Parsing refuses with `invalid_ciphertext` (details.reason says which rule) or `ciphertext_for_other_key`; a refusal
 * quotes at most a short, sanitised start of the text, never the blob.
 */

export const CIPHERTEXT_PREFIX = 'keyrotor';
export const DATA_KEY_BYTES = [16, 24, 32] as const;
export type DataKeyBytes = (typeof DATA_KEY_BYTES)[number];

/** RFC 5649: the wrapped form is the key padded to a multiple of 8, plus the 8-byte integrity block. */
const KWP_OVERHEAD_BYTES = 8;
export const WRAPPED_DATA_KEY_BYTES: readonly number[] = DATA_KEY_BYTES.map((bytes) => bytes + KWP_OVERHEAD_BYTES);
const MAX_WRAPPED_BYTES = Math.max(...WRAPPED_DATA_KEY_BYTES);
export const MAX_VERSION = 2 ** 31 - 1;

const base64urlLength = (bytes: number): number => Math.ceil((bytes * 4) / 3);
/** The longest text a keyrotor ciphertext can be: a longer input is refused before it is looked at. */
export const MAX_CIPHERTEXT_LENGTH = `${CIPHERTEXT_PREFIX}:`.length + 64 + ':v'.length + String(MAX_VERSION).length + ':'.length + base64urlLength(MAX_WRAPPED_BYTES);

export interface Ciphertext {
  key: string;
  version: number;
  blob: Buffer;
}

export type CiphertextProblem = 'too_long' | 'malformed' | 'version' | 'encoding' | 'length';

const QUOTE_LENGTH = 16;

/** At most the first 16 characters, anything outside the format's alphabet shown as '?': safe in a message and a log. */
function quoteStart(text: string): string {
  const start = text.slice(0, QUOTE_LENGTH).replace(/[^A-Za-z0-9._:-]/g, '?');
  return `'${start}${text.length > QUOTE_LENGTH ? '…' : ''}'`;
}

function refuse(problem: CiphertextProblem, message: string): UserError {
  return new UserError('invalid_ciphertext', message, { reason: problem });
}

const VERSION = /^v([1-9][0-9]{0,9})$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
// The whole text: nothing outside the alphabets of the parts (no whitespace, no NUL, no padding '=').
const CHARACTERS = /^[A-Za-z0-9._:-]*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MAX_WRAPPED_BASE64_LENGTH = 4 * Math.ceil(MAX_WRAPPED_BYTES / 3);

/** The blob of a data key: one of the lengths a 16-, 24- or 32-byte key wraps to. */
export function checkWrappedDataKey(blob: Buffer): Buffer {
  if (blob.length % KWP_OVERHEAD_BYTES !== 0 || blob.length < 2 * KWP_OVERHEAD_BYTES) {
    throw refuse('length', `the wrapped data key is ${blob.length} bytes; an AES key wrap (RFC 5649) is a multiple of 8 bytes, at least 16`);
  }
  if (!WRAPPED_DATA_KEY_BYTES.includes(blob.length)) {
    throw refuse('length', `the wrapped data key is ${blob.length} bytes; a wrapped 16-, 24- or 32-byte data key is ${WRAPPED_DATA_KEY_BYTES.join(', ')} bytes`);
  }
  return blob;
}

/**
 * A wrapped data key as activity data carries it (standard base64, house rule 3): strict decoding, since
 * Buffer.from(…, 'base64') skips characters that do not belong, and then the length rule.
 */
export function decodeWrappedDataKey(base64: string): Buffer {
  if (typeof base64 !== 'string' || base64.length > MAX_WRAPPED_BASE64_LENGTH || !BASE64.test(base64)) {
    throw refuse('encoding', `the wrapped data key is not base64 of at most ${MAX_WRAPPED_BYTES} bytes`);
  }
  return checkWrappedDataKey(Buffer.from(base64, 'base64'));
}

function checkVersion(version: number): number {
  if (!Number.isInteger(version) || version < 1 || version > MAX_VERSION) throw refuse('version', `version must be an integer from 1 to ${MAX_VERSION}`);
  return version;
}

/** The text form of a wrapped data key. Refuses what parseCiphertext would refuse, so every text it makes parses back. */
export function formatCiphertext(input: Ciphertext): string {
  const key = validateKeyName(input.key);
  const version = checkVersion(input.version);
  const blob = checkWrappedDataKey(input.blob);
  return `${CIPHERTEXT_PREFIX}:${key}:v${version}:${blob.toString('base64url')}`;
}

/**
 * Reads a ciphertext made by formatCiphertext and checks that it is for `expectedKey`. Only the form is checked here:
 * whether the blob opens is for the HSM to say.
 */
export function parseCiphertext(text: string, expectedKey: string): Ciphertext {
  validateKeyName(expectedKey);
  if (typeof text !== 'string') throw refuse('malformed', 'the ciphertext must be a string');
  if (text.length > MAX_CIPHERTEXT_LENGTH) {
    throw refuse('too_long', `the ciphertext is ${text.length} characters; a keyrotor ciphertext has at most ${MAX_CIPHERTEXT_LENGTH}`);
  }
  const expected = `keyrotor:<key name>:v<version>:<base64url blob>`;
  if (!CHARACTERS.test(text)) {
    throw refuse('malformed', `the ciphertext ${quoteStart(text)} holds characters no keyrotor ciphertext has (whitespace, control characters, padding or other symbols); the form is ${expected}`);
  }
  const parts = text.split(':');
  if (parts.length !== 4 || parts[0] !== CIPHERTEXT_PREFIX) {
    throw refuse('malformed', `the ciphertext ${quoteStart(text)} is not of the form ${expected}`);
  }
  const [, key, versionText, encoded] = parts as [string, string, string, string];
  if (!KEY_NAME_PATTERN.test(key)) throw refuse('malformed', `the ciphertext ${quoteStart(text)} does not name a key: the part after 'keyrotor:' is not a key name`);
  const versionDigits = VERSION.exec(versionText)?.[1];
  const version = versionDigits === undefined ? NaN : Number(versionDigits);
  if (!(version >= 1 && version <= MAX_VERSION)) {
    throw refuse('version', `the ciphertext for key '${key}' has no valid version: it must be 'v' and an integer from 1 to ${MAX_VERSION} without leading zeros`);
  }
  const blob = Buffer.from(encoded, 'base64url');
  // Canonical only: a length of 4n+1 characters, or unused bits that are not zero, would decode to the same bytes as
  // another text, and a ciphertext has one form.
  if (!BASE64URL.test(encoded) || encoded.length === 0 || blob.toString('base64url') !== encoded) {
    throw refuse('encoding', `the ciphertext for key '${key}' v${version} does not end in canonical base64url without padding`);
  }
  checkWrappedDataKey(blob);
  if (key !== expectedKey) {
    throw new UserError('ciphertext_for_other_key', `the ciphertext is for key '${key}', not '${expectedKey}'`, { key });
  }
  return { key, version, blob };
}
