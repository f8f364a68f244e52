/**
 * The notification dispatcher: delivers the engine's events (low balance, status change, call torn down
 * for funds, and any type added later) to the configured webhooks, signed, paced, retried, dead-lettered.
 * This file composes the parts and runs them; each part is its own file:
 *   outbox.ts          the per-account events streams, their consumer group, reading, claiming, acknowledging
 *   delivery.ts        one event to each subscribed target: attempts, back-off (backoff.ts), dead letters
 *   delivery-state.ts  the deliveries hash (attempt counts that survive restarts) and the dead-letter stream
 *   channel.ts         the seam a channel fills: one attempt per (event, target); webhook-post.ts is the one
 *   pacing.ts          one Bottleneck limiter per target
 * An entry is acknowledged only once every target subscribed to its type has taken it or has been
 * dead-lettered. While an instance works on an entry (an attempt, a back-off) it renews its claim every
 * reclaimIdleMs/3, so a live instance's slow retries are never taken over.
 *
 * Wake-up: a script that appends an event publishes `event|<accountId>` on the change channel and the
 * dispatcher reads that account's stream at once. A full scan every scanIntervalMs (XLEN of every account's
 * stream, in chunks, one key per command: each account is its own slot on a cluster) is the backstop for
 * lost messages, and the path that finds pending entries to take back or over.
 *
 * Delivery is at least once: a receiver deduplicates on X-Callgate-Delivery (the stream entry id, unique
 * per account stream) together with the account. Events of one account may arrive out of order when
 * concurrency > 1 or after a retry; order them by `at` and `id`.
 */
import { createChangeBus, type ChangeBus } from '../redis/change-bus.js';
import type { ChangeKind, ChangeMessage } from '../redis/codecs/change-message.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { NotifyConfig } from '../config/schema.js';
import { ID_PATTERN } from '../config/schema.js';
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { createDelivery, type DeliveryOutcome } from './delivery.js';
import { createDeliveryStates } from './delivery-state.js';
import { DispatcherStateError, errorText } from './errors.js';
import type { NotifyEvent } from './events.js';
import { createOutbox, isMissingGroup } from './outbox.js';
import { createPacer } from './pacing.js';
import { createWebhookChannel } from './webhook-post.js';

export { signPayload, verifySignature } from './signature.js';
export { NOTIFY_GROUP } from './outbox.js';
export { deadLetterKey, deliveriesKey } from './delivery-state.js';
export { DispatcherStateError } from './errors.js';

/** The change-channel message an event append publishes (see emitEvent in common.lua). */
export const EVENT_MESSAGE_KIND: ChangeKind = 'event';

export interface DispatcherDeps {
  redis: Redis;
  keys: Keys;
  config: NotifyConfig;
  logger: Logger;
  metrics?: Pick<Metrics, 'webhookDeliveries' | 'webhookDeliverySeconds'>;
  /** Every account id, for the periodic full scan. */
  accountIds: () => readonly string[];
  /** This instance's consumer name in the `notify` groups: its switch id. */
  consumerId: string;
  /** Entries read per stream and per command. Default 100. */
  batchSize?: number;
  /** Events handled at once by this instance; further entries wait in Redis. Default 1,000. */
  maxInFlight?: number;
  /** Accounts whose streams one scan step reads at once. Default 500. */
  scanChunk?: number;
  random?: () => number;
  /** The instance's change bus; without one the dispatcher subscribes on its own. */
  changes?: ChangeBus;
}

export interface DispatcherStats {
  /** Events this instance is working on now. */
  inFlight: number;
  /** POSTs that got a 2xx. */
  delivered: number;
  /** POSTs that did not (non-2xx, timeout, network error). */
  failed: number;
  /** (event, webhook) pairs given up after maxAttempts. */
  deadLettered: number;
  /** Events acknowledged and deleted from their stream. */
  acknowledged: number;
  /** Pending entries taken back (own, after a restart) or over (from an idle consumer). */
  reclaimed: number;
  lastScanAt: number | null;
  lastError: string | null;
}

interface Job {
  accountId: string;
  event: NotifyEvent;
  /** Set by stop(), or when another instance took the entry over: no new attempt starts. */
  abort: AbortController;
  lost: boolean;
}

interface AccountRun {
  again: boolean;
  full: boolean;
  promise: Promise<void>;
}

export function createDispatcher({
  redis,
  keys,
  config,
  logger: rootLogger,
  metrics,
  accountIds,
  consumerId,
  batchSize = 100,
  maxInFlight = 1_000,
  scanChunk = 500,
  random = Math.random,
  changes,
}: DispatcherDeps) {
  if (!ID_PATTERN.test(consumerId)) throw new DispatcherStateError('consumerId must match [A-Za-z0-9_.-]{1,64}');
  const logger = rootLogger.child({ component: 'notify' });
  const channel = createWebhookChannel({ config, metrics });
  const targetIds = channel.targets.map((t) => t.id);
  const heartbeatMs = Math.max(20, Math.floor(config.reclaimIdleMs / 3));
  const counters = { delivered: 0, failed: 0, deadLettered: 0, acknowledged: 0, reclaimed: 0 };
  let lastScanAt: number | null = null;
  let lastError: string | null = null;

  const outbox = createOutbox({ redis, keys, consumerId });
  const states = createDeliveryStates({ redis, keys });
  const newPacer = () => createPacer(config, channel.name, (err, targetId) => noteError(err, 'webhook limiter error', { webhook: targetId }));
  let pacer = newPacer();
  const delivery = createDelivery({
    channel, states, pacer: () => pacer, config, logger, random, onOutcome: countOutcome,
  });

  const inFlight = new Map<string, Job>();
  const jobPromises = new Set<Promise<void>>();
  const accountRuns = new Map<string, AccountRun>();
  /** Accounts that had more to read when maxInFlight was reached. */
  const deferred = new Set<string>();
  // the instance's one subscriber, shared with the directory and the registry; a dispatcher made alone has its own
  let bus: ChangeBus | undefined;
  let unlisten: (() => void) | undefined;
  let scanTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let scanning: Promise<void> | undefined;
  let heartbeating: Promise<void> | undefined;
  let running = false;

  const jobKey = (accountId: string, entryId: string) => `${accountId}\n${entryId}`;
  const isHeld = (accountId: string, entryId: string) => inFlight.has(jobKey(accountId, entryId));

  function noteError(err: unknown, msg: string, extra: object = {}): void {
    lastError = errorText(err);
    logger.warn({ err: lastError, ...extra }, msg);
  }

  function countOutcome(outcome: DeliveryOutcome): void {
    if (outcome === 'delivered') counters.delivered++;
    else if (outcome === 'failed') counters.failed++;
    else counters.deadLettered++;
    metrics?.webhookDeliveries.labels(outcome).inc();
  }

  async function runJob(job: Job): Promise<void> {
    const { accountId, event } = job;
    try {
      // settles every target before leaving: a job must not outlive its inFlight slot, or a scan could start a twin
      if (!(await delivery.deliverEvent(accountId, event, job.abort.signal))) return; // stopped: the entry stays pending
      if (job.lost) return; // another instance owns it now and acknowledges it
      await outbox.acknowledge(accountId, event.id, (tx) => states.forget(tx, accountId, event.id, targetIds));
      counters.acknowledged++;
    } catch (err) {
      // a Redis failure: the entry stays pending to this consumer, and the next scan takes it back
      noteError(err, 'webhook event handling failed; will retry', { accountId, eventId: event.id });
    } finally {
      inFlight.delete(jobKey(accountId, event.id));
      if (running && deferred.size > 0 && inFlight.size < maxInFlight) {
        const next = [...deferred];
        deferred.clear();
        for (const id of next) wake(id, false);
      }
    }
  }

  function take(accountId: string, events: readonly NotifyEvent[]): void {
    for (const event of events) {
      const key = jobKey(accountId, event.id);
      if (inFlight.has(key)) continue;
      const job: Job = { accountId, event, abort: new AbortController(), lost: false };
      inFlight.set(key, job);
      const p = runJob(job);
      jobPromises.add(p);
      void p.finally(() => jobPromises.delete(p));
    }
  }

  /**
   * Reads one account's stream: new entries always; on a full pass also this consumer's own pending
   * entries that no job holds (a restart) and entries idle on other consumers (a dead instance).
   * Returns true when there may be more to read.
   */
  async function readAccount(accountId: string, full: boolean): Promise<boolean> {
    await outbox.ensureGroup(accountId);
    let more = false;
    const room = () => maxInFlight - inFlight.size;
    if (full) {
      const mine = await outbox.pendingToMe(accountId, batchSize);
      const orphans = mine.filter((id) => !isHeld(accountId, id)).slice(0, Math.max(0, room()));
      if (orphans.length > 0) {
        const claimed = await outbox.claim(accountId, orphans);
        counters.reclaimed += claimed.length;
        if (running) take(accountId, claimed);
      }
      if (room() > 0 && running) {
        const idle = await outbox.takeOverIdle(accountId, config.reclaimIdleMs, Math.min(batchSize, room()));
        if (idle.events.length > 0) {
          const fresh = idle.events.filter((e) => !isHeld(accountId, e.id));
          counters.reclaimed += fresh.length;
          if (fresh.length > 0) logger.info({ accountId, entries: fresh.length }, 'took over webhook events of an idle consumer');
          take(accountId, idle.events);
        }
        if (idle.more) more = true;
      }
    }
    if (!running) return false;
    if (room() <= 0) {
      deferred.add(accountId);
      return false;
    }
    const count = Math.min(batchSize, room());
    const events = await outbox.readNew(accountId, count);
    // entries read while stopping stay pending to this consumer: a restart takes them back
    if (running) take(accountId, events);
    if (events.length >= count) more = true;
    return more;
  }

  /** Reads an account now, or right after the read in progress; `full` adds the reclaim steps. */
  function wake(accountId: string, full: boolean): Promise<void> {
    const current = accountRuns.get(accountId);
    if (current) {
      current.again = true;
      current.full ||= full;
      return current.promise;
    }
    const run: AccountRun = { again: false, full, promise: Promise.resolve() };
    run.promise = (async () => {
      try {
        let attempt = 0;
        do {
          const isFull = run.full;
          run.again = false;
          run.full = false;
          try {
            if (await readAccount(accountId, isFull)) run.again = true;
          } catch (err) {
            if (isMissingGroup(err) && attempt++ === 0) {
              // the stream was deleted and recreated: create the group again, once
              outbox.forgetGroup(accountId);
              run.again = true;
              run.full ||= isFull;
              continue;
            }
            throw err;
          }
        } while (run.again && running);
      } catch (err) {
        noteError(err, 'reading webhook events failed', { accountId });
      } finally {
        accountRuns.delete(accountId);
      }
    })();
    accountRuns.set(accountId, run);
    return run.promise;
  }

  async function scanAll(): Promise<void> {
    const ids = [...accountIds()];
    for (let i = 0; i < ids.length && running; i += scanChunk) {
      const chunk = ids.slice(i, i + scanChunk).filter((id) => ID_PATTERN.test(id));
      const lengths = await Promise.allSettled(chunk.map((id) => outbox.length(id)));
      const due: string[] = [];
      lengths.forEach((r, j) => {
        if (r.status === 'fulfilled') {
          if (r.value > 0) due.push(chunk[j]!);
        } else noteError(r.reason, 'reading an events stream length failed', { accountId: chunk[j] });
      });
      await Promise.all(due.map((id) => wake(id, true)));
    }
    lastScanAt = Date.now();
  }

  /** One full pass over every account; concurrent callers share the pass in progress. */
  function scanOnce(): Promise<void> {
    if (!scanning) {
      scanning = scanAll()
        .catch((err) => noteError(err, 'webhook events scan failed'))
        .finally(() => {
          scanning = undefined;
        });
    }
    return scanning;
  }

  /**
   * Renews this consumer's claim on the entries it works on, so no other instance takes them over, and
   * stops retrying those another instance took over meanwhile.
   */
  async function renewClaims(): Promise<void> {
    const byAccount = new Map<string, Job[]>();
    for (const job of inFlight.values()) {
      const list = byAccount.get(job.accountId);
      if (list) list.push(job);
      else byAccount.set(job.accountId, [job]);
    }
    await Promise.all(
      [...byAccount].map(async ([accountId, jobs]) => {
        try {
          const { owned, complete } = await outbox.renewClaims(accountId, jobs.map((j) => j.event.id));
          if (!complete) return;
          for (const job of jobs) {
            if (!owned.has(job.event.id) && inFlight.get(jobKey(accountId, job.event.id)) === job) {
              job.lost = true;
              job.abort.abort();
              logger.info({ accountId, eventId: job.event.id }, 'webhook event taken over by another instance; leaving it to it');
            }
          }
        } catch (err) {
          noteError(err, 'renewing webhook event claims failed', { accountId });
        }
      }),
    );
  }

  function onMessage({ kind, id }: ChangeMessage): void {
    if (kind !== EVENT_MESSAGE_KIND || !running) return;
    void wake(id, false);
  }

  async function start(): Promise<void> {
    if (running) return;
    running = true;
    pacer = newPacer();
    const b = changes ?? createChangeBus({ redis, keys, logger });
    const stopListening = b.listen(onMessage);
    unlisten = stopListening;
    try {
      await b.start();
      bus = b;
    } catch (err) {
      running = false;
      stopListening();
      if (!changes) await b.stop();
      throw err;
    }
    scanTimer = setInterval(() => void scanOnce(), config.scanIntervalMs);
    scanTimer.unref();
    heartbeatTimer = setInterval(() => {
      if (heartbeating || inFlight.size === 0) return;
      heartbeating = renewClaims().finally(() => {
        heartbeating = undefined;
      });
    }, heartbeatMs);
    heartbeatTimer.unref();
    logger.info({ webhooks: targetIds, consumerId }, 'webhook dispatcher started');
    await scanOnce();
  }

  /**
   * Stops reading, drops deliveries waiting for their turn or in backoff, and waits for the attempts in
   * progress (each bounded by timeoutMs). Every event not acknowledged stays in Redis, pending to this
   * consumer, with its attempt counts.
   */
  async function stop(): Promise<void> {
    if (!running) return;
    running = false;
    if (scanTimer) clearInterval(scanTimer);
    if (heartbeatTimer) clearInterval(heartbeatTimer);
    scanTimer = heartbeatTimer = undefined;
    deferred.clear();
    unlisten?.();
    unlisten = undefined;
    if (!changes) await bus?.stop();
    bus = undefined;
    for (const job of inFlight.values()) job.abort.abort();
    await Promise.all([pacer.stop(), scanning, heartbeating, ...[...accountRuns.values()].map((r) => r.promise)]);
    await Promise.all([...jobPromises]);
  }

  function stats(): DispatcherStats {
    return { inFlight: inFlight.size, ...counters, lastScanAt, lastError };
  }

  return {
    start,
    stop,
    stats,
    /** Runs a full scan now (tests, admin); the timer does the same every scanIntervalMs. */
    scanOnce,
    /** Reads one account's stream now, as an `event|<id>` message would. */
    wake: (accountId: string) => wake(accountId, false),
    isRunning: () => running,
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
