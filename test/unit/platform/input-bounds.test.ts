import { DURATION_PATTERN, TIMESTAMP_PATTERN, isCleanText, parseTimestamp } from '../../../domain/input-bounds';
import { KEY_NAME_PATTERN, validateKeyName } from '../../../domain/keys/key-model';

describe('key names', () => {
  it('refuses every name a URL normaliser would rewrite: ".", ".." and anything not starting with a letter or digit', () => {
    for (const name of ['.', '..', '...', '.well-known', '-x', '_x', '', 'a'.repeat(65), 'A', 'a/b', 'a b', 'a%2e']) {
      expect({ name, valid: KEY_NAME_PATTERN.test(name) }).toEqual({ name, valid: false });
    }
    for (const name of ['a', '0', 'a..b', 'a.', 'payments.v2_eu-1', `a${'-'.repeat(63)}`]) {
      expect({ name, valid: KEY_NAME_PATTERN.test(name) }).toEqual({ name, valid: true });
    }
    expect(() => validateKeyName('..')).toThrow(expect.objectContaining({ code: 'invalid_key_name', message: expect.stringContaining('starting with a letter or digit') }));
  });
});

/** A JSON Schema pattern as ajv reads it (Unicode regular expressions). */
const json = (pattern: string): RegExp => new RegExp(pattern, 'u');

describe('timestamps', () => {
  it('reads ISO 8601 times with their zone within what PostgreSQL reads, and nothing else', () => {
    expect(parseTimestamp('2026-11-22T01:46:31+15:59')).toBe(Date.parse('2026-11-22T01:46:31+15:59'));
    expect(parseTimestamp('2026-07-01T00:00Z')).toBe(Date.parse('2026-07-01T00:00:00Z'));
    expect(parseTimestamp('0001-01-01T00:00:00Z')).toBe(Date.parse('0001-01-01T00:00:00Z'));
    for (const text of [
      '2026-11-22T01:46:31+21:35', // PostgreSQL: time zone displacement out of range
      '2026-11-22T01:46:31-16:00',
      '0000-01-01T00:00:00Z', // PostgreSQL: no year 0
      '0001-01-01T00:00:00+01:00', // the instant falls in year 0
      '2026-02-29T00:00:00Z', // a day February 2026 lacks
      '2026-07-01T00:00:00', // no zone
      '2026-07-01', '+010000-01-01T00:00:00Z', '2026-07-01T00:00:00Z\u0000', 'now', 20260701, null,
    ]) {
      expect({ text, ms: parseTimestamp(text) }).toEqual({ text, ms: Number.NaN });
    }
  });

  it('states the same bounds as a pattern for the API schema', () => {
    expect(json(TIMESTAMP_PATTERN).test('2026-11-22T01:46:31.123456789+15:59')).toBe(true);
    for (const text of ['2026-11-22T01:46:31+21:35', '0000-01-01T00:00:00Z', '2026-07-01T00:00:00', '2026-07-01t00:00:00z']) {
      expect({ text, matches: json(TIMESTAMP_PATTERN).test(text) }).toEqual({ text, matches: false });
    }
  });
});

describe('text and durations', () => {
  it('takes text of valid Unicode without control characters, within its length', () => {
    expect(isCleanText('checkout – EU 🇪🇺', 200)).toBe(true);
    for (const text of ['', 'a\u0000b', 'a\nb', 'a\u0085b', 'a\ud800b', 'b\udc00', 'x'.repeat(201), 42]) {
      expect({ text, clean: isCleanText(text, 200) }).toEqual({ text, clean: false });
    }
  });

  it('bounds the digits of a duration, so no number in it overflows', () => {
    expect(json(DURATION_PATTERN).test('999999999d')).toBe(true);
    expect(json(DURATION_PATTERN).test('9999999999d')).toBe(false);
    expect(json(DURATION_PATTERN).test('P1W2DT3H4M5.5S')).toBe(true);
    expect(json(DURATION_PATTERN).test('P')).toBe(false);
  });
});
