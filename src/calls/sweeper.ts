import type { Logger } from '../logger.js';
import type { Redis } from '../redis/client.js';
import type { Engine } from '../redis/engine.js';
import type { Keys } from '../redis/keys.js';

export interface SweeperDeps {
  redis: Redis;
  keys: Keys;
  engine: Pick<Engine, 'sweepAccount'>;
  logger: Logger;
  accountIds: () => string[];
  onSwept: (accountId: string, cdrEntryIds: string[]) => void;
  intervalMs: number;
  /** Accounts checked at once; each check is one read in its own slot. */
  chunk?: number;
  /** After a pass failed (Redis unreachable), sweeping waits this long once Redis answers again: one lease TTL. */
  resumeGraceMs: number;
  clock?: () => number;
}

/**
 * Finalizes calls whose lease expired because their owner died or lost its link. Runs in every instance:
 * a cheap read finds accounts whose earliest lease expiry has passed, and the sweep script (which checks
 * expiry against Redis TIME itself) bills each such call to its last heartbeat, exactly once.
 */
export function createSweeper({
  redis, keys, engine, logger, accountIds, onSwept, intervalMs, resumeGraceMs, chunk = 500, clock = Date.now,
}: SweeperDeps) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let pausedUntil = 0;

  let lastPassFailed = false;

  async function sweepOnce(): Promise<number> {
    if (clock() < pausedUntil) return 0;
    if (lastPassFailed) {
      // Redis is back after an outage: give owners one lease TTL to renew before anything is orphaned
      await redis.ping();
      lastPassFailed = false;
      pausedUntil = clock() + resumeGraceMs;
      logger.info({ graceMs: resumeGraceMs }, 'redis answers again: sweeping resumes after one lease TTL');
      return 0;
    }
    try {
      return await sweepAll();
    } catch (err) {
      lastPassFailed = true;
      throw err;
    }
  }

  async function sweepAll(): Promise<number> {
    const ids = accountIds();
    let swept = 0;
    for (let i = 0; i < ids.length; i += chunk) {
      const slice = ids.slice(i, i + chunk);
      const now = clock();
      const earliest = await Promise.all(slice.map((id) => redis.zRangeWithScores(keys.expiry(id), 0, 0)));
      const due = slice.filter((_, j) => {
        const first = earliest[j]?.[0];
        return first !== undefined && first.score <= now;
      });
      for (const id of due) {
        const r = await engine.sweepAccount(id);
        if (r.swept.length > 0) {
          swept += r.swept.length;
          logger.warn({ accountId: id, calls: r.swept.map((s) => s.callId) }, 'swept orphaned calls whose lease expired');
          onSwept(id, r.swept.map((s) => s.cdrEntryId));
        }
      }
    }
    return swept;
  }

  return {
    /** One full pass; concurrent callers share the pass in progress. */
    sweepOnce(): Promise<number> {
      if (!running) running = sweepOnce().finally(() => (running = undefined));
      return running;
    },
    /**
     * Holds sweeping off for `ms`. After Redis comes back from an outage every lease may look expired
     * (Redis time moved on while no owner could renew): owners get one lease TTL to renew theirs and
     * commit the usage of the outage before anything is swept as orphaned.
     */
    pause(ms: number): void {
      pausedUntil = Math.max(pausedUntil, clock() + ms);
    },
    start(): void {
      timer = setInterval(() => {
        this.sweepOnce().catch((err) => logger.warn({ err }, 'sweep pass failed'));
      }, intervalMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}

export type Sweeper = ReturnType<typeof createSweeper>;
