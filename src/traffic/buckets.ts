/**
 * Where traffic counts are kept in Redis: one bucket per minute (the 15-minute and 1-hour windows are the
 * newest 15 and 60 of them) and one per UTC day, each a hash of packed counts (src/redis/lua/includes/traffic.lua)
 * that expires once no window needs it. Pure: the time is given.
 */
import type { Counts } from './windows.js';

/** The minute buckets a read covers: the 1-hour window's. */
export const TRAFFIC_READ_MINUTES = 60;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** The packed order of a bucket's counts, as the Lua scripts add them (`at|an|ue|tm|bs|sh|ze`). */
export const COUNT_ORDER = ['attempts', 'answered', 'userEnds', 'talkMs', 'billedSec', 'short', 'zero'] as const satisfies readonly (keyof Counts)[];

/** The end of the UTC day holding `atMs` (the next midnight, epoch ms). */
export function endOfUtcDay(atMs: number): number {
  return (Math.floor(atMs / DAY_MS) + 1) * DAY_MS;
}

/** The buckets a count made at `atMs` goes into, and how long each must live (its window, and some slack). */
export function trafficBuckets(atMs: number): { minute: number; day: number; minuteTtlS: number; dayTtlS: number } {
  const minute = Math.floor(atMs / MINUTE_MS);
  const day = Math.floor(atMs / DAY_MS);
  return {
    minute,
    day,
    // a minute bucket is read for the next hour; a day bucket until the day after (its day's figures stay readable)
    minuteTtlS: (TRAFFIC_READ_MINUTES + 5) * 60,
    dayTtlS: Math.ceil(((day + 2) * DAY_MS - atMs) / 1000),
  };
}

/** A call worth showing as a sample of a short-call alert: answered and short, or zero-second. */
export function isTrafficSample(c: Pick<Counts, 'short' | 'zero'>): boolean {
  return c.short > 0 || c.zero > 0;
}

/** A bucket field's packed counts; missing or unreadable parts count 0. */
export function unpackCounts(text: string | undefined): Counts {
  const parts = (text ?? '').split('|');
  const out = {} as Record<(typeof COUNT_ORDER)[number], number>;
  COUNT_ORDER.forEach((k, i) => {
    const n = Number(parts[i]);
    out[k] = Number.isSafeInteger(n) && n > 0 ? n : 0;
  });
  return out;
}
