import { ExternalError, UserError } from '../../domain/errors';

/** SQLSTATE classes after which the same statement can succeed later (connection loss, contention, shutdown). */
const RETRYABLE_CLASSES = ['08', '40', '53', '57'];

/** Translates a node-postgres error into a domain error that says whether a retry can help. */
export function toDatabaseError(operation: string, error: unknown): Error {
  if (error instanceof ExternalError || error instanceof UserError) return error;
  const sqlstate = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : undefined;
  if (sqlstate && /^[0-9A-Z]{5}$/.test(sqlstate)) {
    return new ExternalError(`db_${sqlstate.toLowerCase()}`, `database: ${operation} failed (SQLSTATE ${sqlstate})`, { retryable: RETRYABLE_CLASSES.includes(sqlstate.slice(0, 2)), cause: error });
  }
  const code = (error as NodeJS.ErrnoException).code;
  return new ExternalError('db_unavailable', `database: ${operation} failed (${code ?? (error as Error).message})`, { retryable: true, cause: error });
}
