/** Typed driver errors, mirroring distribution's storagedriver errors. */
export class StorageError extends Error {
  constructor(
    message: string,
    readonly driver: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A miss is mostly an answer, not a fault (every HEAD before a push, every check that a link is there), so it is
 * made without a stack trace: capturing one cost more than the lookup. The message names the path.
 */
export class PathNotFoundError extends StorageError {
  constructor(
    readonly path: string,
    driver: string,
  ) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`${driver}: path not found: ${path}`, driver);
    Error.stackTraceLimit = limit;
  }
}

export class InvalidPathError extends StorageError {
  constructor(
    readonly path: string,
    driver: string,
  ) {
    super(`${driver}: invalid path: ${JSON.stringify(path)}`, driver);
  }
}

export class InvalidOffsetError extends StorageError {
  constructor(
    readonly path: string,
    readonly offset: number,
    driver: string,
  ) {
    super(`${driver}: invalid offset ${offset} for path ${path}`, driver);
  }
}

export const isPathNotFound = (err: unknown): err is PathNotFoundError => err instanceof PathNotFoundError;

/**
 * The backend could not be reached or failed (5xx): nothing is wrong with the request and it may be retried,
 * so the registry answers 503.
 */
export class BackendUnavailableError extends StorageError {}
