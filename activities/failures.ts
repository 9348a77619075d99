import { ApplicationFailure } from '@temporalio/activity';
import { KeyrotorError } from '../domain/errors';

/**
 * Turns a domain error into the failure Temporal records: the stable code becomes the failure type and a
 * non-retryable error stops the retries. Messages never carry secrets, so they may enter history.
 */
export function toActivityFailure(error: unknown): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof KeyrotorError) {
    return ApplicationFailure.create({ message: error.message, type: error.code, nonRetryable: !error.retryable });
  }
  return ApplicationFailure.create({ message: error instanceof Error ? error.message : String(error), type: 'internal_error' });
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
