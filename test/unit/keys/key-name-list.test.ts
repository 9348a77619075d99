import { UserError } from '../../../domain/errors';
import { MAX_KEY_LIST_LENGTH, MAX_LISTED_KEYS, parseKeyNameList } from '../../../domain/keys/key-name-list';

const refusal = (text: string): UserError => {
  try {
    parseKeyNameList(text);
  } catch (error) {
    if (error instanceof UserError) return error;
    throw error;
  }
  throw new Error(`'${text}' was accepted`);
};

describe('a comma-separated list of key names', () => {
  it('keeps the names in the order given', () => {
    expect(parseKeyNameList('orders-signing,a,payments.v2_x')).toEqual(['orders-signing', 'a', 'payments.v2_x']);
    expect(parseKeyNameList('risk-trends')).toEqual(['risk-trends']);
  });

  it('takes up to 100 names of 64 characters, which is the longest list the route lets through', () => {
    const names = Array.from({ length: MAX_LISTED_KEYS }, (_, i) => `${String(i).padStart(3, '0')}${'k'.repeat(61)}`);
    const text = names.join(',');
    expect(text).toHaveLength(MAX_KEY_LIST_LENGTH);
    expect(parseKeyNameList(text)).toEqual(names);
  });

  it('refuses more than 100 names', () => {
    const error = refusal(Array.from({ length: MAX_LISTED_KEYS + 1 }, (_, i) => `k${i}`).join(','));
    expect(error).toMatchObject({ code: 'invalid_key_list', status: 400 });
    expect(error.message).toBe('keys: 101 names, at most 100 a request');
  });

  it('names each bad entry, all at once', () => {
    expect(refusal('good,Bad,,also good,good').message).toBe(
      "keys: 'Bad' is not a key name (1–64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit); entry 3 is empty; 'also good' is not a key name (1–64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit); 'good' is named more than once",
    );
    expect(refusal('').message).toBe('keys: entry 1 is empty');
    expect(refusal('a,').message).toBe('keys: entry 2 is empty');
  });

  it('refuses a duplicate rather than folding it', () => {
    expect(refusal('a,b,a,a').message).toBe("keys: 'a' is named more than once");
  });

  it('shortens an overlong bad name in the message', () => {
    const message = refusal(`${'x'.repeat(65)},a`).message;
    expect(message).toBe(`keys: '${'x'.repeat(64)}…' is not a key name (1–64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit)`);
  });

  it('lists ten problems and counts the rest', () => {
    const message = refusal(Array.from({ length: 12 }, (_, i) => `B${i}`).join(',')).message;
    expect(message.endsWith('; and 2 more')).toBe(true);
    expect(message.match(/is not a key name/g)).toHaveLength(10);
  });
});
