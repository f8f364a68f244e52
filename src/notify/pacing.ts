import Bottleneck from 'bottleneck';
import type { NotifyConfig } from '../config/schema.js';

/**
 * Paces the attempts to each target of one channel: one Bottleneck limiter per target, { maxConcurrent:
 * concurrency, minTime: minTimeMs }, made on first use. Back-off waits happen outside the limiters, so a
 * target in back-off does not hold a slot. A stopped pacer cannot be used again; start makes a new one.
 */
export function createPacer(
  config: Pick<NotifyConfig, 'concurrency' | 'minTimeMs'>,
  channel: string,
  onError: (err: unknown, targetId: string) => void,
) {
  const limiters = new Map<string, Bottleneck>();

  function limiterFor(targetId: string): Bottleneck {
    let limiter = limiters.get(targetId);
    if (!limiter) {
      limiter = new Bottleneck({ maxConcurrent: config.concurrency, minTime: config.minTimeMs, id: `${channel}:${targetId}` });
      limiter.on('error', (err: unknown) => onError(err, targetId));
      limiters.set(targetId, limiter);
    }
    return limiter;
  }

  return {
    /** Runs `task` in the target's turn; rejects when stop() drops it from the queue. */
    schedule: <T>(targetId: string, task: () => Promise<T>): Promise<T> => limiterFor(targetId).schedule(task),
    /** Drops the tasks waiting for their turn and resolves once the running ones are done. */
    stop: async (): Promise<void> => {
      await Promise.all(
        [...limiters.values()].map((l) => l.stop({ dropWaitingJobs: true, dropErrorMessage: 'webhook dispatcher stopped' }).catch(() => {})),
      );
    },
  };
}

export type Pacer = ReturnType<typeof createPacer>;
