import { UserError } from '../errors';
import { MAX_DURATION_MS } from '../input-bounds';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const SHORT = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/;
// Years and months have no fixed length, so a cryptoperiod in them would depend on the calendar: weeks and days only.
const ISO = /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * Parses "90d", "12h", "30m", "45s", "2w" or an ISO 8601 duration without years or months ("P90D", "PT12H"), of at
 * most 100 years: every date computed from a duration stays a valid date.
 */
export function parseDuration(text: string, field: string): number {
  const ms = parseUnbounded(typeof text === 'string' && text.length <= 40 ? text : '', field, text);
  if (!(ms <= MAX_DURATION_MS)) throw new UserError('invalid_duration', `${field}: '${text}' is longer than 100 years (36500d), the longest duration keyrotor accepts`);
  return ms;
}

function parseUnbounded(text: string, field: string, original: unknown): number {
  const short = SHORT.exec(text);
  if (short) return Math.round(Number(short[1]) * (UNIT_MS[short[2] as string] as number));
  const iso = text !== 'P' && text !== 'PT' && !text.endsWith('T') ? ISO.exec(text) : null;
  if (iso) {
    const [, weeks, days, hours, minutes, seconds] = iso.map((part) => (part === undefined ? 0 : Number(part)));
    return Math.round(((weeks as number) * 7 * 86_400 + (days as number) * 86_400 + (hours as number) * 3600 + (minutes as number) * 60 + (seconds as number)) * 1000);
  }
  const shown = typeof original === 'string' ? `'${original.length > 40 ? `${original.slice(0, 40)}…` : original}'` : 'the value';
  throw new UserError('invalid_duration', `${field}: ${JSON.stringify(shown).slice(1, -1)} is not a duration; use a number with s, m, h, d or w ("90d", "12h") or ISO 8601 without years or months ("P90D", "PT12H")`);
}

/** The shortest exact short form, for messages: 90d, 36h, 90m, 5s. */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] as number;
    if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
