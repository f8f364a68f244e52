/**
 * Longest-prefix lookup speed of a rate deck, against a plain baseline measured in the same run:
 * a sorted array of prefixes, binary-searched once per candidate length from the longest down.
 *
 *   npm run bench:rating            human-readable
 *   npm run bench:rating -- --json  one JSON line
 *
 * Everything is generated from fixed seeds, so two runs measure the same work.
 */
import { parseRateDeckCsv, type Rate, type RateDeck } from '../src/rating/index.js';
import { mulberry32 } from '../test/helpers/prng.js';

const DECK_PREFIXES = 100_000;
const DESTINATIONS = 1_000_000;
const MAX_PREFIX_LENGTH = 12;
const ROUNDS = 5;
const WARM_UP_DESTINATIONS = 100_000;
const VERIFY_EVERY = 13; // compare both answers on every 13th destination (~77k)

const json = process.argv.includes('--json');


function randomDigits(random: () => number, count: number): string {
  let s = '';
  for (let i = 0; i < count; i++) s += String(Math.floor(random() * 10));
  return s;
}

function randomInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** Country codes (1-3 digits, none starting with 0), then area and exchange prefixes nested below them. */
function generatePrefixes(random: () => number): string[] {
  const prefixes = new Set<string>(['1', '7']);
  for (let cc = 20; cc <= 99; cc++) if (cc % 10 !== 0 && !String(cc).startsWith('7') && random() < 0.5) prefixes.add(String(cc));
  while (prefixes.size < 230) prefixes.add(String(randomInt(random, 200, 999)));
  const list = [...prefixes];
  while (list.length < DECK_PREFIXES) {
    const parent = list[Math.floor(random() * list.length)]!;
    if (parent.length >= MAX_PREFIX_LENGTH) continue;
    const room = MAX_PREFIX_LENGTH - parent.length;
    const child = parent + randomDigits(random, randomInt(random, 1, Math.min(3, room)));
    if (!prefixes.has(child)) {
      prefixes.add(child);
      list.push(child);
    }
  }
  return list;
}

function deckCsv(prefixes: string[], random: () => number): string {
  const lines = ['prefix,description,rate_per_min,first_increment,next_increment,connect_fee'];
  const increments = ['6,6', '60,60', '30,6', '1,1'];
  for (const p of prefixes) {
    const rate = (randomInt(random, 1, 250_000) / 1e6).toFixed(6);
    const fee = random() < 0.1 ? '0.001' : '';
    lines.push(`${p},"dest ${p}, zone ${p.length}",${rate},${increments[Math.floor(random() * 4)]},${fee}`);
  }
  return lines.join('\n');
}

function generateDestinations(prefixes: string[], random: () => number): string[] {
  const out = new Array<string>(DESTINATIONS);
  // Written byte by byte into one buffer and decoded once: flat strings, as a parsed SIP header gives.
  const buffer = Buffer.alloc(32);
  const putDigits = (from: number, to: number): void => {
    for (let k = from; k < to; k++) buffer[k] = 48 + Math.floor(random() * 10);
  };
  for (let i = 0; i < DESTINATIONS; i++) {
    const length = randomInt(random, 8, 15);
    const kind = random();
    let end = length;
    if (kind < 0.6) {
      // Starts with a deck prefix: matches it or something longer; some written in E.164 with a +.
      const p = prefixes[Math.floor(random() * prefixes.length)]!;
      const plus = random() < 0.1 ? 1 : 0;
      if (plus) buffer[0] = 43;
      buffer.write(p, plus, 'latin1');
      end = plus + Math.max(length, p.length);
      putDigits(plus + p.length, end);
    } else if (kind < 0.9) {
      buffer[0] = 48 + randomInt(random, 1, 9); // usually matches a country code only
      putDigits(1, length);
    } else if (kind < 0.99) {
      buffer[0] = 48; // no prefix starts with 0
      putDigits(1, length);
    } else {
      putDigits(0, length);
      buffer[4] = 45; // a '-': not digits, matches nothing
    }
    out[i] = buffer.toString('latin1', 0, end);
  }
  return out;
}

/** The baseline: sorted prefixes, one binary search per candidate length, longest first. */
function baselineLookup(rates: readonly Rate[]): (destination: string) => Rate | undefined {
  const sorted = [...rates].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
  const keys = sorted.map((r) => r.prefix);
  const maxLength = keys.reduce((m, k) => Math.max(m, k.length), 0);
  const find = (candidate: string): number => {
    let lo = 0;
    let hi = keys.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const key = keys[mid]!;
      if (key === candidate) return mid;
      if (key < candidate) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  };
  return (destination: string) => {
    const digits = destination.startsWith('+') ? destination.slice(1) : destination;
    if (!/^\d+$/.test(digits)) return undefined;
    for (let length = Math.min(digits.length, maxLength); length >= 1; length--) {
      const at = find(digits.slice(0, length));
      if (at >= 0) return sorted[at];
    }
    return undefined;
  };
}

/**
 * One timed pass over every destination. The match count keeps the work from being optimised away without
 * reading the returned Rate: that read is the caller's cost (a cache miss into a 100k-object deck, about as
 * dear as the lookup itself here) and would blur the comparison. Answers are compared rate by rate above.
 * Built once per implementation so each timing loop's call site sees one function only.
 */
function makeTimedPass(
  lookup: (d: string) => Rate | undefined,
): (destinations: string[]) => { perSecond: number; checksum: number } {
  // new Function gives each implementation its own copy of the loop and so its own type feedback.
  const loop = new Function(
    'lookup',
    'destinations',
    `let checksum = 0;
     for (let i = 0; i < destinations.length; i++) {
       const rate = lookup(destinations[i]);
       if (rate !== undefined) checksum++;
     }
     return checksum;`,
  ) as (lookup: (d: string) => Rate | undefined, destinations: string[]) => number;
  return (destinations) => {
    const start = performance.now();
    const checksum = loop(lookup, destinations);
    const seconds = (performance.now() - start) / 1000;
    return { perSecond: destinations.length / seconds, checksum };
  };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function main(): void {
  const random = mulberry32(0xca11_9a7e);
  const prefixes = generatePrefixes(random);
  const csv = deckCsv(prefixes, random);
  const parseStart = performance.now();
  const deck: RateDeck = parseRateDeckCsv('bench', csv);
  const parseMs = performance.now() - parseStart;
  const destinations = generateDestinations(prefixes, random);
  const baseline = baselineLookup(deck.rates);
  const timeCallgate = makeTimedPass(deck.lookup);
  const timeBaseline = makeTimedPass(baseline);

  let matched = 0;
  for (let i = 0; i < destinations.length; i += VERIFY_EVERY) {
    const d = destinations[i]!;
    const ours = deck.lookup(d);
    if (ours !== baseline(d)) {
      console.error(`MISMATCH for ${d}: callgate ${ours?.prefix ?? 'none'}, baseline ${baseline(d)?.prefix ?? 'none'}`);
      process.exit(1);
    }
    if (ours) matched++;
  }

  // Warm up both on a slice (the baseline is slow enough that full warm-up passes would double the run),
  // then alternate full rounds so drift (thermal, GC, neighbours) hits both alike.
  const warmUp = destinations.slice(0, WARM_UP_DESTINATIONS);
  for (let i = 0; i < 2; i++) {
    timeCallgate(warmUp);
    timeBaseline(warmUp);
  }
  const ours: number[] = [];
  const base: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const a = timeCallgate(destinations);
    const b = timeBaseline(destinations);
    if (a.checksum !== b.checksum) {
      console.error(`match count differs: callgate ${a.checksum}, baseline ${b.checksum}`);
      process.exit(1);
    }
    ours.push(a.perSecond);
    base.push(b.perSecond);
  }
  const lookupsPerS = Math.round(median(ours));
  const baselinePerS = Math.round(median(base));
  const ratio = Math.round((lookupsPerS / baselinePerS) * 100) / 100;

  if (json) {
    console.log(
      JSON.stringify({ prefixes: deck.rates.length, lookups_per_s: lookupsPerS, baseline_lookups_per_s: baselinePerS, ratio }),
    );
    return;
  }
  const fmt = (n: number): string => n.toLocaleString('en-US');
  console.log(`rate deck:            ${fmt(deck.rates.length)} prefixes (lengths 1-${MAX_PREFIX_LENGTH}), CSV parsed in ${parseMs.toFixed(0)} ms`);
  console.log(
    `destinations:         ${fmt(destinations.length)} (verified ${fmt(Math.ceil(destinations.length / VERIFY_EVERY))} against the baseline, ${((matched / Math.ceil(destinations.length / VERIFY_EVERY)) * 100).toFixed(0)}% match a prefix)`,
  );
  console.log(`callgate lookups/s:   ${fmt(lookupsPerS)}  (median of ${ROUNDS})`);
  console.log(`baseline lookups/s:   ${fmt(baselinePerS)}  (sorted array + binary search per length)`);
  console.log(`ratio:                ${ratio}x`);
}

main();
