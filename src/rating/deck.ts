/**
 * Building a deck from rates: validated, frozen and indexed for lookup. Every way a deck arrives (CSV,
 * storage, rates in memory) ends here.
 */
import type { Rate, RateDeck } from './deck-model.js';
import { ProblemList, RateDeckError } from './deck-problems.js';
import { buildPrefixIndex, makeLookup } from './prefix-trie.js';
import { isValidPrefix, rateProblems } from './rate-validation.js';

export function freezeRate(rate: Rate): Rate {
  return Object.freeze({
    prefix: rate.prefix,
    ratePerMinMicros: rate.ratePerMinMicros,
    firstIncrement: rate.firstIncrement,
    nextIncrement: rate.nextIncrement,
    connectFeeMicros: rate.connectFeeMicros,
  });
}

/** Builds a deck from rates already in memory. Throws RateDeckError (line = position in `rates`, 1-based). */
export function buildRateDeck(id: string, rates: readonly Rate[]): RateDeck {
  const problems = new ProblemList();
  if (!Array.isArray(rates)) {
    problems.add(0, 'rates must be an array');
    throw new RateDeckError(id, problems.kept, problems.count, 'rate');
  }
  const firstSeen = new Map<string, number>();
  for (let i = 0; i < rates.length; i++) {
    const rate = rates[i];
    for (const message of rateProblems(rate)) problems.add(i + 1, message);
    const prefix = (rate as Partial<Rate> | undefined)?.prefix;
    if (isValidPrefix(prefix)) {
      const earlier = firstSeen.get(prefix);
      if (earlier !== undefined) problems.add(i + 1, `duplicate prefix ${prefix} (first at rate ${earlier})`);
      else firstSeen.set(prefix, i + 1);
    }
  }
  if (rates.length === 0) problems.add(0, 'the deck has no rates');
  if (problems.count > 0) throw new RateDeckError(id, problems.kept, problems.count, 'rate');
  return assembleDeck(id, rates.map(freezeRate));
}

/** A deck of rates already validated: the CSV reader checks its rows itself, to report them by line. */
export function assembleDeck(id: string, rates: Rate[]): RateDeck {
  const frozenRates = Object.freeze(rates);
  const lookup = makeLookup(frozenRates, buildPrefixIndex(frozenRates));
  return Object.freeze({ id, rates: frozenRates, lookup });
}
