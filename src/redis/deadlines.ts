/**
 * Deadlines of Redis work in flight (scripts, admin requests, commands not yet written), checked by one
 * coarse timer rather than a timer per call: work that misses its deadline fails within a tenth of its
 * bound after it (10 ms at the least), and the hot path pays for a Set insertion instead of a timer. The
 * timer runs only while something is in flight, and never holds the process open.
 */
import { getEventListeners, setMaxListeners } from 'node:events';

interface Pending {
  deadline: number;
  expire(): void;
  /** True once nothing can miss this deadline any more: the watcher then forgets it without expiring it. */
  settled?(): boolean;
}

const inFlight = new Set<Pending>();
let watch: NodeJS.Timeout | undefined;
let watchEveryMs = Infinity;

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

/** Deadlines being watched: scripts and admin requests in flight, and command buckets not yet forgotten. */
export function deadlinesInFlight(): number {
  return inFlight.size;
}

/**
 * Settles as `run()` does, or rejects with the error `timedOut()` returns once `timeoutMs` has passed. An
 * answer after that settles nothing: the promise is already rejected.
 */
export function withinDeadline<T>(timeoutMs: number, run: () => Promise<T>, timedOut: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const pending: Pending = {
      deadline: performance.now() + timeoutMs,
      expire() {
        inFlight.delete(pending);
        reject(timedOut());
      },
    };
    inFlight.add(pending);
    watchDeadlines(timeoutMs);
    const failed = (err: unknown) => {
      inFlight.delete(pending);
      reject(err);
    };
    try {
      run().then((value) => {
        inFlight.delete(pending);
        resolve(value);
      }, failed);
    } catch (err) {
      failed(err);
    }
  });
}

/** Commands issued within this many milliseconds share one abort signal. */
const COMMAND_BUCKET_MS = 1;

/** The reason a command bucket's signal is aborted with: one constant, so no exception is built per abort. */
const NOT_WRITTEN = new Error('command not written to Redis before its deadline');

/**
 * node-redis command options that give up on a command still unwritten `timeoutMs` after it was issued: the
 * client drops it from its queue and rejects it with AbortError, so a command queued while the connection is
 * down (or while a frozen Redis is not reading) never runs late, after its caller was told it failed.
 *
 * node-redis's own `timeout` option does the same with an AbortSignal.timeout per command: a timer, a weak
 * reference and a signal that all live for the whole timeout, however soon the answer comes. That cost about
 * 23 us of CPU per command, four times the command itself. Here every command issued within the same
 * millisecond gets one shared signal, which the coarse timer aborts once its deadline has passed: a command
 * gives up between timeoutMs and timeoutMs + max(10 ms, timeoutMs / 10) after it was issued. A bucket whose
 * commands have all been written (node-redis then removes their listeners) is forgotten at the timer's next
 * pass, so with a long timeout the buckets held are those of the last tenth of it, not of all of it.
 *
 * The signal is read through a getter: node-redis copies the options of every command with an object spread,
 * which calls it once per command.
 */
export function unwrittenCommandDeadline(timeoutMs: number): { readonly abortSignal: AbortSignal } {
  let current: AbortController | undefined;
  let openedAt = -Infinity;
  return {
    get abortSignal(): AbortSignal {
      const now = performance.now();
      if (current === undefined || now - openedAt >= COMMAND_BUCKET_MS) {
        const controller = new AbortController();
        // one listener per command of the bucket not yet written; node-redis removes it on write
        setMaxListeners(0, controller.signal);
        const bucket: Pending = {
          // a bucket expires after its last command's full timeout, never before its first one's
          deadline: now + COMMAND_BUCKET_MS + timeoutMs,
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
