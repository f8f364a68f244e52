/** Rate decks as the admin uploads them: CSV with a header line. */
import { readCsvRecords } from './csv-records.js';
import { assembleDeck, freezeRate } from './deck.js';
import { MAX_INCREMENT_SECONDS, MIN_INCREMENT_SECONDS, type Rate, type RateDeck } from './deck-model.js';
import { ProblemList, RateDeckError } from './deck-problems.js';
import { MoneyFormatError, parseUsd } from './money.js';
import { describeValue, prefixProblem } from './rate-validation.js';

const INCREMENT = /^\d{1,4}$/;

const REQUIRED_COLUMNS = ['prefix', 'rate_per_min', 'first_increment', 'next_increment'] as const;
const OPTIONAL_COLUMNS = ['connect_fee'] as const;
const IGNORED_COLUMNS = ['description', 'name'] as const;
type Column = (typeof REQUIRED_COLUMNS)[number] | (typeof OPTIONAL_COLUMNS)[number];
const KNOWN_COLUMNS: readonly string[] = [...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS, ...IGNORED_COLUMNS];

function parseMoneyField(text: string, what: string): { micros?: number; problem?: string } {
  try {
    const micros = parseUsd(text, what);
    if (micros < 0 || text.trim().startsWith('-')) return { problem: `${what} must not be negative, got ${describeValue(text)}` };
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
    problem: `${what} must be a whole number of seconds from ${MIN_INCREMENT_SECONDS} to ${MAX_INCREMENT_SECONDS}, got ${describeValue(text)}`,
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
  // a first line that names no known column is not a bad header but a missing one (a rate line, most
  // likely): one problem says so, instead of one per column
  if (!names.some((name) => KNOWN_COLUMNS.includes(name))) {
    problems.add(
      header.line,
      `missing the header line: the first line must name the columns (${REQUIRED_COLUMNS.join(',')}[,connect_fee]), got ${describeValue(header.fields.join(',').slice(0, 60))}`,
    );
    return fail();
  }
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
      problems.add(header.line, `unknown column ${describeValue(name)} (known: ${KNOWN_COLUMNS.join(', ')})`);
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
