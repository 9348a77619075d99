import { UserError } from './errors';

/**
 * The bounds of what a client may send, defined once: the API's schemas show them (pattern, maxLength, minimum,
 * maximum) and the workflows check them again, so a signal or Update sent from the Temporal Web UI or CLI meets the
 * same rules. Text that PostgreSQL refuses (NUL) or cannot store as JSON (a lone surrogate) must never reach it.
 */

/** Free text (a reason, an application name): at most this many characters. */
export const TEXT_MAX_LENGTH = 1000;

/**
 * No control characters (C0, DEL, C1), as a JSON Schema pattern that every regular-expression engine reads: ajv's, and
 * the Rust and Python ones of OpenAPI tools (which cannot compile a class of surrogates, and would drop the pattern).
 * Lone surrogates are refused beside it: by textProblem here, and in every request by the API (api/well-formed.ts).
 */
export const CLEAN_TEXT_PATTERN = '^[^\\u0000-\\u001f\\u007f-\\u009f]*$';
const CLEAN_TEXT = new RegExp(CLEAN_TEXT_PATTERN, 'u');
// With the u flag a surrogate pair is one code point, which this class does not match: it finds unpaired ones only.
const LONE_SURROGATE = /[\ud800-\udfff]/u;

/** Whether `value` is valid Unicode: no lone surrogate, which PostgreSQL cannot store as JSON (SQLSTATE 22P05). */
export const isWellFormedText = (value: string): boolean => !LONE_SURROGATE.test(value);

/** The JSON Schema of a free-text field. */
export const textSchema = (description: string, minLength = 0) =>
  ({ type: 'string', minLength, maxLength: TEXT_MAX_LENGTH, pattern: CLEAN_TEXT_PATTERN, description }) as const;

/** Why `value` is not acceptable free text, or null when it is. */
export function textProblem(value: unknown, field: string, options: { required?: boolean } = {}): string | null {
  if (typeof value !== 'string') return `${field}: must be text`;
  if (options.required && value.trim() === '') return `${field}: must not be empty`;
  if ([...value].length > TEXT_MAX_LENGTH) return `${field}: at most ${TEXT_MAX_LENGTH} characters`;
  if (!CLEAN_TEXT.test(value) || !isWellFormedText(value)) return `${field}: must be valid Unicode text without control characters`;
  return null;
}

/** Checks free text and answers it, or refuses it as `invalid_text`. */
export function checkText(value: unknown, field: string, options: { required?: boolean } = {}): string {
  const problem = textProblem(value, field, options);
  if (problem !== null) throw new UserError(options.required && typeof value === 'string' && value.trim() === '' ? 'reason_required' : 'invalid_text', problem);
  return value as string;
}

/** The longest duration anything in keyrotor accepts: 100 years of 365 days. Date arithmetic on it cannot overflow. */
export const MAX_DURATION_MS = 36_500 * 86_400_000;
/** The shortest non-zero duration a policy or extension may name. */
export const MIN_DURATION_MS = 1000;

/** A duration as text: "90d", "12h", "2w", "30m", "45s", or ISO 8601 without years or months ("P90D", "PT12H"). */
export const DURATION_PATTERN = '^(?:\\d{1,9}(?:\\.\\d{1,6})?[smhdw]|P(?!$)(?:\\d{1,9}(?:\\.\\d{1,6})?W)?(?:\\d{1,9}(?:\\.\\d{1,6})?D)?(?:T(?=\\d)(?:\\d{1,9}(?:\\.\\d{1,6})?H)?(?:\\d{1,9}(?:\\.\\d{1,6})?M)?(?:\\d{1,9}(?:\\.\\d{1,6})?S)?)?)$';

/** The JSON Schema of a duration field (its range is checked by the parser: 1 s, or 0 where allowed, to 100 years). */
export const durationSchema = (description: string) => ({ type: 'string', maxLength: 40, pattern: DURATION_PATTERN, description }) as const;

/** Whether `value` is text of 1 to `maxLength` characters of valid Unicode without control characters. */
export function isCleanText(value: unknown, maxLength = TEXT_MAX_LENGTH): value is string {
  return typeof value === 'string' && value.length > 0 && [...value].length <= maxLength && CLEAN_TEXT.test(value) && isWellFormedText(value);
}

/**
 * A point in time with its zone (ISO 8601 / RFC 3339; seconds may be left out): years 0001 to 9999 and offsets up to
 * ±15:59, what PostgreSQL's timestamptz reads (it refuses year 0 and larger offsets with an error, not a 400).
 */
export const TIMESTAMP_PATTERN = '^(?!0000)\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d{1,9})?)?(?:Z|[+-](?:0\\d|1[0-5]):[0-5]\\d)$';
const TIMESTAMP = new RegExp(TIMESTAMP_PATTERN);
/** "2026-01-01T00:00:00.123456789+15:59" */
export const TIMESTAMP_MAX_LENGTH = 35;
/** The instants whose ISO form has a four-digit year, as PostgreSQL reads it back. */
export const MIN_TIMESTAMP_MS = Date.parse('0001-01-01T00:00:00Z');
export const MAX_TIMESTAMP_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** The JSON Schema of a timestamp in a query string: an RFC 3339 date-time (a day that exists) within TIMESTAMP_PATTERN. */
export const timestampSchema = (description: string) =>
  ({ type: 'string', format: 'date-time', maxLength: TIMESTAMP_MAX_LENGTH, pattern: TIMESTAMP_PATTERN, description }) as const;

/** Whether `ms` is an instant keyrotor stores (see MIN_TIMESTAMP_MS). */
export const isStorableTime = (ms: number): boolean => ms >= MIN_TIMESTAMP_MS && ms <= MAX_TIMESTAMP_MS;

/** Milliseconds of a timestamp with its zone within TIMESTAMP_PATTERN; NaN for anything else, a day a month lacks included. */
export function parseTimestamp(text: unknown): number {
  if (typeof text !== 'string' || !TIMESTAMP.test(text)) return Number.NaN;
  const [year, month, day] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
  // Date.parse rolls 2026-02-30 over into March; a time that names a day that does not exist is refused instead.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return Number.NaN;
  const ms = Date.parse(text);
  return isStorableTime(ms) ? ms : Number.NaN;
}
