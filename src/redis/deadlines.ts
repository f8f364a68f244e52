/**
 * Deadlines of Redis work in flight (scripts, admin requests), checked by one coarse timer rather than a
 * timer per call: work that misses its deadline fails within a tenth of its bound after it (10 ms at the
 * least), and the hot path pays for a Set insertion instead of a timer. The timer runs only while
 * something is in flight, and never holds the process open.
 */

interface Pending {
  deadline: number;
  expire(): void;
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
    for (const p of inFlight) if (p.deadline <= now) p.expire();
    if (inFlight.size === 0) stopWatching();
  }, every);
  watch.unref();
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
