import type { Logger } from '../logger.js';

export interface LinkWarningsDeps {
  logger: Logger;
  /** Counted on every failed connection attempt (callgate_drachtio_connect_failures_total). */
  onFailure?: () => void;
  /** Wall clock, epoch ms. */
  now?: () => number;
  /** Least time between two warnings while the link stays down. */
  intervalMs?: number;
}

/**
 * The drachtio link's connection errors, logged without flooding: drachtio-srf retries every couple of
 * seconds while drachtio-server is away, and each attempt fails. The first failure is a warning at once;
 * after it, at most one warning every `intervalMs` (a minute), saying how many attempts failed since the
 * last. Every failure is still counted by the metric. A connection starts the next outage afresh.
 */
export function createLinkWarnings({ logger, onFailure, now = Date.now, intervalMs = 60_000 }: LinkWarningsDeps) {
  let downSince: number | undefined;
  let lastWarnAt = 0;
  let failures = 0;
  let unreported = 0;

  return {
    failed(err: Error): void {
      onFailure?.();
      failures++;
      unreported++;
      const t = now();
      if (downSince === undefined) downSince = t;
      else if (t - lastWarnAt < intervalMs) return;
      lastWarnAt = t;
      logger.warn(
        { err: err.message, failures, failedSinceLastWarning: unreported, downForMs: t - downSince, nextWarningInMs: intervalMs },
        failures === 1 ? 'cannot reach drachtio-server; retrying' : 'still cannot reach drachtio-server; retrying',
      );
      unreported = 0;
    },
    connected(): void {
      if (downSince !== undefined) logger.info({ failures, downForMs: now() - downSince }, 'drachtio-server reachable again');
      downSince = undefined;
      failures = 0;
      unreported = 0;
    },
  };
}
