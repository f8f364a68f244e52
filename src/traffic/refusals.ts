/**
 * Refused INVITEs cost no Redis call on the INVITE path, so their traffic counts wait here: grouped by
 * account, prefix and minute, and written in one batch at most once per traffic.refusalFlushMs. A batch
 * that cannot be written stays for the next flush. A crash loses at most the counts of one flush period.
 */
import type { Logger } from '../logger.js';
import type { RefusalBatch } from '../redis/engine.js';

/** Most numbers a group keeps for the distinct count; past it attempts are still counted. */
const MAX_NUMBERS_PER_GROUP = 2000;
/** Most groups held while Redis cannot be reached; past it new groups are dropped and counted. */
const MAX_GROUPS = 20_000;

interface Group {
  accountId: string;
  prefix: string;
  atMs: number;
  attempts: number;
  numbers: Set<string>;
}

export interface RefusalCounterDeps {
  write: (batch: RefusalBatch) => Promise<void>;
  logger: Logger;
  flushMs: number;
  /** Accounts whose counts were written: the traffic monitor judges them next. */
  onWritten?: (accountId: string) => void;
  now?: () => number;
}

export function createRefusalCounter(deps: RefusalCounterDeps) {
  const now = deps.now ?? Date.now;
  let groups = new Map<string, Group>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  let dropped = 0;

  function add(g: Omit<Group, 'numbers'> & { numbers: Iterable<string> }): boolean {
    const key = `${g.accountId}|${g.prefix}|${Math.floor(g.atMs / 60_000)}`;
    let held = groups.get(key);
    if (!held) {
      if (groups.size >= MAX_GROUPS) return false;
      held = { accountId: g.accountId, prefix: g.prefix, atMs: g.atMs, attempts: 0, numbers: new Set() };
      groups.set(key, held);
    }
    held.attempts += g.attempts;
    for (const n of g.numbers) if (held.numbers.size < MAX_NUMBERS_PER_GROUP) held.numbers.add(n);
    return true;
  }

  /** One refused INVITE of an identified account; `prefix` '' when it was refused before rating. */
  function refused(accountId: string, prefix: string, dialed: string): void {
    if (!add({ accountId, prefix, atMs: now(), attempts: 1, numbers: [dialed === '' ? '-' : dialed] })) {
      dropped++;
      if (dropped === 1 || dropped % 1000 === 0) deps.logger.error({ dropped }, 'traffic: too many refusal counts waiting for Redis; new ones are dropped');
    }
  }

  async function flushNow(): Promise<void> {
    if (groups.size === 0) return;
    const batch = groups;
    groups = new Map();
    const failed: Group[] = [];
    await Promise.all([...batch.values()].map(async (g) => {
      try {
        await deps.write({ accountId: g.accountId, prefix: g.prefix, attempts: g.attempts, numbers: [...g.numbers], atMs: g.atMs });
        deps.onWritten?.(g.accountId);
      } catch (err) {
        failed.push(g);
        if (failed.length === 1) deps.logger.warn({ err }, 'traffic: refusal counts not written; kept for the next flush');
      }
    }));
    for (const g of failed) add(g);
  }

  function flush(): Promise<void> {
    flushing ??= flushNow().finally(() => {
      flushing = undefined;
    });
    return flushing;
  }

  return {
    refused,
    flush,
    /** Groups waiting to be written. */
    pending: () => groups.size,
    dropped: () => dropped,
    start(): void {
      timer ??= setInterval(() => void flush(), deps.flushMs);
      timer.unref();
    },
    /** Stops the timer and writes what is held (best effort: Redis may be gone). */
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await flushing;
      await flush();
    },
  };
}

export type RefusalCounter = ReturnType<typeof createRefusalCounter>;
