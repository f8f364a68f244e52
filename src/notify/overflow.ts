/**
 * The bound on an account's undelivered events. Events are never trimmed when they are written
 * (includes/common.lua emitEvent): an entry leaves its stream only when every webhook has it, or here.
 * When an account holds more than `maxPerAccount` undelivered events (no consumer for a long time, or
 * no webhook configured at all), the oldest beyond the bound are moved to the dead-letter stream, with a
 * metric and a log line: kept, not dropped.
 *
 * One instance moves them in a round (a SET NX PX lease), and it appends each dead letter before it
 * deletes the entry, so a crash in between leaves a duplicate dead letter (same `event` id), never a
 * lost event.
 */
import type { Logger } from '../logger.js';
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { eventFromEntry, streamFields } from './events.js';
import { isMissingGroup, NOTIFY_GROUP } from './outbox.js';
import { errorText } from './errors.js';

const BATCH = 500;

export interface OverflowGuardDeps {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  accountIds: () => Iterable<string>;
  /** The most undelivered events an account keeps in its stream. */
  maxPerAccount: number;
  intervalMs: number;
  /** This instance's id, held in the lease. */
  instanceId: string;
  onMoved?: (accountId: string, count: number) => void;
}

/** How many of a stream's entries are over the bound, oldest first: the pure part. */
export const overflowOf = (length: number, maxPerAccount: number): number => Math.max(0, length - maxPerAccount);

export function createOverflowGuard(deps: OverflowGuardDeps) {
  const { redis, keys, logger, maxPerAccount } = deps;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<number> | undefined;

  async function moveOldest(accountId: string, count: number): Promise<number> {
    const stream = keys.events(accountId);
    const entries = await redis.xRange(stream, '-', '+', { COUNT: count });
    if (entries.length === 0) return 0;
    const deadAt = String(Date.now());
    await Promise.all(entries.map(({ id, message }) => {
      const fields = streamFields(message);
      let body: string;
      try {
        body = eventFromEntry(accountId, id, fields).body;
      } catch {
        body = JSON.stringify(fields);
      }
      return redis.xAdd(keys.deadLetters, '*', {
        event: id, account: accountId, type: fields.type ?? 'unknown', webhook: '', attempts: '0', reason: 'overflow',
        lastError: `overflow: the account held more than ${maxPerAccount} undelivered events`, deadAt, body,
      });
    }));
    const ids = entries.map((e) => e.id);
    await redis.xDel(stream, ids);
    // a dispatcher that had read them holds them pending: they are settled, and nothing re-delivers them
    await redis.xAck(stream, NOTIFY_GROUP, ids).catch((err: unknown) => {
      if (!isMissingGroup(err)) throw err;
    });
    return ids.length;
  }

  async function guardAccount(accountId: string): Promise<number> {
    let moved = 0;
    for (;;) {
      const excess = overflowOf(Number(await redis.xLen(keys.events(accountId))), maxPerAccount);
      if (excess === 0) break;
      const n = await moveOldest(accountId, Math.min(excess, BATCH));
      if (n === 0) break;
      moved += n;
    }
    if (moved > 0) {
      deps.onMoved?.(accountId, moved);
      logger.warn({ accountId, moved, maxPerAccount }, 'undelivered events over the bound moved to the dead letters');
    }
    return moved;
  }

  /** One round over every account, when this instance holds the round's lease. Returns the events moved. */
  async function runOnce(): Promise<number> {
    const lease = await redis.set(keys.eventOverflowLease, deps.instanceId, { NX: true, PX: Math.max(1000, deps.intervalMs - 100) });
    if (lease !== 'OK') return 0;
    let moved = 0;
    for (const id of deps.accountIds()) moved += await guardAccount(id);
    return moved;
  }

  function schedule(): void {
    timer = setTimeout(() => {
      round = runOnce().catch((err: unknown) => {
        logger.warn({ err: errorText(err) }, 'event overflow round failed; retried next round');
        return 0;
      });
      void round.finally(() => {
        round = undefined;
        if (timer) schedule();
      });
    }, deps.intervalMs);
    timer.unref();
  }

  return {
    runOnce,
    start(): void {
      if (!timer) schedule();
    },
    async stop(): Promise<void> {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await round;
    },
  };
}

export type OverflowGuard = ReturnType<typeof createOverflowGuard>;
