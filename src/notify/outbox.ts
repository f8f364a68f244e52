import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import type { Transaction } from './delivery-state.js';
import { isRedisError } from './errors.js';
import { eventFromEntry, streamFields, type NotifyEvent } from './events.js';

/**
 * The durable outbox: the per-account events stream `{a:<id>}:events` that the scripts append to (emitEvent
 * in src/redis/lua/includes/common.lua). Each stream has a consumer group `notify`, created on demand at id 0
 * (so events written before any dispatcher ran are delivered too). Every instance reads with XREADGROUP as
 * consumer `consumerId` (its switch id), so with several instances each event is handled by one of them.
 * An entry stays pending in Redis until it is acknowledged (XACK + XDEL, with its delivery state, in one
 * MULTI inside the account's slot). A restart with the same consumer id takes its own pending entries back
 * (XPENDING + XCLAIM), entries of an instance that died are taken over by any other once idle (XAUTOCLAIM),
 * and a live instance renews its claim on what it works on (XCLAIM JUSTID) so that nobody takes it over.
 */

/** The consumer group every dispatcher reads the events streams with. */
export const NOTIFY_GROUP = 'notify';

/** Orders stream entry ids (`<ms>-<seq>`) as Redis does. */
export function compareEntryIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = BigInt(am) - BigInt(bm);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const s = BigInt(as) - BigInt(bs);
  return s === 0n ? 0 : s < 0n ? -1 : 1;
}

/**
 * The XPENDING range that covers `ids` (not empty): from the lowest to the highest, with room for other
 * pending entries in between. A reply of `count` entries may have been cut short.
 */
export function pendingWindow(ids: readonly string[]): { start: string; end: string; count: number } {
  const sorted = [...ids].sort(compareEntryIds);
  return { start: sorted[0]!, end: sorted.at(-1)!, count: Math.max(100, ids.length * 2) };
}

/** Whether a read failed because the stream was deleted and recreated without its group. */
export const isMissingGroup = (err: unknown) => isRedisError(err, 'NOGROUP');

const present = <E>(e: E | null): e is E => e !== null;

export function createOutbox({ redis, keys, consumerId }: { redis: Redis; keys: Keys; consumerId: string }) {
  const groupsReady = new Set<string>();
  const toEvents = (accountId: string, entries: readonly { id: string; message: unknown }[]) =>
    entries.map((e) => eventFromEntry(accountId, e.id, streamFields(e.message)));

  async function ensureGroup(accountId: string): Promise<void> {
    if (groupsReady.has(accountId)) return;
    try {
      await redis.xGroupCreate(keys.events(accountId), NOTIFY_GROUP, '0', { MKSTREAM: true });
    } catch (err) {
      if (!isRedisError(err, 'BUSYGROUP')) throw err;
    }
    groupsReady.add(accountId);
  }

  /** Makes the next ensureGroup create the group again (after isMissingGroup). */
  function forgetGroup(accountId: string): void {
    groupsReady.delete(accountId);
  }

  /** Up to `count` entries never read by the group. */
  async function readNew(accountId: string, count: number): Promise<NotifyEvent[]> {
    const reply = await redis.xReadGroup(NOTIFY_GROUP, consumerId, { key: keys.events(accountId), id: '>' }, { COUNT: count });
    return toEvents(accountId, reply?.[0]?.messages ?? []);
  }

  /** Ids of up to `count` entries pending to this consumer. */
  async function pendingToMe(accountId: string, count: number): Promise<string[]> {
    const mine = await redis.xPendingRange(keys.events(accountId), NOTIFY_GROUP, '-', '+', count, { consumer: consumerId });
    return mine.map((p) => String(p.id));
  }

  /** Claims the entries `ids` for this consumer, whatever their idle time; deleted ones are skipped. */
  async function claim(accountId: string, ids: string[]): Promise<NotifyEvent[]> {
    const claimed = await redis.xClaim(keys.events(accountId), NOTIFY_GROUP, consumerId, 0, ids);
    return toEvents(accountId, claimed.filter(present));
  }

  /** Claims up to `count` entries idle for `idleMs` on any consumer; `more` when the scan did not reach the end. */
  async function takeOverIdle(accountId: string, idleMs: number, count: number): Promise<{ events: NotifyEvent[]; more: boolean }> {
    const auto = await redis.xAutoClaim(keys.events(accountId), NOTIFY_GROUP, consumerId, idleMs, '0-0', { COUNT: count });
    return { events: toEvents(accountId, auto.messages.filter(present)), more: String(auto.nextId) !== '0-0' };
  }

  /**
   * Resets the idle time of those of `ids` still pending to this consumer. `owned` are those; when
   * `complete` is false the reply was cut short and proves nothing about the others.
   */
  async function renewClaims(accountId: string, ids: readonly string[]): Promise<{ owned: Set<string>; complete: boolean }> {
    const stream = keys.events(accountId);
    const { start, end, count } = pendingWindow(ids);
    const mine = await redis.xPendingRange(stream, NOTIFY_GROUP, start, end, count, { consumer: consumerId });
    const owned = new Set(mine.map((p) => String(p.id)));
    const keep = [...ids].sort(compareEntryIds).filter((id) => owned.has(id));
    if (keep.length > 0) await redis.xClaimJustId(stream, NOTIFY_GROUP, consumerId, 0, keep);
    return { owned, complete: mine.length < count };
  }

  /** Acknowledges and deletes an entry; `alsoInTransaction` adds commands (on keys of the account's slot). */
  async function acknowledge(accountId: string, entryId: string, alsoInTransaction: (tx: Transaction) => void): Promise<void> {
    const stream = keys.events(accountId);
    const tx = redis.multi();
    tx.xAck(stream, NOTIFY_GROUP, entryId);
    tx.xDel(stream, entryId);
    alsoInTransaction(tx);
    await tx.exec();
  }

  /** Entries in the account's stream: the periodic scan reads only accounts that have some. */
  const length = (accountId: string) => redis.xLen(keys.events(accountId));

  return { ensureGroup, forgetGroup, readNew, pendingToMe, claim, takeOverIdle, renewClaims, acknowledge, length };
}

export type Outbox = ReturnType<typeof createOutbox>;
