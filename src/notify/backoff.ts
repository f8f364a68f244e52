import type { NotifyConfig } from '../config/schema.js';

/**
 * The wait after failed attempt number `attempt` (from 1): min(maxBackoffMs, backoffMs * 2^(attempt-1)),
 * of which a random half (jitter), so that endpoints that failed together do not retry together.
 * `random` returns a number in [0, 1).
 */
export function backoffDelayMs(schedule: Pick<NotifyConfig, 'backoffMs' | 'maxBackoffMs'>, attempt: number, random: () => number): number {
  const full = Math.min(schedule.maxBackoffMs, schedule.backoffMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(full / 2 + (random() * full) / 2);
}

/** Resolves true after ms, or false as soon as the signal aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
