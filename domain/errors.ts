/**
 * One error base for the whole project. `code` is stable and machine-readable; `retryable` tells Temporal and callers
 * whether trying again can help; `status` is the HTTP status a client sees. Only `UserError` messages are meant for
 * clients: anything else is reported to them as an internal error and logged in full.
 */
export abstract class KeyrotorError extends Error {
  abstract readonly code: string;
  abstract readonly retryable: boolean;
  abstract readonly status: number;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A request or a configuration the caller can fix. Its message is shown to the caller as it is. */
export class UserError extends KeyrotorError {
  readonly retryable = false;
  constructor(
    readonly code: string,
    message: string,
    readonly status: number = 400,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export class NotFoundError extends UserError {
  constructor(what: string, id: string) {
    super('not_found', `${what} '${id}' does not exist`, 404);
  }
}

/** A configuration that cannot work. Lists every problem at once, each naming where it is and how to fix it. */
export class ConfigError extends KeyrotorError {
  readonly code = 'invalid_configuration';
  readonly retryable = false;
  readonly status = 500;
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Something outside keyrotor failed (an HSM, the database, Temporal). Its message is for operators, not clients. */
export class ExternalError extends KeyrotorError {
  readonly status = 503;
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
