import type { Logger } from '../logger.js';
import type { Redis } from './client.js';
import { decodeChange, encodeChange, type ChangeMessage } from './codecs/change-message.js';
import type { Keys } from './keys.js';

export type ChangeListener = (message: ChangeMessage) => void;

/**
 * One subscriber connection per instance on the change channel, fanning each decoded message out to
 * whoever listens (the directory, the call registry, the notification dispatcher).
 */
export function createChangeBus({ redis, keys, logger }: { redis: Redis; keys: Pick<Keys, 'changes'>; logger: Logger }) {
  const listeners = new Set<ChangeListener>();
  let subscriber: Redis | undefined;
  let starting: Promise<void> | undefined;

  function deliver(text: string): void {
    const message = decodeChange(text);
    if (!message) return;
    for (const listener of listeners) {
      try {
        listener(message);
      } catch (err) {
        logger.warn({ err, kind: message.kind }, 'a change listener failed');
      }
    }
  }

  return {
    /** Subscribes once, however many components start it. */
    start(): Promise<void> {
      starting ??= (async () => {
        subscriber = redis.duplicate() as Redis;
        subscriber.on('error', (err: Error) => logger.warn({ err }, 'change subscriber error'));
        await subscriber.connect();
        await subscriber.subscribe(keys.changes, deliver);
      })();
      return starting;
    },
    listen(listener: ChangeListener): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop(): Promise<void> {
      listeners.clear();
      starting = undefined;
      await subscriber?.close().catch(() => {});
      subscriber = undefined;
    },
  };
}

export type ChangeBus = ReturnType<typeof createChangeBus>;

/** Announces a change to every instance. */
export function publishChange(redis: Redis, keys: Pick<Keys, 'changes'>, message: ChangeMessage): Promise<number> {
  return redis.publish(keys.changes, encodeChange(message));
}
