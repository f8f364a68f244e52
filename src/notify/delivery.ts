import type { NotifyConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { backoffDelayMs, pause } from './backoff.js';
import { targetsFor, type DeliveryChannel, type DeliveryResult, type DeliveryTarget } from './channel.js';
import type { DeliveryRef, DeliveryState, DeliveryStates } from './delivery-state.js';
import type { NotifyEvent } from './events.js';
import type { Pacer } from './pacing.js';

/**
 * Delivers one event through one channel: to each target subscribed to its type, attempt after attempt
 * (each in the target's turn, pacing.ts), with back-off between failures (backoff.ts), until the target
 * took it or it is dead-lettered after maxAttempts. Every attempt is counted in Redis before it is made
 * (delivery-state.ts), so a crash during it still uses it up.
 */

export type DeliveryOutcome = 'delivered' | 'failed' | 'dead_lettered';

export interface DeliveryDeps<T extends DeliveryTarget> {
  channel: DeliveryChannel<T>;
  states: DeliveryStates;
  /** The channel's pacer now: start() makes a new one each time. */
  pacer: () => Pacer;
  config: Pick<NotifyConfig, 'maxAttempts' | 'backoffMs' | 'maxBackoffMs'>;
  logger: Logger;
  random: () => number;
  /** Called once per attempt that got an answer, and once per dead letter. */
  onOutcome: (outcome: DeliveryOutcome) => void;
}

export function createDelivery<T extends DeliveryTarget>({ channel, states, pacer, config, logger, random, onOutcome }: DeliveryDeps<T>) {
  async function deadLetter(ref: DeliveryRef, event: NotifyEvent, attempts: number, lastError: string): Promise<void> {
    await states.deadLetter(ref, { type: event.type, attempts, lastError, body: event.body });
    onOutcome('dead_lettered');
    logger.warn(
      { accountId: ref.accountId, eventId: event.id, type: event.type, [channel.name]: ref.targetId, attempts, lastError },
      `${channel.name} event dead-lettered`,
    );
  }

  /** Delivers one event to one target; resolves true once done (delivered or dead-lettered), false when stopped. */
  async function deliverTo(accountId: string, event: NotifyEvent, target: T, state: DeliveryState, signal: AbortSignal): Promise<boolean> {
    if (state.done) return true;
    const ref: DeliveryRef = { accountId, eventId: event.id, targetId: target.id };
    let attempts = state.attempts;
    let error = state.lastError;
    for (;;) {
      if (signal.aborted) return false;
      if (attempts >= config.maxAttempts) {
        // maxAttempts was lowered, or the process died right after the last attempt
        await deadLetter(ref, event, attempts, error || 'attempts exhausted');
        return true;
      }
      let result: DeliveryResult | null;
      try {
        result = await pacer().schedule(target.id, async () => {
          if (signal.aborted) return null;
          const attempt = attempts + 1;
          // counted before the attempt: a crash during it still uses it up
          await states.record(ref, { kind: 'attempting', attempts: attempt, lastError: error });
          attempts = attempt;
          return channel.deliver(target, event, attempt);
        });
      } catch (err) {
        if (signal.aborted) return false; // dropped from the pacer's queue by stop()
        throw err;
      }
      if (result === null) return false;
      if (result.ok) {
        onOutcome('delivered');
        await states.record(ref, { kind: 'delivered', attempts });
        return true;
      }
      error = result.error;
      onOutcome('failed');
      logger.info({ accountId, eventId: event.id, [channel.name]: target.id, attempt: attempts, error }, `${channel.name} delivery failed`);
      if (attempts >= config.maxAttempts) {
        await deadLetter(ref, event, attempts, error);
        return true;
      }
      await states.record(ref, { kind: 'attempting', attempts, lastError: error });
      if (!(await pause(backoffDelayMs(config, attempts, random), signal))) return false;
    }
  }

  /**
   * Delivers an event to every target subscribed to its type. Resolves true once each is done, false when
   * stopped first; rejects (a Redis failure) only after every target has settled, so that no attempt
   * outlives the call.
   */
  async function deliverEvent(accountId: string, event: NotifyEvent, signal: AbortSignal): Promise<boolean> {
    const targets = targetsFor(channel.targets, event.type);
    if (targets.length === 0) return true;
    const current = await states.read(accountId, event.id, targets.map((t) => t.id));
    const settled = await Promise.allSettled(targets.map((t, i) => deliverTo(accountId, event, t, current[i]!, signal)));
    const failure = settled.find((s) => s.status === 'rejected');
    if (failure) throw failure.reason;
    return settled.every((s) => s.status === 'fulfilled' && s.value);
  }

  return { deliverEvent };
}
