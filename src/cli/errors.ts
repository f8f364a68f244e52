/** Failures of the command line itself and of its requests, each mapped to its exit code by exit-codes.ts. */

/** The admin API could not be reached, did not answer in time, or answered something that is not the API. */
export class AdminUnreachableError extends Error {
  override readonly name = 'AdminUnreachableError';
}

/** The admin API refused a request: its stable `code`, its message and its problems, as it sent them. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** invalid_request: `field: what is wrong` texts; ratedeck_invalid: `{line, message}` objects. */
    readonly problems: readonly unknown[],
    readonly problemCount?: number,
  ) {
    super(message);
  }
}

/** Arguments the CLI cannot turn into a request (a count that is not a whole number): nothing was sent. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
  }
}

/** A file named on the command line could not be read. */
export class InputFileError extends Error {
  override readonly name = 'InputFileError';
}

/** A file the command would write: it exists (and --force was not given), or it cannot be written. Nothing was written. */
export class OutputFileError extends Error {
  override readonly name = 'OutputFileError';
}

/** A download did not arrive whole: its bytes do not match the checksum or length the API sent. Nothing was kept. */
export class DownloadCorruptError extends Error {
  override readonly name = 'DownloadCorruptError';
}

/** `serve` could not load or start the SIP server module. */
export class ServeUnavailableError extends Error {
  override readonly name = 'ServeUnavailableError';
}
