/** The writer's figures, for the admin API and the metrics. */
import type { CdrFiles } from './files.js';
import type { PendingEntries } from './pending-entries.js';
import type { RejectionQueue } from './rejection-queue.js';
import type { WriterFailures } from './writer-failures.js';

export interface CdrWriterStats {
  /** Stream entries not yet durable, plus queued rejections. */
  pending: number;
  /** Stream entries durable on disk whose XDEL has not succeeded yet. */
  awaitingDelete: number;
  /** CDRs written to the files since start. */
  written: number;
  /** CDRs the files already held (a retry, a restart, a recovery racing a submit). */
  duplicates: number;
  /** Stream entries found by recover(). */
  recovered: number;
  /** Stream entries not queued because the writer was full: they stay in Redis for recover(). */
  deferred: number;
  /** Rejections dropped because the writer was full: these are lost. */
  dropped: number;
  /** Epoch ms of the last successful file write, or null. */
  lastFlushAt: number | null;
  /** Call ids the files hold in memory to skip a CDR delivered twice (see day-call-ids.ts: bounded, not per day). */
  heldCallIds: number;
  /** Age of the oldest pending submission, ms; 0 when nothing is pending. */
  lagMs: number;
  consecutiveFailures: number;
  lastError: string | null;
}

/** What the flushes wrote since start. */
export interface FlushTotals {
  written: number;
  duplicates: number;
  lastFlushAt: number | null;
}

export interface WriterStatsSources {
  pending: PendingEntries;
  rejections: RejectionQueue;
  failures: WriterFailures;
  files: Pick<CdrFiles, 'heldIds'>;
  flushed: FlushTotals;
  recovered: number;
  now: () => number;
}

export function writerStats({ pending, rejections, failures, files, flushed, recovered, now }: WriterStatsSources): CdrWriterStats {
  const { awaitingDelete, oldestSubmittedAt } = pending.ages();
  const oldestRejection = rejections.oldestSubmittedAt();
  const oldest = oldestRejection === undefined ? oldestSubmittedAt : Math.min(oldestSubmittedAt, oldestRejection);
  return {
    pending: pending.unwritten + rejections.length,
    awaitingDelete,
    written: flushed.written,
    duplicates: flushed.duplicates,
    recovered,
    deferred: pending.deferred,
    dropped: rejections.dropped,
    lastFlushAt: flushed.lastFlushAt,
    heldCallIds: files.heldIds(),
    lagMs: oldest === Infinity ? 0 : Math.max(0, now() - oldest),
    consecutiveFailures: failures.consecutiveFailures,
    lastError: failures.lastError,
  };
}
