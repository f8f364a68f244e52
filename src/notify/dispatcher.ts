/**
 * The webhook dispatcher: POSTs the engine's events (low balance, status change, call torn down for
 * funds, and any type added later) to the configured webhooks, signed, paced, retried, dead-lettered.
 *
 * Durable outbox. The outbox is the per-account events stream `{a:<id>}:events` that the scripts append to
 * (emitEvent in src/redis/lua/includes/common.lua). Each stream has a consumer group `notify`, created on
 * demand at id 0 (so events written before any dispatcher ran are delivered too). Every instance reads
 * with XREADGROUP as consumer `consumerId` (its switch id), so with several instances each event is
 * handled by one of them. An entry is acknowledged (XACK + XDEL, with its delivery state, in one MULTI
 * inside the account's slot) only once every webhook subscribed to its type has answered 2xx or has been
 * dead-lettered. Until then it stays pending in Redis: a restart with the same consumer id takes its own
 * pending entries back (XPENDING + XCLAIM), and entries of an instance that died are taken over by any
 * other once idle for `reclaimIdleMs` (XAUTOCLAIM). While an instance works on an entry (a POST, a backoff)
 * it renews its claim every reclaimIdleMs/3, so a live instance's slow retries are never taken over.
 *
 * Attempt counts survive restarts. Per account, the hash `{a:<id>}:events:deliveries` (built here, beside
 * the stream and in its slot) holds one field per (entry, webhook), `<entryId>/<webhookId>`:
 *   `<attempts>|<last error>`  while retrying: written before each POST, so a crash mid-POST counts it
 *   `delivered|<attempts>`     got a 2xx
 *   `dead|<attempts>`          dead-lettered after maxAttempts
 * XPENDING's delivery count is not used: it counts reads, not POSTs, and not per webhook. A webhook that
 * already got an event is not POSTed again after a restart; the others resume at their next attempt.
 *
 * Dead letters go to one global stream, `<prefix>{notify}:dead` (deadLetterKey() below; it is not an
 * account key, so it gets its own hash tag), with fields event, account, type, webhook, attempts,
 * lastError, deadAt (epoch ms) and body (the exact JSON that was POSTed), capped at about 100,000 entries.
 *
 * Wake-up: a script that appends an event publishes `event|<accountId>` on the change channel and the
 * dispatcher reads that account's stream at once. A full scan every scanIntervalMs (XLEN of every account's
 * stream, pipelined in chunks, one key per command: each account is its own slot on a cluster) is the
 * backstop for lost messages, and the path that finds pending entries to take back or over.
 *
 * Pacing: one Bottleneck limiter per webhook ({ maxConcurrent: concurrency, minTime: minTimeMs }); retries
 * wait min(maxBackoffMs, backoffMs * 2^(attempt-1)), of which a random half (jitter), outside the limiter.
 *
 * Delivery is at least once: a receiver deduplicates on X-Callgate-Delivery (the stream entry id, unique
 * per account stream) together with the account. Events of one account may arrive out of order when
 * concurrency > 1 or after a retry; order them by `at` and `id`.
 */
import { createChangeBus, type ChangeBus } from '../redis/change-bus.js';
import type { ChangeKind, ChangeMessage } from '../redis/codecs/change-message.js';
import Bottleneck from 'bottleneck';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { NotifyConfig, WebhookConfig } from '../config/schema.js';
import { ID_PATTERN } from '../config/schema.js';
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { eventFromEntry, streamFields, type NotifyEvent } from './events.js';
import { signPayload } from './signature.js';

export { signPayload, verifySignature } from './signature.js';

/** The consumer group every dispatcher reads the events streams with. */
export const NOTIFY_GROUP = 'notify';
/** The change-channel message an event append publishes (see emitEvent in common.lua). */
export const EVENT_MESSAGE_KIND: ChangeKind = 'event';
const DEAD_LETTER_MAXLEN = 100_000;

/** Global stream of events given up for a webhook. */
export const deadLetterKey = (keys: Pick<Keys, 'deadLetters'>) => keys.deadLetters;
/** Per-account hash of delivery state, `<entryId>/<webhookId>` -> state; in the account's slot. */
export const deliveriesKey = (keys: Pick<Keys, 'deliveries'>, accountId: string) => keys.deliveries(accountId);
const deliveryField = (entryId: string, webhookId: string) => `${entryId}/${webhookId}`;

export class DispatcherStateError extends Error {
  override readonly name = 'DispatcherStateError';
}

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

type DeliveryState = { done: true } | { done: false; attempts: number; lastError: string };

type PostResult = { ok: true } | { ok: false; error: string };

const errorText = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));
const isRedisError = (err: unknown, code: string) => err instanceof Error && err.message.startsWith(code);

function parseState(raw: string | null | undefined): DeliveryState {
  if (!raw) return { done: false, attempts: 0, lastError: '' };
  const sep = raw.indexOf('|');
  const head = sep < 0 ? raw : raw.slice(0, sep);
  if (head === 'delivered' || head === 'dead') return { done: true };
  const attempts = Number(head);
  if (!Number.isInteger(attempts) || attempts < 0) throw new DispatcherStateError(`malformed delivery state ${JSON.stringify(raw)}`);
  return { done: false, attempts, lastError: sep < 0 ? '' : raw.slice(sep + 1) };
}

/** Resolves true after ms, or false as soon as the signal aborts. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
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
  const webhooks = config.webhooks;
  const heartbeatMs = Math.max(20, Math.floor(config.reclaimIdleMs / 3));
  const counters = { delivered: 0, failed: 0, deadLettered: 0, acknowledged: 0, reclaimed: 0 };
  let lastScanAt: number | null = null;
  let lastError: string | null = null;

  const inFlight = new Map<string, Job>();
  const jobPromises = new Set<Promise<void>>();
  const accountRuns = new Map<string, AccountRun>();
  const groupsReady = new Set<string>();
  /** Accounts that had more to read when maxInFlight was reached. */
  const deferred = new Set<string>();
  let limiters = new Map<string, Bottleneck>();
  // the instance's one subscriber, shared with the directory and the registry; a dispatcher made alone has its own
  let bus: ChangeBus | undefined;
  let unlisten: (() => void) | undefined;
  let scanTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let scanning: Promise<void> | undefined;
  let heartbeating: Promise<void> | undefined;
  let running = false;

  const jobKey = (accountId: string, entryId: string) => `${accountId}\n${entryId}`;
  const subscribersOf = (type: string) => webhooks.filter((w) => !w.events || w.events.includes(type));

  function noteError(err: unknown, msg: string, extra: object = {}): void {
    lastError = errorText(err);
    logger.warn({ err: lastError, ...extra }, msg);
  }

  function limiterFor(w: WebhookConfig): Bottleneck {
    let limiter = limiters.get(w.id);
    if (!limiter) {
      limiter = new Bottleneck({ maxConcurrent: config.concurrency, minTime: config.minTimeMs, id: `webhook:${w.id}` });
      limiter.on('error', (err: unknown) => noteError(err, 'webhook limiter error', { webhook: w.id }));
      limiters.set(w.id, limiter);
    }
    return limiter;
  }

  function backoffMs(attempt: number): number {
    const full = Math.min(config.maxBackoffMs, config.backoffMs * 2 ** Math.min(attempt - 1, 30));
    return Math.round(full / 2 + (random() * full) / 2);
  }

  async function post(w: WebhookConfig, event: NotifyEvent, attempt: number): Promise<PostResult> {
    const timestamp = Math.floor(Date.now() / 1000);
    const started = performance.now();
    try {
      const res = await fetch(w.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'callgate-webhooks',
          'X-Callgate-Event': event.type,
          'X-Callgate-Delivery': event.id,
          'X-Callgate-Timestamp': String(timestamp),
          'X-Callgate-Signature': signPayload(w.secret, timestamp, event.body),
          'X-Callgate-Attempt': String(attempt),
        },
        body: event.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(config.timeoutMs),
      });
      await res.body?.cancel().catch(() => {});
      return res.status >= 200 && res.status < 300 ? { ok: true } : { ok: false, error: `HTTP ${res.status}` };
    } catch (err) {
      if (err instanceof Error && err.name === 'TimeoutError') return { ok: false, error: `timeout after ${config.timeoutMs} ms` };
      const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
      return { ok: false, error: `${errorText(err)}${cause}` };
    } finally {
      metrics?.webhookDeliverySeconds.observe((performance.now() - started) / 1000);
    }
  }

  async function deadLetter(job: Job, w: WebhookConfig, attempts: number, error: string): Promise<void> {
    const { event, accountId } = job;
    await redis.xAdd(
      deadLetterKey(keys),
      '*',
      {
        event: event.id, account: accountId, type: event.type, webhook: w.id, attempts: String(attempts),
        lastError: error, deadAt: String(Date.now()), body: event.body,
      },
      { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: DEAD_LETTER_MAXLEN } },
    );
    await redis.hSet(deliveriesKey(keys, accountId), deliveryField(event.id, w.id), `dead|${attempts}`);
    counters.deadLettered++;
    metrics?.webhookDeliveries.labels('dead_lettered').inc();
    logger.warn({ accountId, eventId: event.id, type: event.type, webhook: w.id, attempts, lastError: error }, 'webhook event dead-lettered');
  }

  /** Delivers one event to one webhook; resolves true once done (2xx or dead-lettered), false when stopped. */
  async function deliverTo(job: Job, w: WebhookConfig, state: DeliveryState): Promise<boolean> {
    if (state.done) return true;
    const { event, accountId } = job;
    const hash = deliveriesKey(keys, accountId);
    const field = deliveryField(event.id, w.id);
    let attempts = state.attempts;
    let error = state.lastError;
    for (;;) {
      if (job.abort.signal.aborted) return false;
      if (attempts >= config.maxAttempts) {
        // maxAttempts was lowered, or the process died right after the last attempt
        await deadLetter(job, w, attempts, error || 'attempts exhausted');
        return true;
      }
      let result: PostResult | null;
      try {
        result = await limiterFor(w).schedule(async () => {
          if (job.abort.signal.aborted) return null;
          const attempt = attempts + 1;
          // counted before the POST: a crash during it still uses up the attempt
          await redis.hSet(hash, field, `${attempt}|${error}`);
          attempts = attempt;
          return post(w, event, attempt);
        });
      } catch (err) {
        if (job.abort.signal.aborted) return false; // dropped from the limiter's queue by stop()
        throw err;
      }
      if (result === null) return false;
      if (result.ok) {
        counters.delivered++;
        metrics?.webhookDeliveries.labels('delivered').inc();
        await redis.hSet(hash, field, `delivered|${attempts}`);
        return true;
      }
      error = result.error;
      counters.failed++;
      metrics?.webhookDeliveries.labels('failed').inc();
      logger.info({ accountId, eventId: event.id, webhook: w.id, attempt: attempts, error }, 'webhook delivery failed');
      if (attempts >= config.maxAttempts) {
        await deadLetter(job, w, attempts, error);
        return true;
      }
      await redis.hSet(hash, field, `${attempts}|${error}`);
      if (!(await pause(backoffMs(attempts), job.abort.signal))) return false;
    }
  }

  async function acknowledge(job: Job): Promise<void> {
    const stream = keys.events(job.accountId);
    const fields = webhooks.map((w) => deliveryField(job.event.id, w.id));
    const tx = redis.multi();
    tx.xAck(stream, NOTIFY_GROUP, job.event.id);
    tx.xDel(stream, job.event.id);
    if (fields.length > 0) tx.hDel(deliveriesKey(keys, job.accountId), fields);
    await tx.exec();
    counters.acknowledged++;
  }

  async function runJob(job: Job): Promise<void> {
    const { accountId, event } = job;
    try {
      const hooks = subscribersOf(event.type);
      if (hooks.length > 0) {
        const raw = await redis.hmGet(deliveriesKey(keys, accountId), hooks.map((w) => deliveryField(event.id, w.id)));
        const states = hooks.map((_, i) => parseState(raw[i]));
        // settle every webhook before leaving: a job must not outlive its inFlight slot, or a scan could start a twin
        const settled = await Promise.allSettled(hooks.map((w, i) => deliverTo(job, w, states[i]!)));
        const failure = settled.find((s) => s.status === 'rejected');
        if (failure) throw failure.reason;
        if (!settled.every((s) => s.status === 'fulfilled' && s.value)) return; // stopped: the entry stays pending
      }
      if (job.lost) return; // another instance owns it now and acknowledges it
      await acknowledge(job);
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

  function take(accountId: string, entries: readonly { id: string; message: unknown }[]): void {
    for (const entry of entries) {
      const key = jobKey(accountId, entry.id);
      if (inFlight.has(key)) continue;
      const job: Job = {
        accountId,
        event: eventFromEntry(accountId, entry.id, streamFields(entry.message)),
        abort: new AbortController(),
        lost: false,
      };
      inFlight.set(key, job);
      const p = runJob(job);
      jobPromises.add(p);
      void p.finally(() => jobPromises.delete(p));
    }
  }

  async function ensureGroup(accountId: string): Promise<void> {
    if (groupsReady.has(accountId)) return;
    try {
      await redis.xGroupCreate(keys.events(accountId), NOTIFY_GROUP, '0', { MKSTREAM: true });
    } catch (err) {
      if (!isRedisError(err, 'BUSYGROUP')) throw err;
    }
    groupsReady.add(accountId);
  }

  /**
   * Reads one account's stream: new entries always; on a full pass also this consumer's own pending
   * entries that no job holds (a restart) and entries idle on other consumers (a dead instance).
   * Returns true when there may be more to read.
   */
  async function readAccount(accountId: string, full: boolean): Promise<boolean> {
    const stream = keys.events(accountId);
    await ensureGroup(accountId);
    let more = false;
    const room = () => maxInFlight - inFlight.size;
    if (full) {
      const mine = await redis.xPendingRange(stream, NOTIFY_GROUP, '-', '+', batchSize, { consumer: consumerId });
      const orphans = mine.map((p) => String(p.id)).filter((id) => !inFlight.has(jobKey(accountId, id))).slice(0, Math.max(0, room()));
      if (orphans.length > 0) {
        const claimed = await redis.xClaim(stream, NOTIFY_GROUP, consumerId, 0, orphans);
        const entries = claimed.filter((e): e is NonNullable<typeof e> => e !== null);
        counters.reclaimed += entries.length;
        if (running) take(accountId, entries);
      }
      if (room() > 0 && running) {
        const auto = await redis.xAutoClaim(stream, NOTIFY_GROUP, consumerId, config.reclaimIdleMs, '0-0', { COUNT: Math.min(batchSize, room()) });
        const entries = auto.messages.filter((e): e is NonNullable<typeof e> => e !== null);
        if (entries.length > 0) {
          const fresh = entries.filter((e) => !inFlight.has(jobKey(accountId, e.id)));
          counters.reclaimed += fresh.length;
          if (fresh.length > 0) logger.info({ accountId, entries: fresh.length }, 'took over webhook events of an idle consumer');
          take(accountId, entries);
        }
        if (String(auto.nextId) !== '0-0') more = true;
      }
    }
    if (!running) return false;
    if (room() <= 0) {
      deferred.add(accountId);
      return false;
    }
    const count = Math.min(batchSize, room());
    const reply = await redis.xReadGroup(NOTIFY_GROUP, consumerId, { key: stream, id: '>' }, { COUNT: count });
    const messages = reply?.[0]?.messages ?? [];
    // entries read while stopping stay pending to this consumer: a restart takes them back
    if (running) take(accountId, messages);
    if (messages.length >= count) more = true;
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
            if (isRedisError(err, 'NOGROUP') && attempt++ === 0) {
              // the stream was deleted and recreated: create the group again, once
              groupsReady.delete(accountId);
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
      const lengths = await Promise.allSettled(chunk.map((id) => redis.xLen(keys.events(id))));
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
   * Renews this consumer's claim on the entries it works on (XCLAIM JUSTID resets their idle time, so no
   * other instance takes them over), and stops retrying those another instance took over meanwhile.
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
        const stream = keys.events(accountId);
        try {
          const ids = jobs.map((j) => j.event.id).sort(compareIds);
          const mine = await redis.xPendingRange(stream, NOTIFY_GROUP, ids[0]!, ids.at(-1)!, Math.max(100, ids.length * 2), { consumer: consumerId });
          const owned = new Set(mine.map((p) => String(p.id)));
          const keep = ids.filter((id) => owned.has(id));
          if (keep.length > 0) await redis.xClaimJustId(stream, NOTIFY_GROUP, consumerId, 0, keep);
          if (mine.length >= Math.max(100, ids.length * 2)) return; // a truncated reply proves nothing about the rest
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
    limiters = new Map();
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
    logger.info({ webhooks: webhooks.map((w) => w.id), consumerId }, 'webhook dispatcher started');
    await scanOnce();
  }

  /**
   * Stops reading, drops deliveries waiting for their turn or in backoff, and waits for the POSTs in
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
    const stopping = [...limiters.values()].map((l) =>
      l.stop({ dropWaitingJobs: true, dropErrorMessage: 'webhook dispatcher stopped' }).catch(() => {}),
    );
    await Promise.all([...stopping, scanning, heartbeating, ...[...accountRuns.values()].map((r) => r.promise)]);
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

function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = BigInt(am) - BigInt(bm);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const s = BigInt(as) - BigInt(bs);
  return s === 0n ? 0 : s < 0n ? -1 : 1;
}
