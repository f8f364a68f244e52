/**
 * Recovery passes: finding CDR stream entries of this switch that were never submitted (a crash between
 * finalize and submit) by scanning the streams of all accounts for entries older than `recoverGraceMs`.
 * A pass that saw every such entry also tells the files when the ids they read at open have done their job.
 */
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { cdrFromStreamEntry } from './builder.js';
import type { CdrFiles } from './files.js';
import { itemKey, type PendingEntries, type StreamItem } from './pending-entries.js';
import { streamFields } from './stream-entries.js';
import type { NoteFailure } from './writer-failures.js';

export class CdrRecoveryError extends Error {
  override readonly name = 'CdrRecoveryError';
}

const RECOVER_PAGE = 1000;
/** Entry ids carry Redis's clock, recovery's cutoff this host's: how far apart the two may be. */
const CLOCK_MARGIN_MS = 10_000;

export interface RecoveryDeps {
  redis: Redis;
  keys: Keys;
  files: Pick<CdrFiles, 'forgetScans'>;
  switchId: string;
  listAccounts: () => Promise<readonly string[]> | readonly string[];
  pending: PendingEntries;
  recoverGraceMs: number;
  recoverChunk: number;
  now: () => number;
  noteFailure: NoteFailure;
  /** Writes and acknowledges what is pending: a pass flushes as it goes so that it stays within maxPending. */
  flush: () => Promise<void>;
  maxPending: number;
}

export function createRecovery({
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
}: RecoveryDeps) {
  let recovering: Promise<number> | null = null;
  let recovered = 0;
  /** Entries deleted while a recovery pass runs: its replies may still hold them. */
  const ackedDuringRecovery = new Set<string>();
  /** After a recovery pass: the entries pending at its end, and the files' scans to forget once they are written. */
  let scanRelease: { waiting: Set<StreamItem>; openedBefore: number } | null = null;

  /** Forgets the files' scans once every entry that was pending at the end of the last full pass is written. */
  function settleScans(): void {
    if (!scanRelease) return;
    for (const item of scanRelease.waiting) {
      if (item.written || !pending.holds(item)) scanRelease.waiting.delete(item);
    }
    if (scanRelease.waiting.size > 0) return;
    files.forgetScans(scanRelease.openedBefore);
    scanRelease = null;
  }

  function noteDeleted(key: string): void {
    // a recovery pass may hold this entry in a reply read before the XDEL: it must not write it again
    if (recovering) ackedDuringRecovery.add(key);
  }

  async function recoverAll(): Promise<number> {
    const startedAt = now();
    const deferredBefore = pending.deferred;
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
            if (pending.track(cursor.accountId, entry.id, cdr)) found++;
          }
          const last = reply.value.at(-1);
          if (reply.value.length >= RECOVER_PAGE && last) next.push({ accountId: cursor.accountId, from: `(${last.id}` });
        });
        cursors = next;
        if (pending.unwritten >= maxPending / 2) await flush();
      }
    }
    recovered += found;
    if (found > 0) await flush();
    if (failedAccounts > 0) throw new CdrRecoveryError(`could not read the CDR streams of ${failedAccounts} account(s)`);
    // Every entry older than the cutoff has now been seen and is tracked until deleted (none was turned
    // away for want of room). Entries in Redis when a day was opened before the cutoff are all older than
    // it: once the ones still pending are written, the ids read from those files at open have done their job.
    if (pending.deferred === deferredBefore) {
      scanRelease = { waiting: pending.unwrittenItems(), openedBefore: startedAt - recoverGraceMs - CLOCK_MARGIN_MS };
      settleScans();
    }
    return found;
  }

  /** One pass at a time: a caller arriving during a pass shares its outcome. */
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

  return {
    recover,
    settleScans,
    noteDeleted,
    /** The pass under way, if any. */
    running: (): Promise<number> | null => recovering,
    /** Stream entries found by recovery passes since start. */
    recovered: (): number => recovered,
  };
}
