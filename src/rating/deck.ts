/**
 * Rate decks: per-minute rates by destination prefix, longest prefix wins.
 *
 * A deck arrives as CSV at the admin edge, is stored in Redis as compact JSON and lives in process memory as
 * a digit trie, so the INVITE path pays a few array reads per dialed digit and allocates nothing.
 */
import { MAX_MICROS, MoneyFormatError, parseUsd, type Micros } from './money.js';

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

/** At most this many problems are kept; the count in the message says how many there were in all. */
export const MAX_REPORTED_PROBLEMS = 100;

export const MAX_PREFIX_DIGITS = 20;
export const MIN_INCREMENT_SECONDS = 1;
export const MAX_INCREMENT_SECONDS = 3600;

const MESSAGE_PROBLEMS_SHOWN = 5;

export class RateDeckError extends Error {
  override readonly name = 'RateDeckError';
  readonly deckId: string;
  /** Every problem found, in file order, up to MAX_REPORTED_PROBLEMS. */
  readonly problems: readonly RateDeckProblem[];
  /** How many problems there were, including those not kept. */
  readonly problemCount: number;

  constructor(deckId: string, problems: readonly RateDeckProblem[], problemCount = problems.length, where = 'line') {
    const shown = problems
      .slice(0, MESSAGE_PROBLEMS_SHOWN)
      .map((p) => (p.line > 0 ? `${where} ${p.line}: ${p.message}` : p.message));
    const more = problemCount - shown.length;
    super(
      `${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''} ` +
        `(rate deck ${JSON.stringify(deckId)}: ${problemCount} problem${problemCount === 1 ? '' : 's'})`,
    );
    this.deckId = deckId;
    this.problems = Object.freeze(problems.slice(0, MAX_REPORTED_PROBLEMS).map((p) => Object.freeze({ ...p })));
    this.problemCount = problemCount;
  }
}

class ProblemList {
  readonly kept: RateDeckProblem[] = [];
  count = 0;
  add(line: number, message: string): void {
    this.count++;
    if (this.kept.length < MAX_REPORTED_PROBLEMS) this.kept.push({ line, message });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Validation shared by CSV parsing and rebuilding from storage

const PREFIX = /^\d{1,20}$/;
const INCREMENT = /^\d{1,4}$/;

function prefixProblem(prefix: unknown): string | undefined {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    return `prefix must be 1-${MAX_PREFIX_DIGITS} digits, got ${describe(prefix)}`;
  }
  return undefined;
}

function microsProblem(value: unknown, what: string): string | undefined {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_MICROS) {
    return `${what} must be a non-negative integer number of micro-dollars up to ${MAX_MICROS}, got ${describe(value)}`;
  }
  return undefined;
}

function incrementProblem(value: unknown, what: string): string | undefined {
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < MIN_INCREMENT_SECONDS ||
    value > MAX_INCREMENT_SECONDS
  ) {
    return `${what} must be a whole number of seconds from ${MIN_INCREMENT_SECONDS} to ${MAX_INCREMENT_SECONDS}, got ${describe(value)}`;
  }
  return undefined;
}

/** Every reason `rate` is not a valid Rate; empty when it is. Used wherever a rate crosses a trust boundary. */
export function rateProblems(rate: unknown): string[] {
  if (typeof rate !== 'object' || rate === null) return [`rate must be an object, got ${describe(rate)}`];
  const r = rate as Record<string, unknown>;
  return [
    prefixProblem(r['prefix']),
    microsProblem(r['ratePerMinMicros'], 'ratePerMinMicros'),
    incrementProblem(r['firstIncrement'], 'firstIncrement'),
    incrementProblem(r['nextIncrement'], 'nextIncrement'),
    microsProblem(r['connectFeeMicros'], 'connectFeeMicros'),
  ].filter((p): p is string => p !== undefined);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  return typeof value;
}

// ---------------------------------------------------------------------------------------------------------
// The index: a digit trie packed into one Int32Array
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

function buildPrefixIndex(rates: readonly Rate[]): Int32Array {
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

function makeLookup(rates: readonly Rate[], index: Int32Array): (destination: string) => Rate | undefined {
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

// ---------------------------------------------------------------------------------------------------------
// Building decks

function freezeRate(rate: Rate): Rate {
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
    if (typeof prefix === 'string' && PREFIX.test(prefix)) {
      const earlier = firstSeen.get(prefix);
      if (earlier !== undefined) problems.add(i + 1, `duplicate prefix ${prefix} (first at rate ${earlier})`);
      else firstSeen.set(prefix, i + 1);
    }
  }
  if (rates.length === 0) problems.add(0, 'the deck has no rates');
  if (problems.count > 0) throw new RateDeckError(id, problems.kept, problems.count, 'rate');
  return assembleDeck(id, rates.map(freezeRate));
}

function assembleDeck(id: string, rates: Rate[]): RateDeck {
  const frozenRates = Object.freeze(rates);
  const lookup = makeLookup(frozenRates, buildPrefixIndex(frozenRates));
  return Object.freeze({ id, rates: frozenRates, lookup });
}

// ---------------------------------------------------------------------------------------------------------
// CSV

interface CsvRecord {
  /** Line on which the record starts. */
  line: number;
  fields: string[];
  /** Set when the record could not be split into fields (already reported). */
  broken?: true;
}

/**
 * Splits CSV text into records (RFC 4180 quoting: `"a,b"`, `"say ""hi"""`, line breaks inside quotes).
 * Blank lines and lines starting with `#` are skipped. A record with a quoting problem is reported and kept
 * as `broken`, with no fields.
 */
function readCsvRecords(text: string, problems: ProblemList): CsvRecord[] {
  const records: CsvRecord[] = [];
  const n = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;

  const endOfLine = (from: number): number => {
    const eol = text.indexOf('\n', from);
    return eol < 0 ? n : eol;
  };

  while (i < n) {
    let first = i;
    while (first < n && (text[first] === ' ' || text[first] === '\t' || text[first] === '\r')) first++;
    if (first === n || text[first] === '\n' || text[first] === '#') {
      i = endOfLine(first) + 1;
      line++;
      continue;
    }

    const recordLine = line;
    const fields: string[] = [];
    let broken: string | undefined;
    let j = i;
    for (;;) {
      // One field starting at j.
      while (j < n && (text[j] === ' ' || text[j] === '\t')) j++;
      if (text[j] === '"') {
        let value = '';
        let closed = false;
        j++;
        while (j < n) {
          const quote = text.indexOf('"', j);
          const piece = text.slice(j, quote < 0 ? n : quote);
          for (let nl = piece.indexOf('\n'); nl >= 0; nl = piece.indexOf('\n', nl + 1)) line++;
          value += piece;
          if (quote < 0) break;
          if (text[quote + 1] === '"') {
            value += '"';
            j = quote + 2;
            continue;
          }
          j = quote + 1;
          closed = true;
          break;
        }
        if (!closed) {
          problems.add(recordLine, 'a quoted field is never closed');
          records.push({ line: recordLine, fields: [], broken: true });
          return records;
        }
        while (j < n && (text[j] === ' ' || text[j] === '\t' || text[j] === '\r')) j++;
        if (j < n && text[j] !== ',' && text[j] !== '\n') {
          broken = 'unexpected text after a closing quote';
          break;
        }
        fields.push(value);
      } else {
        const start = j;
        while (j < n && text[j] !== ',' && text[j] !== '\n') j++;
        const value = text.slice(start, j).trim();
        if (value.includes('"')) {
          broken = 'a quote inside an unquoted field (quote the whole field and double the quotes inside it)';
          break;
        }
        fields.push(value);
      }
      if (j >= n || text[j] === '\n') break;
      j++; // past the comma
    }
    // The record ends on the line j is on; a broken record is dropped whole.
    i = endOfLine(j) + 1;
    line++;
    if (broken !== undefined) {
      problems.add(recordLine, broken);
      records.push({ line: recordLine, fields: [], broken: true });
    } else {
      records.push({ line: recordLine, fields });
    }
  }
  return records;
}

const REQUIRED_COLUMNS = ['prefix', 'rate_per_min', 'first_increment', 'next_increment'] as const;
const OPTIONAL_COLUMNS = ['connect_fee'] as const;
const IGNORED_COLUMNS = ['description', 'name'] as const;
type Column = (typeof REQUIRED_COLUMNS)[number] | (typeof OPTIONAL_COLUMNS)[number];
const KNOWN_COLUMNS: readonly string[] = [...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS, ...IGNORED_COLUMNS];

function parseMoneyField(text: string, what: string): { micros?: number; problem?: string } {
  try {
    const micros = parseUsd(text, what);
    if (micros < 0 || text.trim().startsWith('-')) return { problem: `${what} must not be negative, got ${describe(text)}` };
    return { micros };
  } catch (err) {
    if (err instanceof MoneyFormatError) return { problem: err.message };
    throw err;
  }
}

function parseIncrementField(text: string, what: string): { seconds?: number; problem?: string } {
  const seconds = INCREMENT.test(text) ? Number(text) : Number.NaN;
  if (seconds >= MIN_INCREMENT_SECONDS && seconds <= MAX_INCREMENT_SECONDS) return { seconds };
  return {
    problem: `${what} must be a whole number of seconds from ${MIN_INCREMENT_SECONDS} to ${MAX_INCREMENT_SECONDS}, got ${describe(text)}`,
  };
}

/**
 * Parses a rate deck CSV. Header columns, in any order and any case: prefix, rate_per_min, first_increment,
 * next_increment, and optionally connect_fee (an empty cell means no fee), description, name (ignored).
 * Throws RateDeckError listing every problem in the file; never returns a partial deck.
 */
export function parseRateDeckCsv(deckId: string, csvText: string): RateDeck {
  const problems = new ProblemList();
  const fail = (): never => {
    throw new RateDeckError(deckId, problems.kept, problems.count);
  };
  if (typeof csvText !== 'string') {
    problems.add(0, 'the deck must be CSV text');
    fail();
  }

  const records = readCsvRecords(csvText, problems);
  const header = records[0];
  if (header?.broken) return fail();
  if (!header) {
    if (problems.count === 0) problems.add(1, `missing the header line (${REQUIRED_COLUMNS.join(',')})`);
    return fail();
  }

  // Header: where each column is. Missing or repeated columns make the rows unreadable, so stop there.
  const position = new Map<Column, number>();
  const names = header.fields.map((f) => f.trim().toLowerCase());
  let headerUnusable = false;
  const seen = new Set<string>();
  names.forEach((name, index) => {
    if (name === '') {
      problems.add(header.line, `column ${index + 1} of the header has no name`);
      return;
    }
    if (seen.has(name)) {
      problems.add(header.line, `column ${JSON.stringify(name)} appears more than once`);
      headerUnusable = true;
      return;
    }
    seen.add(name);
    if (!KNOWN_COLUMNS.includes(name)) {
      problems.add(header.line, `unknown column ${describe(name)} (known: ${KNOWN_COLUMNS.join(', ')})`);
      return;
    }
    if ((REQUIRED_COLUMNS as readonly string[]).includes(name) || (OPTIONAL_COLUMNS as readonly string[]).includes(name)) {
      position.set(name as Column, index);
    }
  });
  for (const column of REQUIRED_COLUMNS) {
    if (!position.has(column)) {
      problems.add(header.line, `missing column ${column}`);
      headerUnusable = true;
    }
  }
  if (headerUnusable) return fail();

  const at = (fields: string[], column: Column): string => fields[position.get(column)!]!.trim();
  const rates: Rate[] = [];
  const firstLineOf = new Map<string, number>();
  for (let r = 1; r < records.length; r++) {
    const { line, fields, broken } = records[r]!;
    if (broken) continue;
    if (fields.length !== names.length) {
      problems.add(line, `expected ${names.length} fields as in the header, found ${fields.length}`);
      continue;
    }
    const before = problems.count;

    const prefix = at(fields, 'prefix');
    const badPrefix = prefixProblem(prefix);
    if (badPrefix) problems.add(line, badPrefix);
    else {
      const earlier = firstLineOf.get(prefix);
      if (earlier !== undefined) problems.add(line, `duplicate prefix ${prefix} (first on line ${earlier})`);
      else firstLineOf.set(prefix, line);
    }

    const perMin = parseMoneyField(at(fields, 'rate_per_min'), 'rate_per_min');
    if (perMin.problem) problems.add(line, perMin.problem);
    const first = parseIncrementField(at(fields, 'first_increment'), 'first_increment');
    if (first.problem) problems.add(line, first.problem);
    const next = parseIncrementField(at(fields, 'next_increment'), 'next_increment');
    if (next.problem) problems.add(line, next.problem);
    let connectFee: { micros?: number; problem?: string } = { micros: 0 };
    if (position.has('connect_fee')) {
      const text = at(fields, 'connect_fee');
      if (text !== '') connectFee = parseMoneyField(text, 'connect_fee');
    }
    if (connectFee.problem) problems.add(line, connectFee.problem);

    if (problems.count === before) {
      rates.push({
        prefix,
        ratePerMinMicros: perMin.micros!,
        firstIncrement: first.seconds!,
        nextIncrement: next.seconds!,
        connectFeeMicros: connectFee.micros!,
      });
    }
  }
  if (records.length === 1) problems.add(header.line, 'the deck has no rates');
  if (problems.count > 0) return fail();
  return assembleDeck(deckId, rates.map(freezeRate));
}

// ---------------------------------------------------------------------------------------------------------
// Storage: compact JSON, one [prefix, ratePerMinMicros, firstIncrement, nextIncrement, connectFeeMicros] per rate

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
