/**
 * Rate decks: per-minute rates by destination prefix, longest prefix wins. This module is what a deck is;
 * deck.ts builds one, deck-csv.ts reads the admin's CSV, deck-codec.ts the form stored in Redis.
 */
import type { Micros } from './money.js';

export interface Rate {
  /** Destination prefix: 1-20 digits. */
  readonly prefix: string;
  readonly ratePerMinMicros: Micros;
  /** Seconds billed for the first increment (the minimum charge of an answered call): 1..3600. */
  readonly firstIncrement: number;
  /** Seconds billed per increment after the first: 1..3600. */
  readonly nextIncrement: number;
  /** Charged once when the call is answered. */
  readonly connectFeeMicros: Micros;
}

export interface RateDeck {
  readonly id: string;
  /** In the order they were given (CSV order). Frozen. */
  readonly rates: readonly Rate[];
  /**
   * The rate with the longest prefix of `destination`. A leading `+` is ignored; anything else that is not
   * a digit makes the destination match nothing.
   */
  lookup(destination: string): Rate | undefined;
}

export interface RateDeckProblem {
  /**
   * For CSV: the 1-based line of the record, the header being line 1 in a plain file.
   * For buildRateDeck / deserializeRateDeck: the 1-based position in the rates array, or 0 for the whole text.
   */
  readonly line: number;
  readonly message: string;
}

export const MAX_PREFIX_DIGITS = 20;
export const MIN_INCREMENT_SECONDS = 1;
export const MAX_INCREMENT_SECONDS = 3600;
