/**
 * What went wrong in the writer: the last failure's text, for stats and for the error flush() rejects
 * with, and how many flushes failed in a row, which sets how long the next retry waits.
 */
import type { CdrLogger } from './logger.js';

const errorText = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

export type NoteFailure = (err: unknown, msg: string, extra?: object) => void;

export class WriterFailures {
  lastError: string | null = null;
  consecutiveFailures = 0;

  constructor(private readonly logger: CdrLogger) {}

  /** An arrow, so that the parts of the writer can be handed it on its own. */
  readonly note: NoteFailure = (err, msg, extra = {}) => {
    this.lastError = errorText(err);
    this.logger.error({ err, ...extra }, msg);
  };
}
