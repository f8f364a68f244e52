/**
 * The writer's side of the per-account CDR streams: reading the entries it was told of (one XRANGE per
 * entry, pipelined: each account is its own slot on a cluster, so there is no multi-key command), and
 * deleting them (XDEL) once the files hold them durably.
 */
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { cdrFromStreamEntry } from './builder.js';
import type { CdrFiles } from './files.js';
import { itemKey, type PendingEntries, type StreamItem } from './pending-entries.js';
import type { NoteFailure } from './writer-failures.js';

export function streamFields(message: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (typeof message === 'object' && message !== null) {
    for (const [k, v] of Object.entries(message)) fields[k] = typeof v === 'string' ? v : String(v);
  }
  return fields;
}

export interface StreamEntriesDeps {
  redis: Redis;
  keys: Keys;
  files: Pick<CdrFiles, 'release'>;
  pending: PendingEntries;
  maxBatch: number;
  noteFailure: NoteFailure;
  /** Called with the key of each entry deleted, while the files still hold its call id. */
  onDeleted: (key: string) => void;
}

export function createStreamEntries({ redis, keys, files, pending, maxBatch, noteFailure, onDeleted }: StreamEntriesDeps) {
  /** Reads the entries not read yet; an entry no longer in its stream was acknowledged already. */
  async function read(batch: readonly StreamItem[]): Promise<boolean> {
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
        pending.dropUnwritten(item);
        return;
      }
      item.cdr = cdrFromStreamEntry(streamFields(entry.message), { entryId: item.entryId, accountId: item.accountId });
      item.callId = item.cdr.callId;
    });
    return ok;
  }

  /** XDEL of every entry that is durable on disk, grouped per account. */
  async function acknowledge(): Promise<boolean> {
    const groups = pending.writtenByAccount(maxBatch);
    if (groups.length === 0) return true;
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
        pending.remove(item);
        onDeleted(itemKey(item.accountId, item.entryId));
        if (item.callId !== null) released.push(item.callId);
      }
      files.release(released);
    });
    return ok;
  }

  return { read, acknowledge };
}
