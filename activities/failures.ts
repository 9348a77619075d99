import { ApplicationFailure } from '@temporalio/activity';
import { isRetryable, type ErrorCode } from '../domain/error-codes';
import { KeyrotorError } from '../domain/errors';

/**
 * A failure an activity raises itself: its type a code of the table, which says whether Temporal retries it (`retryable`
 * answers for the codes whose cause decides).
 */
export function activityFailure(code: ErrorCode, message: string, options?: { retryable?: boolean }): ApplicationFailure {
  return ApplicationFailure.create({ message, type: code, nonRetryable: !isRetryable(code, options?.retryable) });
}

/**
 * Turns a domain error into the failure Temporal records: the stable code becomes the failure type and a
 * non-retryable error stops the retries. Messages never carry secrets, so they may enter history.
 */
export function toActivityFailure(error: unknown): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof KeyrotorError) {
    return ApplicationFailure.create({ message: error.message, type: error.code, nonRetryable: !error.retryable });
  }
  return activityFailure('internal_error', error instanceof Error ? error.message : String(error));
}

/** Wraps every activity of an object so that each failure reaches Temporal as a typed ApplicationFailure. */
export function withTypedFailures<T extends Record<string, (input: never) => Promise<unknown>>>(activities: T): T {
  const wrapped: Record<string, (input: never) => Promise<unknown>> = {};
  for (const [name, activity] of Object.entries(activities)) {
    wrapped[name] = async (input: never) => {
      try {
        return await activity(input);
      } catch (error) {
        throw toActivityFailure(error);
      }
    };
  }
  return wrapped as T;
}
