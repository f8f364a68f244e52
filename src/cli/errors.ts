/** Failures of the command line itself, each mapped to its exit code by exit-codes.ts. */

/** Redis could not be reached in time. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
  readonly code = 'unavailable';
}

/** A file named on the command line could not be read. */
export class InputFileError extends Error {
  override readonly name = 'InputFileError';
  readonly code = 'invalid_request';
}

/** `serve` could not load or start the SIP server module. */
export class ServeUnavailableError extends Error {
  override readonly name = 'ServeUnavailableError';
  readonly code = 'unavailable';
}
