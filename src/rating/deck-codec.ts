/**
 * The stored form of a deck (in Redis): compact JSON, one
 * [prefix, ratePerMinMicros, firstIncrement, nextIncrement, connectFeeMicros] per rate.
 */
import { buildRateDeck } from './deck.js';
import type { Rate, RateDeck } from './deck-model.js';
import { RateDeckError } from './deck-problems.js';

type StoredRate = [string, number, number, number, number];

export function serializeRateDeck(deck: RateDeck): string {
  return JSON.stringify(
    deck.rates.map((r): StoredRate => [r.prefix, r.ratePerMinMicros, r.firstIncrement, r.nextIncrement, r.connectFeeMicros]),
  );
}

/** Rebuilds a deck stored by serializeRateDeck. Also reads a plain JSON array of Rate objects. */
export function deserializeRateDeck(id: string, text: string): RateDeck {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new RateDeckError(id, [{ line: 0, message: `stored deck is not JSON: ${(err as Error).message}` }]);
  }
  if (!Array.isArray(parsed)) {
    throw new RateDeckError(id, [{ line: 0, message: 'stored deck must be a JSON array of rates' }]);
  }
  const rates = parsed.map((entry: unknown): Rate => {
    if (Array.isArray(entry) && entry.length === 5) {
      const [prefix, ratePerMinMicros, firstIncrement, nextIncrement, connectFeeMicros] = entry as StoredRate;
      return { prefix, ratePerMinMicros, firstIncrement, nextIncrement, connectFeeMicros };
    }
    return entry as Rate; // buildRateDeck reports anything that is not a valid rate
  });
  return buildRateDeck(id, rates);
}
