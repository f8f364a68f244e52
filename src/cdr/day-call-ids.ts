/**
 * The call ids (never rejected attempts) a day's two files hold, so that a CDR delivered again is written
 * only to the file that lacks it.
 *
 * Memory stays bounded however long a day is. The ids of CDRs this instance writes are held only until
 * the writer has deleted their stream entries (`release`): an entry that is gone cannot come back. The
 * ids read from the files when the day was opened are held until the writer has seen every entry that was
 * in Redis at that time (`forgetScanned`, after a full recovery pass).
 */
export class DayCallIds {
  /** Almost every id read at open is in both files, so that set is shared rather than kept twice. */
  private readonly inBoth: Set<string>;
  private readonly csvOnly: Set<string>;
  private readonly jsonlOnly: Set<string>;
  /** Call ids this instance wrote to both files, until release(). */
  private readonly written = new Set<string>();

  constructor(scanned: { inBoth: Set<string>; csvOnly: Set<string>; jsonlOnly: Set<string> }) {
    this.inBoth = scanned.inBoth;
    this.csvOnly = scanned.csvOnly;
    this.jsonlOnly = scanned.jsonlOnly;
  }

  csvHolds(callId: string): boolean {
    return this.written.has(callId) || this.inBoth.has(callId) || this.csvOnly.has(callId);
  }

  jsonlHolds(callId: string): boolean {
    return this.written.has(callId) || this.inBoth.has(callId) || this.jsonlOnly.has(callId);
  }

  /** Both files now hold the call. */
  markWritten(callId: string): void {
    this.written.add(callId);
    this.inBoth.delete(callId);
    this.csvOnly.delete(callId);
    this.jsonlOnly.delete(callId);
  }

  /** The call's stream entry is deleted: it can never be delivered again. */
  release(callId: string): void {
    this.written.delete(callId);
    this.inBoth.delete(callId);
    this.csvOnly.delete(callId);
    this.jsonlOnly.delete(callId);
  }

  /** Every entry that was in Redis when the day was opened has been delivered again and settled. */
  forgetScanned(): void {
    this.inBoth.clear();
    this.csvOnly.clear();
    this.jsonlOnly.clear();
  }

  get size(): number {
    return this.written.size + this.inBoth.size + this.csvOnly.size + this.jsonlOnly.size;
  }
}
