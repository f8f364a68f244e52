/**
 * Waiting on what a test can observe, instead of sleeping and hoping it has happened by then. A wait that
 * times out fails with what it was waiting for (and the probe's last error), not with a later, puzzling
 * assertion.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long. Default 5 s. */
  timeoutMs?: number;
  /** Poll this often. Default 50 ms. */
  intervalMs?: number;
}

/**
 * Polls `probe` until it returns something other than undefined or false, and resolves with that. A probe
 * that throws is polled again; its last error is reported if the wait times out.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 5000, intervalMs = 50 }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}
