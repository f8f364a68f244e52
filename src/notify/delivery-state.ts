import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { DispatcherStateError } from './errors.js';

/**
 * Where each (event, target) delivery stands, kept in Redis so that attempt counts survive restarts.
 * Per account, the hash `{a:<id>}:events:deliveries` (beside the events stream and in its slot) holds one
 * field per (entry, target), `<entryId>/<targetId>`:
 *   `<attempts>|<last error>`  while retrying: written before each attempt, so a crash mid-attempt counts it
 *   `delivered|<attempts>`     delivered (a webhook answered 2xx)
 *   `dead|<attempts>`          dead-lettered after maxAttempts
 * XPENDING's delivery count is not used: it counts reads, not attempts, and not per target. A target that
 * already got an event is not sent it again after a restart; the others resume at their next attempt.
 * The fields go when the entry is acknowledged, in the same MULTI (outbox.ts).
 *
 * Dead letters go to one global stream, `<prefix>{notify}:dead` (not an account key, so it has its own hash
 * tag), with fields event, account, type, webhook (the target id), attempts, lastError, deadAt (epoch ms)
 * and body (the exact text that was sent), capped at about 100,000 entries.
 */

/** What a delivery needs to know before its next attempt. */
export type DeliveryState = { done: true } | { done: false; attempts: number; lastError: string };

/** What is written: the attempt in progress (or to retry), or one of the two ends. */
export type RecordedState =
  | { kind: 'attempting'; attempts: number; lastError: string }
  | { kind: 'delivered'; attempts: number }
  | { kind: 'dead'; attempts: number };

const DEAD_LETTER_MAXLEN = 100_000;

/** The hash field of one (entry, target). */
export const deliveryField = (entryId: string, targetId: string) => `${entryId}/${targetId}`;

export function encodeDeliveryState(state: RecordedState): string {
  return state.kind === 'attempting' ? `${state.attempts}|${state.lastError}` : `${state.kind}|${state.attempts}`;
}

/** A missing field is a delivery not yet tried. Throws DispatcherStateError on a value no dispatcher writes. */
export function parseDeliveryState(raw: string | null | undefined): DeliveryState {
  if (!raw) return { done: false, attempts: 0, lastError: '' };
  const sep = raw.indexOf('|');
  const head = sep < 0 ? raw : raw.slice(0, sep);
  if (head === 'delivered' || head === 'dead') return { done: true };
  const attempts = Number(head);
  if (!Number.isInteger(attempts) || attempts < 0) throw new DispatcherStateError(`malformed delivery state ${JSON.stringify(raw)}`);
  return { done: false, attempts, lastError: sep < 0 ? '' : raw.slice(sep + 1) };
}

/** Global stream of events given up for a target. */
export const deadLetterKey = (keys: Pick<Keys, 'deadLetters'>) => keys.deadLetters;
/** Per-account hash of delivery state, `<entryId>/<targetId>` -> state; in the account's slot. */
export const deliveriesKey = (keys: Pick<Keys, 'deliveries'>, accountId: string) => keys.deliveries(accountId);

/** One (event, target) delivery. */
export interface DeliveryRef {
  accountId: string;
  eventId: string;
  targetId: string;
}

export interface DeadLetter {
  type: string;
  attempts: number;
  lastError: string;
  /** The exact text that was sent. */
  body: string;
}

export type Transaction = ReturnType<Redis['multi']>;

export function createDeliveryStates({ redis, keys }: { redis: Redis; keys: Keys }) {
  /** The states of one event's deliveries to `targetIds`, in that order. */
  async function read(accountId: string, eventId: string, targetIds: readonly string[]): Promise<DeliveryState[]> {
    const raw = await redis.hmGet(deliveriesKey(keys, accountId), targetIds.map((t) => deliveryField(eventId, t)));
    return targetIds.map((_, i) => parseDeliveryState(raw[i]));
  }

  async function record(ref: DeliveryRef, state: RecordedState): Promise<void> {
    await redis.hSet(deliveriesKey(keys, ref.accountId), deliveryField(ref.eventId, ref.targetId), encodeDeliveryState(state));
  }

  /** Appends the dead letter, then marks the delivery dead. */
  async function deadLetter(ref: DeliveryRef, letter: DeadLetter): Promise<void> {
    await redis.xAdd(
      deadLetterKey(keys),
      '*',
      {
        event: ref.eventId, account: ref.accountId, type: letter.type, webhook: ref.targetId, attempts: String(letter.attempts),
        lastError: letter.lastError, deadAt: String(Date.now()), body: letter.body,
      },
      { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: DEAD_LETTER_MAXLEN } },
    );
    await record(ref, { kind: 'dead', attempts: letter.attempts });
  }

  /** Queues, on the acknowledging MULTI, the removal of an event's states for every target. */
  function forget(tx: Transaction, accountId: string, eventId: string, targetIds: readonly string[]): void {
    if (targetIds.length > 0) tx.hDel(deliveriesKey(keys, accountId), targetIds.map((t) => deliveryField(eventId, t)));
  }

  return { read, record, deadLetter, forget };
}

export type DeliveryStates = ReturnType<typeof createDeliveryStates>;
