/**
 * The writer's side of the per-account CDR streams: reading the entries it was told of (one XRANGE per
 * entry, pipelined: each account is its own slot on a cluster, so there is no multi-key command), and
 * deleting them (XDEL) once the files hold them durably.
 *
 * With the customer files on (src/export), deleting is handing over instead: cdr-handoff-2.lua moves each
 * written entry to the account's export stream and appends the account's refused attempts, one script
 * call per account.
 */
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { loadLuaScript, runScript } from '../redis/script.js';
import { cdrFromStreamEntry, type Cdr } from './builder.js';
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
  /** Hand written entries over to the export streams rather than delete them. */
  handOff?: boolean;
}

const HANDOFF = loadLuaScript('cdr-handoff', 2);

/** The refused attempts' CDRs, in the form the export stream carries them (src/export/entries.ts reads it). */
export function encodeRefusedCdr(cdr: Cdr): string {
  return JSON.stringify(cdr);
}

export function createStreamEntries({ redis, keys, files, pending, maxBatch, noteFailure, onDeleted, handOff = false }: StreamEntriesDeps) {
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

  /**
   * XDEL of every entry that is durable on disk, grouped per account; or, handing over, the move of those
   * entries and of `refused` (written refused attempts, per account; each account's list is emptied once
   * handed over) to the export streams.
   */
  async function acknowledge(refused?: Map<string, Cdr[]>): Promise<boolean> {
    const groups = pending.writtenByAccount(maxBatch);
    const accounts = new Map<string, StreamItem[]>(groups.map((g) => [g[0]!.accountId, g]));
    if (handOff && refused) for (const [id, list] of refused) if (list.length > 0 && !accounts.has(id)) accounts.set(id, []);
    if (accounts.size === 0) return true;
    const ids = [...accounts.keys()];
    const replies = await Promise.allSettled(ids.map((accountId) => {
      const group = accounts.get(accountId)!;
      const entryIds = group.map((i) => i.entryId);
      if (!handOff) return redis.xDel(keys.cdrs(accountId), entryIds);
      const cdrs = (refused?.get(accountId) ?? []).map(encodeRefusedCdr);
      return runScript(redis, HANDOFF, [keys.cdrs(accountId), keys.cdrExport(accountId)], [entryIds.length, ...entryIds, ...cdrs]);
    }));
    let ok = true;
    replies.forEach((reply, k) => {
      const accountId = ids[k]!;
      const group = accounts.get(accountId)!;
      if (reply.status === 'rejected') {
        ok = false;
        noteFailure(reply.reason, handOff ? 'handing written CDRs over for export failed; will retry' : 'deleting written CDR entries failed; will retry', { accountId });
        return;
      }
      refused?.delete(accountId);
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
