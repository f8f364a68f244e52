/**
 * The CDR writer: moves CDRs from the per-account Redis streams to this switch's daily files.
 *
 * The owner of a call (or the sweeper) submits the stream entry id that finalize/sweep returned. Every
 * `batchMs` the writer reads the pending entries (one XRANGE per entry, pipelined: each account is its own
 * slot on a cluster, so there is no multi-key command), appends them to the files, and deletes them from
 * their streams (XDEL) only once the files are durable. Whatever fails is kept and retried: the entry stays
 * in Redis until it is on disk, and the files skip a call id they already hold, so a retry or a restart
 * never loses nor duplicates a CDR.
 *
 * `recover()` finds entries that were never submitted (a crash between finalize and submit) by scanning
 * the streams of all accounts for entries of this switch older than `recoverGraceMs`.
 *
 * Rejected attempts never touch Redis: they are queued here and written with the next batch.
 */
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { cdrFromRejection, cdrFromStreamEntry, type Cdr, type RejectedAttempt } from './builder.js';
import type { CdrFiles, CdrLogger } from './files.js';

export class InvalidCdrEntryIdError extends Error {
  override readonly name = 'InvalidCdrEntryIdError';
}

export class CdrRecoveryError extends Error {
  override readonly name = 'CdrRecoveryError';
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
  now?: () => number;
}

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
  /** Call ids the files hold in memory to skip a CDR delivered twice (see files.ts: bounded, not per day). */
  heldCallIds: number;
  /** Age of the oldest pending submission, ms; 0 when nothing is pending. */
  lagMs: number;
  consecutiveFailures: number;
  lastError: string | null;
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

interface StreamItem {
  accountId: string;
  entryId: string;
  submittedAt: number;
  cdr: Cdr | null;
  /** The CDR's call id once read: the files hold it until the entry is deleted. */
  callId: string | null;
  /** Durable in the files; only the XDEL is left. */
  written: boolean;
}

type FlushOutcome = 'idle' | 'more' | 'failed';

const ENTRY_ID = /^\d{1,20}-\d{1,20}$/;
const RECOVER_PAGE = 1000;
/** Entry ids carry Redis's clock, recovery's cutoff this host's: how far apart the two may be. */
const CLOCK_MARGIN_MS = 10_000;
const silentLogger: CdrLogger = { warn: () => {}, error: () => {} };

const itemKey = (accountId: string, entryId: string) => `${accountId}\n${entryId}`;
const errorText = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

function streamFields(message: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (typeof message === 'object' && message !== null) {
    for (const [k, v] of Object.entries(message)) fields[k] = typeof v === 'string' ? v : String(v);
  }
  return fields;
}

export function createCdrWriter({
  redis,
  keys,
  files,
  switchId,
  listAccounts,
  logger = silentLogger,
  batchMs = 50,
  recoverGraceMs = 30_000,
  maxPending = 100_000,
  maxBatch = 2_000,
  recoverChunk = 500,
  maxRetryMs = 5_000,
  now = Date.now,
}: CdrWriterOptions): CdrWriter {
  const items = new Map<string, StreamItem>();
  const rejections: { cdr: Cdr; submittedAt: number }[] = [];
  const counters = { written: 0, duplicates: 0, recovered: 0, deferred: 0, dropped: 0 };
  let unwritten = 0;
  let lastFlushAt: number | null = null;
  let consecutiveFailures = 0;
  let lastError: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  let recoverTimer: NodeJS.Timeout | undefined;
  let pumping: Promise<FlushOutcome> | null = null;
  let recovering: Promise<number> | null = null;
  /** Entries deleted while a recovery pass runs: its replies may still hold them. */
  const ackedDuringRecovery = new Set<string>();
  /** After a recovery pass: the entries pending at its end, and the files' scans to forget once they are written. */
  let scanRelease: { waiting: Set<StreamItem>; openedBefore: number } | null = null;

  function settleScans(): void {
    if (!scanRelease) return;
    for (const item of scanRelease.waiting) {
      if (item.written || items.get(itemKey(item.accountId, item.entryId)) !== item) scanRelease.waiting.delete(item);
    }
    if (scanRelease.waiting.size > 0) return;
    files.forgetScans(scanRelease.openedBefore);
    scanRelease = null;
  }
  let stopped = false;
  let deferredLogged = false;

  function noteFailure(err: unknown, msg: string, extra: object = {}): void {
    lastError = errorText(err);
    logger.error({ err, ...extra }, msg);
  }

  const hasWork = () => items.size > 0 || rejections.length > 0;

  function schedule(delayMs: number): void {
    if (stopped || timer || pumping) return;
    timer = setTimeout(() => {
      timer = undefined;
      void pump();
    }, delayMs);
  }

  function track(accountId: string, entryId: string, cdr: Cdr | null): boolean {
    const key = itemKey(accountId, entryId);
    if (items.has(key)) return false;
    if (unwritten >= maxPending) {
      counters.deferred++;
      if (!deferredLogged) {
        deferredLogged = true;
        logger.warn({ maxPending }, 'CDR writer is full: further entries stay in Redis until recover() picks them up');
      }
      return false;
    }
    items.set(key, { accountId, entryId, submittedAt: now(), cdr, callId: cdr?.callId ?? null, written: false });
    unwritten++;
    return true;
  }

  function submit(accountId: string, entryIds: string | readonly string[]): void {
    keys.cdrs(accountId); // validates the account id: throws InvalidKeyPartError
    const ids = typeof entryIds === 'string' ? [entryIds] : entryIds;
    for (const id of ids) {
      if (typeof id !== 'string' || !ENTRY_ID.test(id)) throw new InvalidCdrEntryIdError('a CDR stream entry id looks like <ms>-<seq>');
    }
    for (const id of ids) track(accountId, id, null);
    schedule(batchMs);
  }

  function recordRejection(attempt: RejectedAttempt): void {
    if (rejections.length >= maxPending) {
      counters.dropped++;
      logger.error({ callId: attempt.callId, maxPending }, 'CDR writer is full: rejected-attempt CDR dropped');
      return;
    }
    rejections.push({ cdr: cdrFromRejection(attempt), submittedAt: now() });
    schedule(batchMs);
  }

  /** Reads the entries not read yet; an entry no longer in its stream was acknowledged already. */
  async function readEntries(batch: StreamItem[]): Promise<boolean> {
    const unread = batch.filter((i) => i.cdr === null);
    if (unread.length === 0) return true;
    const replies = await Promise.allSettled(unread.map((i) => redis.xRange(keys.cdrs(i.accountId), i.entryId, i.entryId)));
    let ok = true;
    replies.forEach((reply, n) => {
      const item = unread[n]!;
      if (reply.status === 'rejected') {
        ok = false;
        noteFailure(reply.reason, 'reading a CDR stream entry failed; will retry', { accountId: item.accountId, entryId: item.entryId });
        return;
      }
      const entry = reply.value[0];
      if (!entry) {
        items.delete(itemKey(item.accountId, item.entryId));
        unwritten--;
        return;
      }
      item.cdr = cdrFromStreamEntry(streamFields(entry.message), { entryId: item.entryId, accountId: item.accountId });
      item.callId = item.cdr.callId;
    });
    return ok;
  }

  /** XDEL of every entry that is durable on disk, grouped per account (one key, one slot per command). */
  async function acknowledge(): Promise<boolean> {
    const byAccount = new Map<string, StreamItem[]>();
    let n = 0;
    for (const item of items.values()) {
      if (!item.written) continue;
      const list = byAccount.get(item.accountId);
      if (list) list.push(item);
      else byAccount.set(item.accountId, [item]);
      if (++n >= maxBatch) break;
    }
    if (n === 0) return true;
    const groups = [...byAccount.values()];
    const replies = await Promise.allSettled(
      groups.map((g) => redis.xDel(keys.cdrs(g[0]!.accountId), g.map((i) => i.entryId))),
    );
    let ok = true;
    replies.forEach((reply, k) => {
      const group = groups[k]!;
      if (reply.status === 'rejected') {
        ok = false;
        noteFailure(reply.reason, 'deleting written CDR entries failed; will retry', { accountId: group[0]!.accountId });
        return;
      }
      const released: string[] = [];
      for (const item of group) {
        const key = itemKey(item.accountId, item.entryId);
        items.delete(key);
        // a recovery pass may hold this entry in a reply read before the XDEL: it must not write it again
        if (recovering) ackedDuringRecovery.add(key);
        if (item.callId !== null) released.push(item.callId);
      }
      files.release(released);
    });
    return ok;
  }

  async function flushOnce(): Promise<FlushOutcome> {
    const batch: StreamItem[] = [];
    for (const item of items.values()) {
      if (item.written) continue;
      batch.push(item);
      if (batch.length >= maxBatch) break;
    }
    let ok = await readEntries(batch);
    const ready = batch.filter((i) => i.cdr !== null && items.has(itemKey(i.accountId, i.entryId)));
    const rejected = rejections.slice(0, maxBatch);
    if (ready.length > 0 || rejected.length > 0) {
      try {
        const result = await files.appendBatch([...ready.map((i) => i.cdr!), ...rejected.map((r) => r.cdr)]);
        for (const item of ready) {
          item.written = true;
          item.cdr = null;
        }
        unwritten -= ready.length;
        rejections.splice(0, rejected.length);
        counters.written += result.written;
        counters.duplicates += result.skipped;
        lastFlushAt = now();
        settleScans();
      } catch (err) {
        ok = false;
        noteFailure(err, 'writing CDR files failed; will retry');
      }
    }
    if (!(await acknowledge())) ok = false;
    if (unwritten < maxPending) deferredLogged = false;
    if (!ok) {
      consecutiveFailures++;
      return 'failed';
    }
    consecutiveFailures = 0;
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
          consecutiveFailures++;
          outcome = 'failed';
        }
      } while (outcome === 'more');
      return outcome;
    })();
    pumping = run;
    void run.then((outcome) => {
      pumping = null;
      if (outcome === 'failed') schedule(Math.min(maxRetryMs, batchMs * 2 ** Math.min(consecutiveFailures, 16)));
      else if (hasWork()) schedule(batchMs);
    });
    return run;
  }

  async function flush(): Promise<void> {
    // a pump already running may have begun before the caller's submissions: its outcome says nothing
    if (pumping) await pumping;
    for (;;) {
      const outcome = await pump();
      if (outcome === 'failed') throw new CdrFlushError(`CDRs are still pending: ${lastError ?? 'unknown error'}`);
      if (!hasWork()) return;
    }
  }

  async function recoverAll(): Promise<number> {
    const startedAt = now();
    const deferredBefore = counters.deferred;
    const accounts = [...(await listAccounts())];
    const cutoff = String(Math.max(0, startedAt - recoverGraceMs));
    let found = 0;
    let failedAccounts = 0;
    for (let start = 0; start < accounts.length; start += recoverChunk) {
      let cursors = accounts.slice(start, start + recoverChunk).map((accountId) => ({ accountId, from: '-' }));
      while (cursors.length > 0) {
        const replies = await Promise.allSettled(
          cursors.map(async (c) => redis.xRange(keys.cdrs(c.accountId), c.from, cutoff, { COUNT: RECOVER_PAGE })),
        );
        const next: typeof cursors = [];
        replies.forEach((reply, n) => {
          const cursor = cursors[n]!;
          if (reply.status === 'rejected') {
            failedAccounts++;
            noteFailure(reply.reason, 'reading a CDR stream for recovery failed', { accountId: cursor.accountId });
            return;
          }
          for (const entry of reply.value) {
            const fields = streamFields(entry.message);
            // entries of other switches belong to their owner, which recovers them itself
            if ((fields.writer ?? fields.switchId) !== switchId) continue;
            if (ackedDuringRecovery.has(itemKey(cursor.accountId, entry.id))) continue;
            const cdr = cdrFromStreamEntry(fields, { entryId: entry.id, accountId: cursor.accountId });
            if (track(cursor.accountId, entry.id, cdr)) found++;
          }
          const last = reply.value.at(-1);
          if (reply.value.length >= RECOVER_PAGE && last) next.push({ accountId: cursor.accountId, from: `(${last.id}` });
        });
        cursors = next;
        if (unwritten >= maxPending / 2) await flush();
      }
    }
    counters.recovered += found;
    if (found > 0) await flush();
    if (failedAccounts > 0) throw new CdrRecoveryError(`could not read the CDR streams of ${failedAccounts} account(s)`);
    // Every entry older than the cutoff has now been seen and is tracked until deleted (none was turned
    // away for want of room). Entries in Redis when a day was opened before the cutoff are all older than
    // it: once the ones still pending are written, the ids read from those files at open have done their job.
    if (counters.deferred === deferredBefore) {
      const waiting = new Set<StreamItem>();
      for (const item of items.values()) if (!item.written) waiting.add(item);
      scanRelease = { waiting, openedBefore: startedAt - recoverGraceMs - CLOCK_MARGIN_MS };
      settleScans();
    }
    return found;
  }

  function recover(): Promise<number> {
    if (recovering) return recovering;
    ackedDuringRecovery.clear();
    const run = recoverAll().finally(() => {
      recovering = null;
      ackedDuringRecovery.clear();
    });
    recovering = run;
    return run;
  }

  async function start({ recoverIntervalMs = 60_000 }: { recoverIntervalMs?: number } = {}): Promise<void> {
    stopped = false;
    if (!recoverTimer) {
      recoverTimer = setInterval(() => {
        recover().catch((err) => noteFailure(err, 'periodic CDR recovery failed'));
      }, recoverIntervalMs);
      recoverTimer.unref();
    }
    if (hasWork()) schedule(batchMs);
    await recover().catch((err) => noteFailure(err, 'CDR recovery at start failed'));
  }

  async function stop(): Promise<void> {
    stopped = true;
    if (recoverTimer) clearInterval(recoverTimer);
    recoverTimer = undefined;
    if (timer) clearTimeout(timer);
    timer = undefined;
    await recovering?.catch(() => {});
    try {
      await flush();
    } catch (err) {
      const lost = rejections.length;
      noteFailure(err, 'CDR writer stopped with CDRs pending: stream entries stay in Redis for recovery', { rejectionsLost: lost });
    }
  }

  function stats(): CdrWriterStats {
    let oldest = Infinity;
    let awaitingDelete = 0;
    for (const item of items.values()) {
      if (item.written) awaitingDelete++;
      else oldest = Math.min(oldest, item.submittedAt);
    }
    if (rejections[0]) oldest = Math.min(oldest, rejections[0].submittedAt);
    return {
      pending: unwritten + rejections.length,
      awaitingDelete,
      ...counters,
      lastFlushAt,
      heldCallIds: files.heldIds(),
      lagMs: oldest === Infinity ? 0 : Math.max(0, now() - oldest),
      consecutiveFailures,
      lastError,
    };
  }

  return { submit, recordRejection, flush, recover, start, stop, stats };
}
