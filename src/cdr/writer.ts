/**
 * The CDR writer: moves CDRs from the per-account Redis streams to this switch's daily files.
 *
 * The owner of a call (or the sweeper) submits the stream entry id that finalize/sweep returned. Every
 * `batchMs` the writer reads the pending entries, appends them to the files, and deletes them from their
 * streams (stream-entries.ts) only once the files are durable. Whatever fails is kept and retried: the
 * entry stays in Redis until it is on disk, and the files skip a call id they already hold, so a retry or
 * a restart never loses nor duplicates a CDR.
 *
 * `recover()` (recovery.ts) finds entries that were never submitted.
 *
 * Rejected attempts never touch Redis: they are queued (rejection-queue.ts) and written with the next batch.
 */
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import type { Cdr, RejectedAttempt } from './builder.js';
import type { CdrFiles } from './files.js';
import { silentCdrLogger, type CdrLogger } from './logger.js';
import { PendingEntries } from './pending-entries.js';
import { createRecovery } from './recovery.js';
import { RejectionQueue } from './rejection-queue.js';
import { createStreamEntries } from './stream-entries.js';
import { WriterFailures } from './writer-failures.js';
import { writerStats, type CdrWriterStats, type FlushTotals } from './writer-stats.js';

export { CdrRecoveryError } from './recovery.js';
export type { CdrWriterStats } from './writer-stats.js';

export class InvalidCdrEntryIdError extends Error {
  override readonly name = 'InvalidCdrEntryIdError';
}

export class CdrFlushError extends Error {
  override readonly name = 'CdrFlushError';
}

export interface CdrWriterOptions {
  redis: Redis;
  keys: Keys;
  files: CdrFiles;
  /**
   * This instance's switch: recover() only takes entries this instance owns, those whose `writer` field
   * (the finalizing or sweeping instance; older entries: `switchId`) is this one.
   */
  switchId: string;
  /** Every account id, for recover(). */
  listAccounts: () => Promise<readonly string[]> | readonly string[];
  logger?: CdrLogger;
  /** How long submissions gather before a batch is written. Default 50. */
  batchMs?: number;
  /** recover() leaves younger entries to the submit path of their owner. Default 30 s. */
  recoverGraceMs?: number;
  /** Stream entries and rejections held in memory at most; see submit() and recordRejection(). Default 100,000. */
  maxPending?: number;
  /** CDRs per file write. Default 2,000. */
  maxBatch?: number;
  /** Accounts whose streams recover() reads at once. Default 500. */
  recoverChunk?: number;
  /** Longest wait between retries after a failure. Default 5 s. */
  maxRetryMs?: number;
  /**
   * Hand every written CDR over to its account's export stream (src/export), refused attempts included,
   * instead of deleting it: the customer daily files are assembled from there. Default false.
   */
  handOff?: boolean;
  now?: () => number;
}

export interface CdrWriter {
  /** Queues CDR stream entries of an account for writing. Cheap and synchronous; never touches Redis itself. */
  submit(accountId: string, entryIds: string | readonly string[]): void;
  /** Queues the CDR of a refused INVITE. */
  recordRejection(attempt: RejectedAttempt): void;
  /** Writes and acknowledges everything pending now; rejects if something could not be (it stays pending). */
  flush(): Promise<void>;
  /** Writes and acknowledges this switch's entries older than recoverGraceMs; resolves with how many it found. */
  recover(): Promise<number>;
  /** Runs recover() now, then every recoverIntervalMs (default 60 s). Resolves after the first run (its errors are logged). */
  start(options?: { recoverIntervalMs?: number }): Promise<void>;
  /** Stops the timers and flushes what is pending. */
  stop(): Promise<void>;
  stats(): CdrWriterStats;
}

type FlushOutcome = 'idle' | 'more' | 'failed';

const ENTRY_ID = /^\d{1,20}-\d{1,20}$/;

export function createCdrWriter({
  redis,
  keys,
  files,
  switchId,
  listAccounts,
  logger = silentCdrLogger,
  batchMs = 50,
  recoverGraceMs = 30_000,
  maxPending = 100_000,
  maxBatch = 2_000,
  recoverChunk = 500,
  maxRetryMs = 5_000,
  handOff = false,
  now = Date.now,
}: CdrWriterOptions): CdrWriter {
  const pending = new PendingEntries(maxPending, logger, now);
  const rejections = new RejectionQueue(maxPending, logger, now);
  const failures = new WriterFailures(logger);
  const noteFailure = failures.note;
  const flushed: FlushTotals = { written: 0, duplicates: 0, lastFlushAt: null };
  let timer: NodeJS.Timeout | undefined;
  let recoverTimer: NodeJS.Timeout | undefined;
  let pumping: Promise<FlushOutcome> | null = null;
  let stopped = false;

  const recovery = createRecovery({
    redis,
    keys,
    files,
    switchId,
    listAccounts,
    pending,
    recoverGraceMs,
    recoverChunk,
    now,
    noteFailure,
    flush,
    maxPending,
  });
  const streams = createStreamEntries({ redis, keys, files, pending, maxBatch, noteFailure, onDeleted: recovery.noteDeleted, handOff });
  /** Refused attempts written to the files and not yet handed over for export, per account. */
  const refusedForExport = new Map<string, Cdr[]>();
  let refusedAwaiting = 0;

  const hasWork = () => pending.size > 0 || rejections.length > 0 || refusedAwaiting > 0;

  function schedule(delayMs: number): void {
    if (stopped || timer || pumping) return;
    timer = setTimeout(() => {
      timer = undefined;
      void pump();
    }, delayMs);
  }

  function submit(accountId: string, entryIds: string | readonly string[]): void {
    keys.cdrs(accountId); // validates the account id: throws InvalidKeyPartError
    const ids = typeof entryIds === 'string' ? [entryIds] : entryIds;
    for (const id of ids) {
      if (typeof id !== 'string' || !ENTRY_ID.test(id)) throw new InvalidCdrEntryIdError('a CDR stream entry id looks like <ms>-<seq>');
    }
    for (const id of ids) pending.track(accountId, id, null);
    schedule(batchMs);
  }

  function recordRejection(attempt: RejectedAttempt): void {
    if (rejections.record(attempt)) schedule(batchMs);
  }

  async function flushOnce(): Promise<FlushOutcome> {
    const batch = pending.unwrittenBatch(maxBatch);
    let ok = await streams.read(batch);
    const ready = batch.filter((i) => i.cdr !== null && pending.holdsEntryOf(i));
    const rejected = rejections.oldest(maxBatch);
    if (ready.length > 0 || rejected.length > 0) {
      try {
        const result = await files.appendBatch([...ready.map((i) => i.cdr!), ...rejected]);
        pending.markWritten(ready);
        rejections.removeFirst(rejected.length);
        if (handOff) {
          for (const cdr of rejected) {
            if (!cdr.accountId) continue; // no account: no customer file to land in
            const list = refusedForExport.get(cdr.accountId);
            if (list) list.push(cdr);
            else refusedForExport.set(cdr.accountId, [cdr]);
          }
        }
        flushed.written += result.written;
        flushed.duplicates += result.skipped;
        flushed.lastFlushAt = now();
        recovery.settleScans();
      } catch (err) {
        ok = false;
        noteFailure(err, 'writing CDR files failed; will retry');
      }
    }
    if (!(await streams.acknowledge(handOff ? refusedForExport : undefined))) ok = false;
    refusedAwaiting = 0;
    for (const list of refusedForExport.values()) refusedAwaiting += list.length;
    pending.rearmFullWarning();
    if (!ok) {
      failures.consecutiveFailures++;
      return 'failed';
    }
    failures.consecutiveFailures = 0;
    return hasWork() ? 'more' : 'idle';
  }

  /** Flushes until nothing is left or something fails; one pump at a time, so batches never overlap. */
  function pump(): Promise<FlushOutcome> {
    if (pumping) return pumping;
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    const run = (async () => {
      let outcome: FlushOutcome;
      do {
        try {
          outcome = await flushOnce();
        } catch (err) {
          // a bug rather than an I/O failure: everything is still pending, so retry like one
          noteFailure(err, 'CDR flush failed unexpectedly');
          failures.consecutiveFailures++;
          outcome = 'failed';
        }
      } while (outcome === 'more');
      return outcome;
    })();
    pumping = run;
    void run.then((outcome) => {
      pumping = null;
      if (outcome === 'failed') schedule(Math.min(maxRetryMs, batchMs * 2 ** Math.min(failures.consecutiveFailures, 16)));
      else if (hasWork()) schedule(batchMs);
    });
    return run;
  }

  async function flush(): Promise<void> {
    // a pump already running may have begun before the caller's submissions: its outcome says nothing
    if (pumping) await pumping;
    for (;;) {
      const outcome = await pump();
      if (outcome === 'failed') throw new CdrFlushError(`CDRs are still pending: ${failures.lastError ?? 'unknown error'}`);
      if (!hasWork()) return;
    }
  }

  async function start({ recoverIntervalMs = 60_000 }: { recoverIntervalMs?: number } = {}): Promise<void> {
    stopped = false;
    if (!recoverTimer) {
      recoverTimer = setInterval(() => {
        recovery.recover().catch((err) => noteFailure(err, 'periodic CDR recovery failed'));
      }, recoverIntervalMs);
      recoverTimer.unref();
    }
    if (hasWork()) schedule(batchMs);
    await recovery.recover().catch((err) => noteFailure(err, 'CDR recovery at start failed'));
  }

  async function stop(): Promise<void> {
    stopped = true;
    if (recoverTimer) clearInterval(recoverTimer);
    recoverTimer = undefined;
    if (timer) clearTimeout(timer);
    timer = undefined;
    await recovery.running()?.catch(() => {});
    try {
      await flush();
    } catch (err) {
      const lost = rejections.length;
      noteFailure(err, 'CDR writer stopped with CDRs pending: stream entries stay in Redis for recovery', { rejectionsLost: lost });
    }
  }

  function stats(): CdrWriterStats {
    return writerStats({ pending, rejections, failures, files, flushed, recovered: recovery.recovered(), now });
  }

  return { submit, recordRejection, flush, recover: recovery.recover, start, stop, stats };
}
