/**
 * Deadlines of Redis work in flight (scripts, admin requests, commands not yet written), checked by one
 * coarse timer rather than a timer per call: work that misses its deadline fails within a tenth of its
 * bound after it (10 ms at the least). Calls and commands issued within the same millisecond share one
 * entry, so the hot path pays for an array push instead of a timer. The timer runs only while something is
 * in flight, and never holds the process open.
 *
 * A `Deadlines` holds its own watch: each Redis connection has one (src/redis/client.ts deadlinesOf), so
 * nothing here is process-global and two connections, or two tests, never share state.
 */
import { getEventListeners, setMaxListeners } from 'node:events';

interface Pending {
  deadline: number;
  expire(): void;
  /** True once nothing can miss this deadline any more: the watcher then forgets it without expiring it. */
  settled?(): boolean;
}

/** Calls (and commands) issued within this many milliseconds share one deadline entry. */
const BUCKET_MS = 1;

/** A call waiting in within(): how to fail it, until it settles (both are then dropped). */
interface Waiter {
  reject: ((err: Error) => void) | undefined;
  timedOut: (() => Error) | undefined;
}

/**
 * The within() calls of one timeout issued within the same millisecond, watched as one entry. A Set entry
 * per call cost about 2 us (V8 gives each new object an identity hash, and the set rehashes as calls come
 * and go); an array push and a counter cost next to nothing.
 */
class CallBucket implements Pending {
  readonly waiters: Waiter[] = [];
  /** Waiters not settled yet. */
  open = 0;

  constructor(
    private readonly forget: (bucket: Pending) => void,
    readonly openedAt: number,
    /** After the last call that may join it, never before its first one's: opened + BUCKET_MS + timeout. */
    readonly deadline: number,
  ) {}

  expire(): void {
    this.forget(this);
    for (const w of this.waiters) {
      const { reject, timedOut } = w;
      if (reject === undefined || timedOut === undefined) continue;
      w.reject = undefined;
      w.timedOut = undefined;
      this.open--;
      reject(timedOut());
    }
    this.waiters.length = 0;
  }

  /** Every call settled, and no later call can join it: nothing is left to fail. */
  settled(): boolean {
    return this.open === 0 && performance.now() - this.openedAt >= BUCKET_MS;
  }
}

/** The reason a command bucket's signal is aborted with: one constant, so no exception is built per abort. */
const NOT_WRITTEN = new Error('command not written to Redis before its deadline');

export interface WithinOptions<T> {
  /** Receives the work's value when it arrives after the deadline already failed the call. */
  onLate?: (value: T) => void;
}

/** The deadlines of one Redis connection's work in flight, and the one coarse timer that watches them. */
export interface Deadlines {
  /**
   * Settles as `run()` does, or rejects with the error `timedOut()` returns once `timeoutMs` has passed (at
   * most BUCKET_MS more, plus the coarse timer's period). An answer after that settles nothing (the promise
   * is already rejected): it goes to `onLate`, for work that must be undone.
   */
  within<T>(timeoutMs: number, run: () => Promise<T>, timedOut: () => Error, options?: WithinOptions<T>): Promise<T>;
  /**
   * node-redis command options that give up on a command still unwritten `timeoutMs` after it was issued: the
   * client drops it from its queue and rejects it with AbortError, so a command queued while the connection
   * is down (or while a frozen Redis is not reading) never runs late, after its caller was told it failed.
   *
   * node-redis's own `timeout` option does the same with an AbortSignal.timeout per command: a timer, a weak
   * reference and a signal that all live for the whole timeout, however soon the answer comes. That cost
   * about 23 us of CPU per command, four times the command itself. Here every command issued within the same
   * millisecond gets one shared signal, which the coarse timer aborts once its deadline has passed: a command
   * gives up between timeoutMs and timeoutMs + max(10 ms, timeoutMs / 10) after it was issued. A bucket whose
   * commands have all been written (node-redis then removes their listeners) is forgotten at the timer's
   * next pass, so with a long timeout the buckets held are those of the last tenth of it, not of all of it.
   *
   * The signal is read through a getter: node-redis copies the options of every command with an object
   * spread, which calls it once per command.
   */
  unwrittenCommandDeadline(timeoutMs: number): { readonly abortSignal: AbortSignal };
  /** Deadlines being watched: calls in flight, and command buckets not yet forgotten. */
  inFlight(): number;
}

export function createDeadlines(): Deadlines {
  const inFlight = new Set<Pending>();
  let watch: NodeJS.Timeout | undefined;
  let watchEveryMs = Infinity;
  const forget = (p: Pending) => inFlight.delete(p);

  function stopWatching(): void {
    clearInterval(watch);
    watch = undefined;
    watchEveryMs = Infinity;
  }

  function watchDeadlines(timeoutMs: number): void {
    const every = Math.max(10, Math.floor(timeoutMs / 10));
    if (watch && every >= watchEveryMs) return;
    if (watch) clearInterval(watch);
    watchEveryMs = every;
    watch = setInterval(() => {
      const now = performance.now();
      for (const p of inFlight) {
        if (p.deadline <= now) p.expire();
        else if (p.settled?.()) inFlight.delete(p);
      }
      if (inFlight.size === 0) stopWatching();
    }, every);
    watch.unref();
  }

  /**
   * The bucket new calls of each timeout join, while it is less than BUCKET_MS old. Its deadline is at
   * least BUCKET_MS after it opened, so a bucket still open to new calls has never expired.
   */
  const openCallBuckets = new Map<number, CallBucket>();

  function callBucket(timeoutMs: number): CallBucket {
    const now = performance.now();
    let bucket = openCallBuckets.get(timeoutMs);
    if (bucket === undefined || now - bucket.openedAt >= BUCKET_MS) {
      bucket = new CallBucket(forget, now, now + BUCKET_MS + timeoutMs);
      openCallBuckets.set(timeoutMs, bucket);
      inFlight.add(bucket);
      watchDeadlines(timeoutMs);
    }
    return bucket;
  }

  function within<T>(timeoutMs: number, run: () => Promise<T>, timedOut: () => Error, options?: WithinOptions<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const bucket = callBucket(timeoutMs);
      const waiter: Waiter = { reject, timedOut };
      bucket.waiters.push(waiter);
      bucket.open++;
      /** True for the first settlement only: the deadline's, or the work's. */
      const settle = (): boolean => {
        if (waiter.reject === undefined) return false;
        waiter.reject = undefined;
        waiter.timedOut = undefined;
        // the last call of a bucket no call can join any more: forget it now, not at the timer's next pass
        // (a tenth of the timeout away, which with a long timeout would hold many settled calls)
        if (--bucket.open === 0 && bucket.settled()) inFlight.delete(bucket);
        return true;
      };
      try {
        run().then(
          (value) => {
            if (settle()) resolve(value);
            else options?.onLate?.(value);
          },
          (err: unknown) => {
            if (settle()) reject(err as Error);
          },
        );
      } catch (err) {
        if (settle()) reject(err as Error);
      }
    });
  }

  function unwrittenCommandDeadline(timeoutMs: number): { readonly abortSignal: AbortSignal } {
    let current: AbortController | undefined;
    let openedAt = -Infinity;
    return {
      get abortSignal(): AbortSignal {
        const now = performance.now();
        if (current === undefined || now - openedAt >= BUCKET_MS) {
          const controller = new AbortController();
          // one listener per command of the bucket not yet written; node-redis removes it on write
          setMaxListeners(0, controller.signal);
          const bucket: Pending = {
            // a bucket expires after its last command's full timeout, never before its first one's
            deadline: now + BUCKET_MS + timeoutMs,
            expire() {
              inFlight.delete(bucket);
              controller.abort(NOT_WRITTEN);
            },
            // no longer handed out, and every command it was handed to is written (or gone)
            settled: () => controller !== current && getEventListeners(controller.signal, 'abort').length === 0,
          };
          inFlight.add(bucket);
          watchDeadlines(timeoutMs);
          current = controller;
          openedAt = now;
        }
        return current.signal;
      },
    };
  }

  return { within, unwrittenCommandDeadline, inFlight: () => inFlight.size };
}
