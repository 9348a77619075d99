import type { ShownErrorCode } from '../../domain/error-codes';
import { UserError } from '../../domain/errors';
import type { RowProblem } from '../../domain/usage/events';

/** Bad rows a refusal's message names at the most; the problem's `rows` lists them all. */
const LISTED_PROBLEMS = 20;

/**
 * The refusal of a batch that is stored whole or not at all (POST /usage, POST /threat-intel): its message names the
 * first bad rows with every reason, its `rows` all of them.
 */
export function batchRefusal(code: ShownErrorCode, what: string, problems: readonly RowProblem[]): UserError {
  const listed = problems.slice(0, LISTED_PROBLEMS).map((p) => (p.row < 0 ? p.problems.join('; ') : `row ${p.row}: ${p.problems.join('; ')}`));
  const more = problems.length > LISTED_PROBLEMS ? ' | …' : '';
  return new UserError(code, `${problems.length} bad ${what}(s), nothing stored: ${listed.join(' | ')}${more}`, { rows: problems });
}
