import { UserError } from '../errors';
import { KEY_NAME_PATTERN, KEY_NAME_RULE } from './key-model';

/** Keys one request may name in a comma-separated list (GET /risk-trends?keys=). */
export const MAX_LISTED_KEYS = 100;
/** The longest list that can be valid: MAX_LISTED_KEYS names of 64 characters and the commas between them. */
export const MAX_KEY_LIST_LENGTH = MAX_LISTED_KEYS * 65 - 1;

/**
 * A comma-separated list of key names, in the order given. Refused as a whole, with every problem named at once: an
 * empty entry, a name that is not a key name, a name given twice (a duplicate is a caller's bug more often than not,
 * and refusing it keeps the cap a count of what was sent), more than MAX_LISTED_KEYS names.
 */
export function parseKeyNameList(text: string, field = 'keys'): string[] {
  const names = text.split(',');
  const problems: string[] = [];
  if (names.length > MAX_LISTED_KEYS) problems.push(`${names.length} names, at most ${MAX_LISTED_KEYS} a request`);
  const seen = new Set<string>();
  const twice = new Set<string>();
  names.forEach((name, index) => {
    if (name === '') problems.push(`entry ${index + 1} is empty`);
    else if (!KEY_NAME_PATTERN.test(name)) problems.push(`'${name.length > 64 ? `${name.slice(0, 64)}…` : name}' is not a key name (${KEY_NAME_RULE})`);
    else if (seen.has(name)) twice.add(name);
    seen.add(name);
  });
  for (const name of twice) problems.push(`'${name}' is named more than once`);
  if (problems.length > 0) {
    const listed = problems.slice(0, 10);
    throw new UserError('invalid_key_list', `${field}: ${listed.join('; ')}${problems.length > listed.length ? `; and ${problems.length - listed.length} more` : ''}`);
  }
  return names;
}
