/**
 * A clock that moves only when a test says so, with the timers that run on it: what a pure test injects
 * instead of performance.now, Date.now and setTimeout (see SessionClock in src/calls/session.ts).
 */
import type { SessionClock } from '../../src/calls/session.js';

interface Pending {
  due: number;
  seq: number;
  fn: () => void;
  /** Set for a repeating timer. */
  every?: number;
}

/** Lets every promise chain the timers set off run to its end (the fakes they call answer in microtasks). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface FakeClock extends SessionClock {
  /** Milliseconds since the clock was made. */
  now(): number;
  /** Moves time on by `ms`, firing each timer at its own instant, in order, and letting what it started settle. */
  advance(ms: number): Promise<void>;
  /** Moves time on to the next timer and fires it; false when none is pending. */
  next(): Promise<boolean>;
  /** Timers pending (repeating ones included). */
  pending(): number;
}

export function createFakeClock({ wallStart = 1_700_000_000_000 } = {}): FakeClock {
  let now = 0;
  let seq = 0;
  const timers = new Set<Pending>();

  function schedule(ms: number, fn: () => void, every?: number): () => void {
    const t: Pending = { due: now + Math.max(0, ms), seq: seq++, fn, ...(every !== undefined && { every: Math.max(1, every) }) };
    timers.add(t);
    return () => void timers.delete(t);
  }

  function earliest(): Pending | undefined {
    let first: Pending | undefined;
    for (const t of timers) if (!first || t.due < first.due || (t.due === first.due && t.seq < first.seq)) first = t;
    return first;
  }

  async function fire(t: Pending): Promise<void> {
    now = t.due;
    if (t.every !== undefined) Object.assign(t, { due: t.due + t.every, seq: seq++ });
    else timers.delete(t);
    t.fn();
    await settle();
  }

  return {
    monotonic: () => now,
    wall: () => wallStart + now,
    now: () => now,
    after: (ms, fn) => schedule(ms, fn),
    every: (ms, fn) => schedule(ms, fn, ms),
    sleep: (ms) => new Promise((resolve) => schedule(ms, resolve)),
    pending: () => timers.size,
    async advance(ms) {
      const until = now + ms;
      await settle();
      for (let t = earliest(); t && t.due <= until; t = earliest()) await fire(t);
      now = until;
      await settle();
    },
    async next() {
      await settle();
      const t = earliest();
      if (!t) return false;
      await fire(t);
      return true;
    },
  };
}
