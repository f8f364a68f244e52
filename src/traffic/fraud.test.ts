import { describe, expect, it } from 'vitest';
import { blockUntil, decodeBlock, encodeBlock, judgeFraud, parseFraudRules, ruleActive, ruleFor, type FraudRule } from './fraud.js';

const rules = (input: unknown): FraudRule[] => {
  const r = parseFraudRules(input);
  if (!r.ok) throw new Error(r.problems.join('; '));
  return r.rules;
};
const problems = (input: unknown) => {
  const r = parseFraudRules(input);
  return r.ok ? [] : r.problems;
};

const premium = { name: 'uk-premium', prefix: '4490', limits: { calls_per_minute: { warning: 5, critical: 10 }, repeat_dials: { critical: 3 } } };

describe('fraud rules: parsing', () => {
  it('accepts a rule with limits, hours and days; numeric text as the CLI sends it', () => {
    const [r] = rules([{ ...premium, hours: { from: 22, to: 6 }, days: ['sat', 'sun'], limits: { calls_per_day: { warning: '100', critical: 200 } } }]);
    expect(r).toEqual({ name: 'uk-premium', prefix: '4490', hours: { from: 22, to: 6 }, days: ['sat', 'sun'], limits: { calls_per_day: { warning: 100, critical: 200 } } });
  });
  it.each([
    [[{ ...premium, prefix: '+4490' }], /prefix: must be 1-16 digits/],
    [[{ ...premium, prefix: '' }], /prefix: must be 1-16 digits/],
    [[{ ...premium, prefix: '12345678901234567' }], /prefix: must be 1-16 digits/],
    [[{ ...premium, name: 'bad name!' }], /name: must be 1-64 characters/],
    [[{ ...premium, limits: {} }], /limits: must be an object with at least one/],
    [[{ ...premium, limits: { calls_per_hour: { critical: 1 } } }], /calls_per_hour: unknown limit/],
    [[{ ...premium, limits: { calls_per_minute: { critical: 0 } } }], /critical: must be a whole number from 1 to 1000000/],
    [[{ ...premium, limits: { calls_per_minute: { critical: -5 } } }], /whole number from 1/],
    [[{ ...premium, limits: { calls_per_minute: { critical: 1e12 } } }], /whole number from 1 to 1000000/],
    [[{ ...premium, limits: { calls_per_minute: { warning: 9, critical: 3 } } }], /warning \(9\) must not be above the critical \(3\)/],
    [[{ ...premium, limits: { calls_per_minute: {} } }], /give a warning or a critical level/],
    [[{ ...premium, hours: { from: 5, to: 5 } }], /hours: must be/],
    [[{ ...premium, hours: { from: 24, to: 5 } }], /hours: must be/],
    [[{ ...premium, days: ['funday'] }], /days: must be/],
    [[{ ...premium, days: [] }], /days: must be/],
    [[{ ...premium, colour: 'red' }], /colour: unknown field/],
    [[premium, premium], /the name "uk-premium" is used twice/],
    [Array.from({ length: 101 }, (_, i) => ({ ...premium, name: `r${i}` })), /at most 100 rules/],
    [['x'], /must be an object/],
  ])('refuses %#', (input, message) => {
    expect(problems(input).join('\n')).toMatch(message);
  });
});

describe('fraud rules: which rule watches a call', () => {
  const list = rules([
    { name: 'uk', prefix: '44', limits: { calls_per_minute: { critical: 100 } } },
    { name: 'uk-premium-night', prefix: '4490', hours: { from: 22, to: 6 }, limits: { calls_per_minute: { critical: 5 } } },
    { name: 'uk-premium-weekend', prefix: '4490', days: ['sat', 'sun'], limits: { calls_per_minute: { critical: 8 } } },
  ]);
  const thu = (h: number) => Date.UTC(2026, 11, 3, h, 30); // Thursday 3 December 2026
  const sat = (h: number) => Date.UTC(2026, 11, 5, h, 30);

  it('takes the longest active prefix; hours wrap midnight; days are UTC', () => {
    expect(ruleFor(list, '449012345', thu(23))?.name).toBe('uk-premium-night');
    expect(ruleFor(list, '449012345', thu(3))?.name).toBe('uk-premium-night');
    expect(ruleFor(list, '449012345', thu(12))?.name).toBe('uk');
    expect(ruleFor(list, '449012345', sat(12))?.name).toBe('uk-premium-weekend');
    expect(ruleFor(list, '331234', thu(12))).toBeUndefined();
  });
  it('an hour range is from inclusive, to exclusive', () => {
    const r = rules([{ name: 'day', prefix: '1', hours: { from: 9, to: 17 }, limits: { calls_per_day: { critical: 1 } } }])[0]!;
    expect(ruleActive(r, Date.UTC(2026, 0, 1, 9, 0))).toBe(true);
    expect(ruleActive(r, Date.UTC(2026, 0, 1, 16, 59))).toBe(true);
    expect(ruleActive(r, Date.UTC(2026, 0, 1, 17, 0))).toBe(false);
  });
});

describe('fraud rules: judging counts, and how long a critical blocks', () => {
  const [r] = rules([{ name: 'p', prefix: '4490', limits: { calls_per_minute: { warning: 5, critical: 10 }, repeat_dials: { critical: 3 }, concurrent_calls: { warning: 2 } } }]);
  it('a level is reached when the count, this call included, is at or above it', () => {
    expect(judgeFraud(r!, { callsPerMinute: 4, callsPerDay: 4, repeatDials: 2, concurrent: 1 })).toEqual([]);
    expect(judgeFraud(r!, { callsPerMinute: 5, callsPerDay: 5, repeatDials: 1, concurrent: 2 })).toEqual([
      { limit: 'calls_per_minute', level: 'warning', value: 5, threshold: 5 },
      { limit: 'concurrent_calls', level: 'warning', value: 2, threshold: 2 },
    ]);
    expect(judgeFraud(r!, { callsPerMinute: 10, callsPerDay: 10, repeatDials: 3, concurrent: 1 })).toEqual([
      { limit: 'calls_per_minute', level: 'critical', value: 10, threshold: 10 },
      { limit: 'repeat_dials', level: 'critical', value: 3, threshold: 3 },
    ]);
  });
  it('blocks until the window of the limit passes', () => {
    const at = Date.UTC(2026, 11, 4, 13, 14, 15, 500);
    expect(blockUntil('calls_per_minute', at)).toBe(Date.UTC(2026, 11, 4, 13, 15));
    expect(blockUntil('calls_per_day', at)).toBe(Date.UTC(2026, 11, 5));
    expect(blockUntil('repeat_dials', at)).toBe(Date.UTC(2026, 11, 5));
    expect(blockUntil('concurrent_calls', at)).toBe(at + 60_000);
  });
  it('stores a block as text and reads it back; garbage is no block', () => {
    const b = { prefix: '4490', rule: 'p', limit: 'calls_per_minute' as const, untilMs: 123 };
    expect(decodeBlock('4490', encodeBlock(b))).toEqual(b);
    expect(decodeBlock('4490', 'x|p|calls_per_minute')).toBeUndefined();
    expect(decodeBlock('4490', '5|p|nonsense')).toBeUndefined();
  });
});
