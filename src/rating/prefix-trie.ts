/**
 * The in-memory index of a deck: a digit trie, so the INVITE path pays a few array reads per dialed digit
 * and allocates nothing.
 */
import type { Rate } from './deck-model.js';

// The trie is packed into one Int32Array.
//
// Each node is three ints: [childDigits, firstChild, rate]. childDigits has bit d set when the node has a child
// for digit d; the children sit next to each other in digit order (nodes are numbered breadth first), so the
// child for d is at firstChild + 3 * (number of set bits below d). rate is an index into rates, -1 for none.
// Twelve bytes a node keeps a 100k-prefix deck near 2 MB, mostly cache-resident; a ten-slot node array was
// four times the size and measured slower in bench/rating.ts.

const NODE_INTS = 3;

/** Set bits in each 10-bit digit mask. */
const BITS_BELOW = (() => {
  const table = new Uint8Array(1 << 10);
  for (let mask = 1; mask < table.length; mask++) table[mask] = table[mask >> 1]! + (mask & 1);
  return table;
})();

export function buildPrefixIndex(rates: readonly Rate[]): Int32Array {
  // Sorted, every node's prefixes form one contiguous run, and a node's own prefix comes first in it.
  const order = rates.map((_, i) => i);
  order.sort((a, b) => {
    const pa = rates[a]!.prefix;
    const pb = rates[b]!.prefix;
    return pa < pb ? -1 : pa > pb ? 1 : 0;
  });
  const prefixAt = (k: number): string => rates[order[k]!]!.prefix;

  const nodes: number[] = [];
  // Breadth-first queue of [from, to, depth]: the run of sorted prefixes under each node, one entry per node.
  const queue: number[] = [0, order.length, 0];
  for (let q = 0; q < queue.length; q += 3) {
    let from = queue[q]!;
    const to = queue[q + 1]!;
    const depth = queue[q + 2]!;
    let rate = -1;
    if (depth > 0 && prefixAt(from).length === depth) rate = order[from++]!;
    const firstChild = queue.length / 3;
    let childDigits = 0;
    while (from < to) {
      const digit = prefixAt(from).charCodeAt(depth) - 48;
      let end = from + 1;
      while (end < to && prefixAt(end).charCodeAt(depth) - 48 === digit) end++;
      childDigits |= 1 << digit;
      queue.push(from, end, depth + 1);
      from = end;
    }
    nodes.push(childDigits, childDigits === 0 ? 0 : firstChild * NODE_INTS, rate);
  }
  return Int32Array.from(nodes);
}

export function makeLookup(rates: readonly Rate[], index: Int32Array): (destination: string) => Rate | undefined {
  return function lookup(destination: string): Rate | undefined {
    if (typeof destination !== 'string') return undefined;
    const n = destination.length;
    let i = n > 0 && destination.charCodeAt(0) === 43 /* '+' */ ? 1 : 0;
    if (i >= n) return undefined;
    let node = 0;
    let best = -1;
    while (i < n) {
      const digit = destination.charCodeAt(i++) - 48;
      if (digit < 0 || digit > 9) return undefined;
      const childDigits = index[node]!;
      const bit = 1 << digit;
      if ((childDigits & bit) === 0) break;
      node = index[node + 1]! + BITS_BELOW[childDigits & (bit - 1)]! * NODE_INTS;
      const rate = index[node + 2]!;
      if (rate >= 0) best = rate;
    }
    // The walk may stop early; the rest must still be digits for the destination to match at all.
    while (i < n) {
      const digit = destination.charCodeAt(i++) - 48;
      if (digit < 0 || digit > 9) return undefined;
    }
    return best >= 0 ? rates[best] : undefined;
  };
}
