import { describe, expect, it } from 'vitest';
import {
  MAX_REPORTED_PROBLEMS,
  RateDeckError,
  buildRateDeck,
  deserializeRateDeck,
  parseRateDeckCsv,
  serializeRateDeck,
  type Rate,
  type RateDeckProblem,
} from './index.js';
import { mulberry32 } from '../../test/helpers/prng.js';

function problemsOf(csv: string): readonly RateDeckProblem[] {
  try {
    parseRateDeckCsv('test', csv);
  } catch (err) {
    expect(err).toBeInstanceOf(RateDeckError);
    return (err as RateDeckError).problems;
  }
  throw new Error('expected the deck to be rejected');
}

function errorOf(run: () => unknown): RateDeckError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(RateDeckError);
    return err as RateDeckError;
  }
  throw new Error('expected a RateDeckError');
}

const HEADER = 'prefix,rate_per_min,first_increment,next_increment,connect_fee';

function rate(prefix: string, ratePerMinMicros = 10_000, firstIncrement = 6, nextIncrement = 6, connectFeeMicros = 0): Rate {
  return { prefix, ratePerMinMicros, firstIncrement, nextIncrement, connectFeeMicros };
}


describe('parseRateDeckCsv: good decks', () => {
  it('reads columns in any order and case, quoted fields, comments, blank lines and CRLF', () => {
    const csv = [
      '# Acme wholesale deck, June',
      'Next_Increment,PREFIX,description,Rate_Per_Min,first_increment,connect_fee',
      '6,1,"USA, Canada",0.0045,6,',
      '',
      '  # an indented comment',
      '60,44,"UK ""fixed""",0.012345,60,0.001',
      '6,"4477", UK mobile ,0.1,30,0',
      '',
    ].join('\r\n');
    const deck = parseRateDeckCsv('acme', csv);
    expect(deck.id).toBe('acme');
    expect(deck.rates).toEqual([
      { prefix: '1', ratePerMinMicros: 4_500, firstIncrement: 6, nextIncrement: 6, connectFeeMicros: 0 },
      { prefix: '44', ratePerMinMicros: 12_345, firstIncrement: 60, nextIncrement: 60, connectFeeMicros: 1_000 },
      { prefix: '4477', ratePerMinMicros: 100_000, firstIncrement: 30, nextIncrement: 6, connectFeeMicros: 0 },
    ]);
  });

  it('treats connect_fee as optional', () => {
    const deck = parseRateDeckCsv('d', 'prefix,rate_per_min,first_increment,next_increment\n33,0.02,60,60\n');
    expect(deck.rates).toEqual([rate('33', 20_000, 60, 60, 0)]);
  });

  it('accepts the extremes: 20-digit prefix, 6 decimals, increments 1 and 3600, zero rate', () => {
    const deck = parseRateDeckCsv('d', `${HEADER}\n12345678901234567890,0.000001,1,3600,0\n9,0,3600,1,999.999999\n`);
    expect(deck.rates).toEqual([
      rate('12345678901234567890', 1, 1, 3600, 0),
      rate('9', 0, 3600, 1, 999_999_999),
    ]);
  });

  it('keeps line numbers right after a quoted field spanning lines', () => {
    const csv = `prefix,description,rate_per_min,first_increment,next_increment\n1,"two\nlines",0.01,6,6\n2,x,bad,6,6\n`;
    expect(problemsOf(csv)).toEqual([{ line: 4, message: expect.stringContaining('rate_per_min') }]);
  });

  it('returns a frozen deck', () => {
    const deck = parseRateDeckCsv('d', `${HEADER}\n1,0.01,6,6,0\n`);
    expect(Object.isFrozen(deck)).toBe(true);
    expect(Object.isFrozen(deck.rates)).toBe(true);
    expect(Object.isFrozen(deck.rates[0])).toBe(true);
  });
});

describe('parseRateDeckCsv: errors', () => {
  it('rejects an empty file', () => {
    expect(problemsOf('')).toEqual([{ line: 1, message: expect.stringContaining('missing the header') }]);
    expect(problemsOf('\n# only a comment\n')).toEqual([{ line: 1, message: expect.stringContaining('missing the header') }]);
  });

  it('rejects a deck with no rates', () => {
    expect(problemsOf(`${HEADER}\n\n# nothing yet\n`)).toEqual([{ line: 1, message: 'the deck has no rates' }]);
    expect(problemsOf(`${HEADER},zone\n`)).toEqual([
      { line: 1, message: expect.stringContaining('unknown column "zone"') },
      { line: 1, message: 'the deck has no rates' },
    ]);
  });

  it('reports a deck without a header line once, not once per column', () => {
    expect(problemsOf('1,0.01,6,6,0,,,x\n44,0.02,60,60,0.05,,,y\n')).toEqual([
      { line: 1, message: expect.stringMatching(/^missing the header line: the first line must name the columns \(prefix,rate_per_min,first_increment,next_increment\[,connect_fee\]\), got "1,0.01,6,6,0,,,x"$/) },
    ]);
  });

  it('reports missing, repeated and unnamed header columns, and stops there', () => {
    expect(problemsOf('prefix,rate_per_min,first_increment\n1,0.01,6\n1,0.01,6\n')).toEqual([
      { line: 1, message: 'missing column next_increment' },
    ]);
    expect(problemsOf('prefix,rate_per_min,first_increment,next_increment,PREFIX\n1,x,6,6,1\n')).toEqual([
      { line: 1, message: 'column "prefix" appears more than once' },
    ]);
    expect(problemsOf(`${HEADER},\n1,0.01,6,6,0,\n`)).toEqual([{ line: 1, message: 'column 6 of the header has no name' }]);
  });

  it('reports an unknown column and still checks the rows', () => {
    expect(problemsOf(`${HEADER},conect_fee\n1,0.01,6,6,0,1\n2,0.01,0,6,0,1\n`)).toEqual([
      { line: 1, message: expect.stringContaining('unknown column "conect_fee"') },
      { line: 3, message: expect.stringContaining('first_increment') },
    ]);
  });

  it('reports rows with the wrong number of fields', () => {
    expect(problemsOf(`${HEADER}\n1,0.01,6,6\n2,0.01,6,6,0,7\n`)).toEqual([
      { line: 2, message: 'expected 5 fields as in the header, found 4' },
      { line: 3, message: 'expected 5 fields as in the header, found 6' },
    ]);
  });

  it('reports bad prefixes', () => {
    const csv = [HEADER, '12a,0.01,6,6,0', ',0.01,6,6,0', '123456789012345678901,0.01,6,6,0', '+44,0.01,6,6,0'].join('\n');
    const problems = problemsOf(csv);
    expect(problems.map((p) => p.line)).toEqual([2, 3, 4, 5]);
    for (const p of problems) expect(p.message).toMatch(/^prefix must be 1-20 digits/);
  });

  it('reports bad money: too many decimals, negative, not a number, empty rate', () => {
    const csv = [
      HEADER,
      '1,0.0000001,6,6,0',
      '2,-0.01,6,6,0',
      '3,abc,6,6,0',
      '4,,6,6,0',
      '5,0.01,6,6,-0.5',
      '6,0.01,6,6,1.1234567',
    ].join('\n');
    const problems = problemsOf(csv);
    expect(problems.map((p) => p.line)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(problems[0]!.message).toMatch(/^rate_per_min must be decimal dollars with at most 6 decimals/);
    expect(problems[1]!.message).toMatch(/^rate_per_min must not be negative/);
    expect(problems[2]!.message).toMatch(/^rate_per_min must be decimal dollars/);
    expect(problems[3]!.message).toMatch(/^rate_per_min must be decimal dollars/);
    expect(problems[4]!.message).toMatch(/^connect_fee must not be negative/);
    expect(problems[5]!.message).toMatch(/^connect_fee must be decimal dollars/);
  });

  it('reports bad increments', () => {
    const csv = [HEADER, '1,0.01,0,6,0', '2,0.01,6,3601,0', '3,0.01,6.5,6,0', '4,0.01,6,,0', '5,0.01,-6,6,0'].join('\n');
    const problems = problemsOf(csv);
    expect(problems).toEqual([
      { line: 2, message: 'first_increment must be a whole number of seconds from 1 to 3600, got "0"' },
      { line: 3, message: 'next_increment must be a whole number of seconds from 1 to 3600, got "3601"' },
      { line: 4, message: 'first_increment must be a whole number of seconds from 1 to 3600, got "6.5"' },
      { line: 5, message: 'next_increment must be a whole number of seconds from 1 to 3600, got ""' },
      { line: 6, message: 'first_increment must be a whole number of seconds from 1 to 3600, got "-6"' },
    ]);
  });

  it('reports a duplicate prefix with the line of the first one', () => {
    expect(problemsOf(`${HEADER}\n44,0.01,6,6,0\n1,0.01,6,6,0\n"44",0.02,6,6,0\n`)).toEqual([
      { line: 4, message: 'duplicate prefix 44 (first on line 2)' },
    ]);
  });

  it('reports quoting problems', () => {
    expect(problemsOf(`${HEADER}\n1,0.01,6,6,0\n"2"x,0.01,6,6,0\n3,0.0"1,6,6,0\n4,0.01,6,6,0\n`)).toEqual([
      { line: 3, message: 'unexpected text after a closing quote' },
      { line: 4, message: expect.stringContaining('a quote inside an unquoted field') },
    ]);
    expect(problemsOf(`${HEADER}\n1,0.01,6,6,0\n"2,0.01,6,6,0\n3,0.01,6,6,0\n`)).toEqual([
      { line: 3, message: 'a quoted field is never closed' },
    ]);
    expect(problemsOf(`${HEADER}\n"1,0.01,6,6,0\n`)).toEqual([{ line: 2, message: 'a quoted field is never closed' }]);
    expect(problemsOf(`"prefix,${HEADER}\n1,0.01,6,6,0\n`)).toEqual([{ line: 1, message: 'a quoted field is never closed' }]);
    expect(problemsOf(`"prefix"x,${HEADER}\n1,0.01,6,6,0\n`)).toEqual([
      { line: 1, message: 'unexpected text after a closing quote' },
    ]);
  });

  it('reports every problem at once, several per line, with 1-based line numbers counting comments and blanks', () => {
    const csv = [
      HEADER, // 1
      '1,0.01,6,6,0', // 2
      '# a comment', // 3
      'x1,0.01,0,6,0', // 4: prefix and first_increment
      '', // 5
      '44,0.01,60,60,0', // 6
      '44,1.2345678,60,60,0', // 7: duplicate and rate
      '7,0.01,6,6', // 8: field count
    ].join('\n');
    const err = errorOf(() => parseRateDeckCsv('acme', csv));
    expect(err.problems).toEqual([
      { line: 4, message: 'prefix must be 1-20 digits, got "x1"' },
      { line: 4, message: 'first_increment must be a whole number of seconds from 1 to 3600, got "0"' },
      { line: 7, message: 'duplicate prefix 44 (first on line 6)' },
      { line: 7, message: expect.stringMatching(/^rate_per_min must be decimal dollars/) },
      { line: 8, message: 'expected 5 fields as in the header, found 4' },
    ]);
    expect(err.problemCount).toBe(5);
    expect(err.name).toBe('RateDeckError');
    expect(err.deckId).toBe('acme');
    expect(err.message.startsWith('line 4: prefix must be 1-20 digits, got "x1"; line 4: first_increment')).toBe(true);
    expect(err.message).toContain('(rate deck "acme": 5 problems)');
  });

  it('keeps the first 100 problems and counts the rest', () => {
    const rows = Array.from({ length: 150 }, (_, i) => `${i + 1},oops,6,6,0`);
    const err = errorOf(() => parseRateDeckCsv('big', [HEADER, ...rows].join('\n')));
    expect(err.problems).toHaveLength(MAX_REPORTED_PROBLEMS);
    expect(err.problems[0]!.line).toBe(2);
    expect(err.problems[99]!.line).toBe(101);
    expect(err.problemCount).toBe(150);
    expect(err.message).toMatch(/^line 2: rate_per_min/);
    expect(err.message).toContain('and 145 more');
  });
});

describe('RateDeck.lookup', () => {
  const deck = buildRateDeck('d', [rate('1', 1), rate('1212', 2), rate('12125', 3), rate('44', 4), rate('0', 5)]);
  const prefixFor = (destination: string): string | undefined => deck.lookup(destination)?.prefix;

  it('picks the longest matching prefix', () => {
    expect(prefixFor('12125551234')).toBe('12125');
    expect(prefixFor('12125')).toBe('12125');
    expect(prefixFor('12124551234')).toBe('1212');
    expect(prefixFor('1212')).toBe('1212');
    expect(prefixFor('121')).toBe('1');
    expect(prefixFor('19995551234')).toBe('1');
    expect(prefixFor('1')).toBe('1');
    expect(prefixFor('442071234567')).toBe('44');
    expect(prefixFor('0044')).toBe('0');
  });

  it('returns undefined when nothing matches', () => {
    expect(prefixFor('4')).toBeUndefined();
    expect(prefixFor('33123456789')).toBeUndefined();
    expect(prefixFor('')).toBeUndefined();
  });

  it('ignores one leading + and matches nothing for other non-digits', () => {
    expect(prefixFor('+12125551234')).toBe('12125');
    expect(prefixFor('+4420')).toBe('44');
    expect(prefixFor('+')).toBeUndefined();
    expect(prefixFor('++1212')).toBeUndefined();
    expect(prefixFor('1212-555-1234')).toBeUndefined();
    expect(prefixFor('12125551234;phone-context=x')).toBeUndefined();
    expect(prefixFor(' 1212')).toBeUndefined();
    expect(prefixFor('1212 ')).toBeUndefined();
    expect(prefixFor('4a')).toBeUndefined(); // stops walking at 4, still checks the rest
    expect(prefixFor('１２１２')).toBeUndefined(); // full-width digits
    expect(prefixFor('sip:1212')).toBeUndefined();
  });

  it('agrees with a brute-force longest match on random decks', () => {
    const random = mulberry32(42);
    const digits = (count: number): string =>
      Array.from({ length: count }, () => String(Math.floor(random() * 10))).join('');
    for (let round = 0; round < 20; round++) {
      const prefixes = new Set<string>();
      const size = 1 + Math.floor(random() * 300);
      while (prefixes.size < size) prefixes.add(digits(1 + Math.floor(random() * 6)));
      const rates = [...prefixes].map((p) => rate(p));
      const randomDeck = buildRateDeck('r', rates);
      for (let i = 0; i < 500; i++) {
        const destination = digits(1 + Math.floor(random() * 10));
        let expected: string | undefined;
        for (const p of prefixes) {
          if (destination.startsWith(p) && (expected === undefined || p.length > expected.length)) expected = p;
        }
        expect(randomDeck.lookup(destination)?.prefix).toBe(expected);
      }
    }
  });
});

describe('buildRateDeck and storage', () => {
  it('round-trips through serialize/deserialize with identical lookups', () => {
    const deck = parseRateDeckCsv('d', `${HEADER}\n1,0.0045,6,6,0\n44,0.012345,60,60,0.001\n4477,0.1,30,6,0\n`);
    const text = serializeRateDeck(deck);
    expect(text).toBe('[["1",4500,6,6,0],["44",12345,60,60,1000],["4477",100000,30,6,0]]');
    const back = deserializeRateDeck('d2', text);
    expect(back.id).toBe('d2');
    expect(back.rates).toEqual(deck.rates);
    for (const d of ['14155550100', '447700900123', '442079460000', '33']) {
      expect(back.lookup(d)).toEqual(deck.lookup(d));
    }
  });

  it('also reads a JSON array of rate objects', () => {
    const deck = deserializeRateDeck('d', JSON.stringify([rate('1'), rate('12', 5)]));
    expect(deck.lookup('123')?.ratePerMinMicros).toBe(5);
  });

  it('rejects invalid rates, duplicates and empty decks, naming each entry', () => {
    const err = errorOf(() =>
      buildRateDeck('d', [rate('1'), rate('1'), rate('x'), rate('2', -1), rate('3', 1, 0), rate('4', 1.5, 6, 6, 0)]),
    );
    expect(err.problems.map((p) => p.line)).toEqual([2, 3, 4, 5, 6]);
    expect(err.problems[0]!.message).toBe('duplicate prefix 1 (first at rate 1)');
    expect(err.message).toMatch(/^rate 2: duplicate prefix 1/);
    expect(errorOf(() => buildRateDeck('d', [])).problems).toEqual([{ line: 0, message: 'the deck has no rates' }]);
  });

  it('rejects stored text that is not a deck', () => {
    expect(errorOf(() => deserializeRateDeck('d', '{oops')).message).toContain('not JSON');
    expect(errorOf(() => deserializeRateDeck('d', '{"a":1}')).message).toContain('JSON array');
    expect(errorOf(() => deserializeRateDeck('d', '[["1",10,6,6]]')).problems[0]!.line).toBe(1);
    expect(errorOf(() => deserializeRateDeck('d', '[["1",10,6,6,"0"]]')).problems[0]!.message).toContain('connectFeeMicros');
  });

  it('copies rates so later changes to the input cannot reach the deck', () => {
    const input = [rate('1', 7)];
    const deck = buildRateDeck('d', input);
    input[0] = rate('1', 8);
    expect(deck.lookup('1')?.ratePerMinMicros).toBe(7);
  });
});
