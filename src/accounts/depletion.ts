import { BURN_TAU_MS, type AccountState } from '../redis/codecs/account-hash.js';

export interface Depletion {
  /** Current spend rate, micro-dollars per second (the stored average decayed to `nowMs`). */
  burnPerSecond: number;
  /** Micro-dollars per hour, rounded: what engineers read. */
  burnPerHour: number;
  /** Seconds until available funds reach zero at that rate; null when nothing is being spent. */
  secondsToDepletion: number | null;
  /** Wall clock (epoch ms) of depletion at that rate; null when nothing is being spent. */
  depletesAt: number | null;
}

/** Rates below this (a thousandth of a cent per hour) count as "not spending". */
const IDLE_PER_SECOND = 10 / 3600;

/**
 * Estimated depletion from the burn rate the scripts keep: a pure function of the account state, the
 * funds still available (prepaid balance, or postpaid credit left, minus reservations) and the time.
 */
export function estimateDepletion(state: Pick<AccountState, 'burn' | 'burnAt'>, availableMicros: number, nowMs: number): Depletion {
  const age = state.burnAt > 0 ? Math.max(0, nowMs - state.burnAt) : 0;
  const burnPerSecond = state.burnAt > 0 ? state.burn * Math.exp(-age / BURN_TAU_MS) : 0;
  if (burnPerSecond < IDLE_PER_SECOND) {
    return { burnPerSecond: 0, burnPerHour: 0, secondsToDepletion: null, depletesAt: null };
  }
  const seconds = Math.max(0, availableMicros) / burnPerSecond;
  return {
    burnPerSecond,
    burnPerHour: Math.round(burnPerSecond * 3600),
    secondsToDepletion: Math.round(seconds),
    depletesAt: nowMs + Math.round(seconds * 1000),
  };
}
