import { errorCodeSpec, isRetryable, type ByCauseErrorCode, type DependencyErrorCode, type ErrorCode, type InternalErrorCode, type ShownErrorCode } from './error-codes';

/**
 * One error base for the whole project. `code` is stable and machine-readable, and it is listed in domain/error-codes.ts,
 * which gives `status` (the HTTP status a client sees) and `retryable` (whether Temporal and callers should try again).
 * Only `UserError` messages are meant for clients: anything else is reported to them as an internal error or an
 * unavailable dependency and logged in full.
 */
export abstract class KeyrotorError extends Error {
  readonly status: number;
  readonly retryable: boolean;

  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = errorCodeSpec(code)?.status ?? 500;
    this.retryable = isRetryable(code, options?.retryable);
  }
}

/** A request or a configuration the caller can fix. Its message is shown to the caller as it is. */
export class UserError extends KeyrotorError {
  declare readonly code: ShownErrorCode;
  constructor(
    code: ShownErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(code, message, { retryable: false });
  }
}

export class NotFoundError extends UserError {
  constructor(what: string, id: string) {
    super('not_found', `${what} '${id}' does not exist`);
  }
}

/** A failure of keyrotor itself (its state, its code, its configuration): logged in full, never shown. */
export class InternalError extends KeyrotorError {
  declare readonly code: InternalErrorCode;
  constructor(code: InternalErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A configuration that cannot work. Lists every problem at once, each naming where it is and how to fix it. */
export class ConfigError extends InternalError {
  constructor(readonly problems: string[]) {
    super('invalid_configuration', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Something outside keyrotor failed (an HSM, the database, Temporal). Its message is for operators, not clients. */
export class ExternalError extends KeyrotorError {
  declare readonly code: DependencyErrorCode;
  constructor(code: Exclude<DependencyErrorCode, ByCauseErrorCode>, message: string, options?: { cause?: unknown });
  constructor(code: DependencyErrorCode & ByCauseErrorCode, message: string, options: { cause?: unknown; retryable: boolean });
  constructor(code: DependencyErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(code, message, options);
  }
}
