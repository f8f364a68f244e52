/**
 * The CDR stream entries the writer holds, submitted or found by recovery, from the moment it learns of
 * them until they are durable in the files and deleted from their streams. At most `maxPending` of them
 * wait for the files: beyond that an entry is left in Redis, where a later recovery pass finds it.
 */
import type { Cdr } from './builder.js';
import type { CdrLogger } from './logger.js';

export interface StreamItem {
  accountId: string;
  entryId: string;
  submittedAt: number;
  cdr: Cdr | null;
  /** The CDR's call id once read: the files hold it until the entry is deleted. */
  callId: string | null;
  /** Durable in the files; only the XDEL is left. */
  written: boolean;
}

export const itemKey = (accountId: string, entryId: string) => `${accountId}\n${entryId}`;

export class PendingEntries {
  private readonly items = new Map<string, StreamItem>();
  private unwrittenCount = 0;
  /** Entries not taken because the writer was full. */
  deferred = 0;
  private fullLogged = false;

  constructor(
    private readonly maxPending: number,
    private readonly logger: CdrLogger,
    private readonly now: () => number,
  ) {}

  /** Entries not yet durable in the files. */
  get unwritten(): number {
    return this.unwrittenCount;
  }

  get size(): number {
    return this.items.size;
  }

  /** false when the entry is held already or the writer is full. */
  track(accountId: string, entryId: string, cdr: Cdr | null): boolean {
    const key = itemKey(accountId, entryId);
    if (this.items.has(key)) return false;
    if (this.unwrittenCount >= this.maxPending) {
      this.deferred++;
      if (!this.fullLogged) {
        this.fullLogged = true;
        this.logger.warn({ maxPending: this.maxPending }, 'CDR writer is full: further entries stay in Redis until recover() picks them up');
      }
      return false;
    }
    this.items.set(key, { accountId, entryId, submittedAt: this.now(), cdr, callId: cdr?.callId ?? null, written: false });
    this.unwrittenCount++;
    return true;
  }

  /** Warns again the next time the writer is full, once there is room. */
  rearmFullWarning(): void {
    if (this.unwrittenCount < this.maxPending) this.fullLogged = false;
  }

  /** Up to `max` entries not yet written, oldest first. */
  unwrittenBatch(max: number): StreamItem[] {
    const batch: StreamItem[] = [];
    for (const item of this.items.values()) {
      if (item.written) continue;
      batch.push(item);
      if (batch.length >= max) break;
    }
    return batch;
  }

  unwrittenItems(): Set<StreamItem> {
    const out = new Set<StreamItem>();
    for (const item of this.items.values()) if (!item.written) out.add(item);
    return out;
  }

  /** An entry with this item's key is held (a newer item of the same entry counts). */
  holdsEntryOf(item: StreamItem): boolean {
    return this.items.has(itemKey(item.accountId, item.entryId));
  }

  /** This very item is held: it was neither deleted nor replaced. */
  holds(item: StreamItem): boolean {
    return this.items.get(itemKey(item.accountId, item.entryId)) === item;
  }

  /** The entry is no longer in its stream: it was acknowledged already. */
  dropUnwritten(item: StreamItem): void {
    this.items.delete(itemKey(item.accountId, item.entryId));
    this.unwrittenCount--;
  }

  markWritten(written: readonly StreamItem[]): void {
    for (const item of written) {
      item.written = true;
      item.cdr = null;
    }
    this.unwrittenCount -= written.length;
  }

  /** Up to `max` written entries, grouped by account: one key, and so one cluster slot, per XDEL. */
  writtenByAccount(max: number): StreamItem[][] {
    const byAccount = new Map<string, StreamItem[]>();
    let n = 0;
    for (const item of this.items.values()) {
      if (!item.written) continue;
      const list = byAccount.get(item.accountId);
      if (list) list.push(item);
      else byAccount.set(item.accountId, [item]);
      if (++n >= max) break;
    }
    return [...byAccount.values()];
  }

  /** The entry is deleted from its stream. */
  remove(item: StreamItem): void {
    this.items.delete(itemKey(item.accountId, item.entryId));
  }

  /** Written entries awaiting their XDEL, and when the oldest unwritten one was taken (Infinity if none). */
  ages(): { awaitingDelete: number; oldestSubmittedAt: number } {
    let oldestSubmittedAt = Infinity;
    let awaitingDelete = 0;
    for (const item of this.items.values()) {
      if (item.written) awaitingDelete++;
      else oldestSubmittedAt = Math.min(oldestSubmittedAt, item.submittedAt);
    }
    return { awaitingDelete, oldestSubmittedAt };
  }
}
