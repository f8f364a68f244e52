import type { NotifyEvent } from './events.js';

/**
 * The seam between the outbox and the ways an event leaves callgate. The dispatcher reads an event, asks
 * which targets of a channel subscribe to its type, and calls the channel once per (event, target) and
 * attempt; pacing, retries, attempt counts and dead letters stay on the dispatcher's side, the same for
 * every channel. Webhooks are the one channel today (webhook-post.ts).
 */

/** One place a channel delivers to: a webhook endpoint, say. The id names it in delivery state and dead letters. */
export interface DeliveryTarget {
  readonly id: string;
  /** Event types this target receives; absent means all. */
  readonly events?: readonly string[];
}

/** One attempt's outcome. A failure carries the text recorded as the last error and in the dead letter. */
export type DeliveryResult = { ok: true } | { ok: false; error: string };

export interface DeliveryChannel<T extends DeliveryTarget = DeliveryTarget> {
  /** Names the channel in its targets' pacing (for example `webhook`). */
  readonly name: string;
  readonly targets: readonly T[];
  /** Makes attempt number `attempt` (from 1) to deliver `event` to `target`. Never rejects: a failure is a result. */
  deliver(target: T, event: NotifyEvent, attempt: number): Promise<DeliveryResult>;
}

/** The targets an event of `type` goes to, in their configured order. */
export function targetsFor<T extends DeliveryTarget>(targets: readonly T[], type: string): T[] {
  return targets.filter((t) => !t.events || t.events.includes(type));
}
