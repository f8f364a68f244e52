import { describe, expect, it } from 'vitest';
import type { Rate } from './deck-model.js';
import {
  DEFAULT_PAID_TALK_LIMIT_SECONDS,
  RatingError,
  billedSeconds,
  paidTalkMs,
  priceCall,
  priceTalk,
  reservationFor,
  roundHalfUp,
  type TaxComponent,
} from './price.js';
import { mulberry32 } from '../../test/helpers/prng.js';

function rate(ratePerMinMicros: number, firstIncrement = 6, nextIncrement = 6, connectFeeMicros = 0): Rate {
  return { prefix: '1', ratePerMinMicros, firstIncrement, nextIncrement, connectFeeMicros };
}

const FUSF_AND_STATE: TaxComponent[] = [
  { name: 'FUSF', rate: 174_000 },
  { name: 'state', rate: 50_000 },
];


describe('roundHalfUp', () => {
  it('rounds halves up and everything else to the nearest integer', () => {
    expect(roundHalfUp(1n, 2n)).toBe(1n);
    expect(roundHalfUp(3n, 2n)).toBe(2n);
    expect(roundHalfUp(1n, 3n)).toBe(0n);
    expect(roundHalfUp(2n, 3n)).toBe(1n);
    expect(roundHalfUp(49n, 100n)).toBe(0n);
    expect(roundHalfUp(0n, 7n)).toBe(0n);
    expect(roundHalfUp(17_283n, 2n)).toBe(8_642n);
    expect(roundHalfUp(10n ** 30n + 1n, 2n)).toBe(5n * 10n ** 29n + 1n);
  });

  it('refuses negative amounts and non-positive denominators', () => {
    expect(() => roundHalfUp(-1n, 2n)).toThrow(RatingError);
    expect(() => roundHalfUp(1n, 0n)).toThrow(RatingError);
  });
});

describe('billedSeconds', () => {
  it.each([
    // [first, next, talkMs, billed]
    [6, 6, 0, 0],
    [6, 6, -5_000, 0],
    [6, 6, 1, 6],
    [6, 6, 6_000, 6],
    [6, 6, 6_001, 12],
    [6, 6, 37_000, 42],
    [60, 60, 1, 60],
    [60, 60, 60_000, 60],
    [60, 60, 61_000, 120],
    [60, 60, 60_001, 120],
    [30, 6, 5_000, 30],
    [30, 6, 30_000, 30],
    [30, 6, 31_000, 36],
    [30, 6, 36_000, 36],
    [30, 6, 36_001, 42],
    [1, 1, 1, 1],
    [1, 1, 1_000, 1],
    [1, 1, 1_001, 2],
    [1, 1, 59_999, 60],
    [60, 1, 61_000, 61],
  ])('%i/%i with %i ms -> %i s', (first, next, talkMs, billed) => {
    expect(billedSeconds(talkMs, rate(1, first, next))).toBe(billed);
  });

  it('stays exact for very long durations', () => {
    const talkMs = 2 ** 52 + 1; // ceil(talkMs / 1000) where a float quotient would lose the remainder
    expect(billedSeconds(talkMs, rate(1, 1, 1))).toBe(Math.floor(talkMs / 1000) + 1);
  });

  it('refuses non-integer talk time and invalid rates', () => {
    expect(() => billedSeconds(1.5, rate(1))).toThrow(RatingError);
    expect(() => billedSeconds(Number.NaN, rate(1))).toThrow(RatingError);
    expect(() => billedSeconds(1000, rate(1, 0, 6))).toThrow(RatingError);
  });
});

describe('priceCall', () => {
  it('prices the worked example: $0.012345/min, 37 s on 6/6, FUSF 17.4% + state 5%', () => {
    const r = rate(12_345, 6, 6);
    const billedSec = billedSeconds(37_000, r);
    expect(billedSec).toBe(42);
    // exact cost 12345 * 42 / 60 = 8641.5 -> 8642; tax 8641.5 * 0.224 = 1935.696 -> 1936
    // FUSF 8641.5 * 0.174 = 1503.621 -> 1504; state takes the rest, 432 (exact 432.075)
    expect(priceCall({ rate: r, billedSec, answered: true, taxExempt: false, taxes: FUSF_AND_STATE })).toEqual({
      cost: 8_642,
      tax: 1_936,
      total: 10_578,
      taxes: [
        { name: 'FUSF', amount: 1_504 },
        { name: 'state', amount: 432 },
      ],
    });
  });

  it('charges no tax to exempt accounts', () => {
    expect(priceCall({ rate: rate(12_345), billedSec: 42, answered: true, taxExempt: true, taxes: FUSF_AND_STATE })).toEqual({
      cost: 8_642,
      tax: 0,
      total: 8_642,
      taxes: [],
    });
    expect(priceCall({ rate: rate(12_345), billedSec: 42, answered: true, taxExempt: false, taxes: [] })).toEqual({
      cost: 8_642,
      tax: 0,
      total: 8_642,
      taxes: [],
    });
  });

  it('adds the connect fee only when answered', () => {
    const r = rate(10_000, 60, 60, 5_000); // $0.01/min + $0.005 connect
    expect(priceCall({ rate: r, billedSec: 60, answered: true, taxExempt: true, taxes: [] }).cost).toBe(15_000);
    expect(priceCall({ rate: r, billedSec: 120, answered: true, taxExempt: true, taxes: [] }).cost).toBe(25_000);
    expect(priceCall({ rate: r, billedSec: 60, answered: false, taxExempt: true, taxes: [] }).cost).toBe(10_000);
    expect(priceCall({ rate: r, billedSec: 0, answered: false, taxExempt: false, taxes: FUSF_AND_STATE })).toEqual({
      cost: 0,
      tax: 0,
      total: 0,
      taxes: [
        { name: 'FUSF', amount: 0 },
        { name: 'state', amount: 0 },
      ],
    });
  });

  it('taxes the connect fee too, from the exact sum', () => {
    // exact cost = 7 * 6 / 60 + 3 = 3.7 -> 4; tax 3.7 * 0.5 = 1.85 -> 2
    const price = priceCall({ rate: rate(7, 6, 6, 3), billedSec: 6, answered: true, taxExempt: false, taxes: [{ name: 't', rate: 500_000 }] });
    expect(price).toEqual({ cost: 4, tax: 2, total: 6, taxes: [{ name: 't', amount: 2 }] });
  });

  it('rounds cost half up at the boundary', () => {
    const cost = (ratePerMin: number): number =>
      priceCall({ rate: rate(ratePerMin, 1, 1), billedSec: 1, answered: true, taxExempt: true, taxes: [] }).cost;
    expect(cost(29)).toBe(0); // 0.48333
    expect(cost(30)).toBe(1); // 0.5
    expect(cost(89)).toBe(1); // 1.48333
    expect(cost(90)).toBe(2); // 1.5
    expect(cost(91)).toBe(2); // 1.51666
    expect(cost(149)).toBe(2); // 2.48333
  });

  it('rounds tax half up, from the exact cost rather than the rounded cost', () => {
    const price = (ratePerMin: number, ppm: number) =>
      priceCall({ rate: rate(ratePerMin, 1, 1), billedSec: 1, answered: true, taxExempt: false, taxes: [{ name: 't', rate: ppm }] });
    // exact cost 1000 (60000/min for 1 s): 0.5 tax rounds up, 0.499 down
    expect(price(60_000, 500).tax).toBe(1);
    expect(price(60_000, 499).tax).toBe(0);
    // exact cost 1.5 rounds to 2; 30% of the exact 1.5 is 0.45 -> 0 (30% of 2 would have been 0.6 -> 1)
    expect(price(90, 300_000)).toEqual({ cost: 2, tax: 0, total: 2, taxes: [{ name: 't', amount: 0 }] });
    // exact cost 2.5 rounds to 3; 10% of the exact 2.5 is 0.25 -> 0; 20% is 0.5 -> 1
    expect(price(150, 100_000).tax).toBe(0);
    expect(price(150, 200_000).tax).toBe(1);
  });

  it('makes the breakdown add up to the tax, never below zero', () => {
    // exact cost 1; components 0.5, 0.5, 0 each round up alone, but the tax is round(1.0) = 1
    const price = priceCall({
      rate: rate(60, 1, 1),
      billedSec: 1,
      answered: true,
      taxExempt: false,
      taxes: [
        { name: 'a', rate: 500_000 },
        { name: 'b', rate: 500_000 },
        { name: 'c', rate: 0 },
      ],
    });
    expect(price.tax).toBe(1);
    expect(price.taxes).toEqual([
      { name: 'a', amount: 1 },
      { name: 'b', amount: 0 },
      { name: 'c', amount: 0 },
    ]);
  });

  it('rounds each breakdown line on its own, the last one absorbing the difference', () => {
    const random = mulberry32(7);
    for (let i = 0; i < 2_000; i++) {
      const r = rate(Math.floor(random() * 300_000), 1, 1, Math.floor(random() * 3) * 7);
      const taxes = Array.from({ length: 1 + Math.floor(random() * 4) }, (_, k) => ({
        name: `t${k}`,
        rate: Math.floor(random() * 200_000),
      }));
      const billedSec = Math.floor(random() * 5_000);
      const price = priceCall({ rate: r, billedSec, answered: true, taxExempt: false, taxes });
      expect(price.taxes.reduce((sum, t) => sum + t.amount, 0)).toBe(price.tax);
      expect(price.total).toBe(price.cost + price.tax);
      const exactCost = (r.ratePerMinMicros * billedSec) / 60 + r.connectFeeMicros;
      const last = taxes.length - 1;
      for (const [k, t] of price.taxes.entries()) {
        expect(t.amount).toBeGreaterThanOrEqual(0);
        const off = Math.abs(t.amount - (exactCost * taxes[k]!.rate) / 1e6);
        // each line is off by less than a micro (half, unless it gave one back); the last by less than half a micro per line
        expect(off).toBeLessThan(k < last ? 1 : taxes.length / 2 + 1e-6);
      }
    }
  });

  it('refuses negative, fractional or unsafe inputs', () => {
    const ok = { rate: rate(100), billedSec: 6, answered: true, taxExempt: false, taxes: FUSF_AND_STATE };
    expect(() => priceCall({ ...ok, billedSec: -1 })).toThrow(RatingError);
    expect(() => priceCall({ ...ok, billedSec: 1.5 })).toThrow(RatingError);
    expect(() => priceCall({ ...ok, billedSec: Number.MAX_SAFE_INTEGER + 1 })).toThrow(RatingError);
    expect(() => priceCall({ ...ok, rate: rate(-1) })).toThrow(RatingError);
    expect(() => priceCall({ ...ok, rate: rate(100, 6, 6, -1) })).toThrow(RatingError);
    expect(() => priceCall({ ...ok, taxes: [{ name: 'x', rate: -1 }] })).toThrow(RatingError);
    expect(() => priceCall({ ...ok, taxes: [{ name: 'x', rate: 0.5 }] })).toThrow(RatingError);
    expect(() => priceCall({ ...ok, taxes: [{ name: '', rate: 1 }] })).toThrow(RatingError);
  });

  it('refuses a price beyond the largest amount', () => {
    expect(() =>
      priceCall({ rate: rate(1e15, 1, 1), billedSec: 3_600, answered: true, taxExempt: true, taxes: [] }),
    ).toThrow(/exceeds/);
  });
});

describe('priceTalk', () => {
  it('is zero for an unanswered call, even with a connect fee', () => {
    expect(priceTalk({ rate: rate(10_000, 6, 6, 5_000), talkMs: 0, taxExempt: false, taxes: FUSF_AND_STATE })).toMatchObject({
      billedSec: 0,
      cost: 0,
      tax: 0,
      total: 0,
    });
  });

  it('bills the first increment and the connect fee from the first millisecond', () => {
    // 6 s of $0.01/min = 1000, + 5000 connect
    expect(priceTalk({ rate: rate(10_000, 6, 6, 5_000), talkMs: 1, taxExempt: true, taxes: [] })).toEqual({
      billedSec: 6,
      cost: 6_000,
      tax: 0,
      total: 6_000,
      taxes: [],
    });
  });

  it('matches the worked example end to end', () => {
    expect(priceTalk({ rate: rate(12_345), talkMs: 36_001, taxExempt: false, taxes: FUSF_AND_STATE })).toMatchObject({
      billedSec: 42,
      cost: 8_642,
      tax: 1_936,
      total: 10_578,
    });
  });

  it('refuses negative talk time', () => {
    expect(() => priceTalk({ rate: rate(1), talkMs: -1, taxExempt: true, taxes: [] })).toThrow(RatingError);
  });
});

describe('reservationFor', () => {
  const taxFree = { taxExempt: true, taxes: [] as TaxComponent[] };

  it('holds the connect fee and the first unit before answer', () => {
    const r = rate(10_000, 6, 6, 5_000);
    expect(reservationFor({ rate: r, talkMs: 0, unitSeconds: 60, ...taxFree })).toBe(15_000);
    expect(reservationFor({ rate: r, talkMs: 60_000, unitSeconds: 60, ...taxFree })).toBe(10_000);
  });

  it('holds whole increments covering the unit', () => {
    // 60/60 at $0.01/min: the first 30 s unit already costs a whole minute; the next 30 s costs nothing more
    const r = rate(10_000, 60, 60);
    expect(reservationFor({ rate: r, talkMs: 0, unitSeconds: 30, ...taxFree })).toBe(10_000);
    expect(reservationFor({ rate: r, talkMs: 30_000, unitSeconds: 30, ...taxFree })).toBe(1); // at least a micro
    expect(reservationFor({ rate: r, talkMs: 45_000, unitSeconds: 30, ...taxFree })).toBe(10_000);
  });

  it('includes tax for non-exempt accounts', () => {
    // 60 s at $0.012345/min: 12345; tax 22.4% = 2765.28 -> 2765
    expect(reservationFor({ rate: rate(12_345), talkMs: 0, unitSeconds: 60, taxExempt: false, taxes: FUSF_AND_STATE })).toBe(
      15_110,
    );
  });

  it('is at least one micro when the rate is not zero, and zero for a free rate', () => {
    expect(reservationFor({ rate: rate(1, 6, 6), talkMs: 6_000, unitSeconds: 6, ...taxFree })).toBe(1);
    expect(reservationFor({ rate: rate(0), talkMs: 6_000, unitSeconds: 60, ...taxFree })).toBe(0);
    expect(reservationFor({ rate: rate(0, 6, 6, 2_000), talkMs: 0, unitSeconds: 60, ...taxFree })).toBe(2_000);
  });

  it('refuses a zero unit', () => {
    expect(() => reservationFor({ rate: rate(1), talkMs: 0, unitSeconds: 0, ...taxFree })).toThrow(RatingError);
  });
});

describe('paidTalkMs', () => {
  const taxFree = { taxExempt: true, taxes: [] as TaxComponent[] };

  it("holds the README's worked example: 6/6 at $0.60/min, $0.10 buys 6 s and leaves $0.04 the next increment cannot use", () => {
    const r = rate(600_000, 6, 6);
    expect(paidTalkMs({ rate: r, committedTotal: 0, held: 100_000, ...taxFree })).toBe(6_000);
    expect(priceTalk({ rate: r, talkMs: 6_000, ...taxFree }).total).toBe(60_000);
    expect(priceTalk({ rate: r, talkMs: 6_001, ...taxFree }).total).toBe(120_000); // a started increment is billed whole
    // mid-call: 60 s committed ($0.60), and $0.10 is all the next reservation could hold
    expect(paidTalkMs({ rate: r, committedTotal: 600_000, held: 100_000, ...taxFree })).toBe(66_000);
    expect(600_000 + 100_000 - priceTalk({ rate: r, talkMs: 66_000, ...taxFree }).total).toBe(40_000);
    // and a call starts only when the first reservation (billing.reservationSeconds, 60 by default) is covered
    expect(reservationFor({ rate: r, talkMs: 0, unitSeconds: 60, ...taxFree })).toBe(600_000);
  });

  it('finds the last paid second by increments', () => {
    const perSecond = 60_000; // 1000 micros a second
    expect(paidTalkMs({ rate: rate(perSecond, 1, 1), committedTotal: 10_000, held: 500, ...taxFree })).toBe(10_000);
    expect(paidTalkMs({ rate: rate(perSecond, 6, 6), committedTotal: 10_000, held: 500, ...taxFree })).toBe(6_000);
    expect(paidTalkMs({ rate: rate(perSecond, 6, 6), committedTotal: 12_000, held: 0, ...taxFree })).toBe(12_000);
    expect(paidTalkMs({ rate: rate(perSecond, 60, 60), committedTotal: 0, held: 59_999, ...taxFree })).toBe(0);
    expect(paidTalkMs({ rate: rate(perSecond, 60, 60), committedTotal: 0, held: 60_000, ...taxFree })).toBe(60_000);
    expect(paidTalkMs({ rate: rate(perSecond, 30, 6), committedTotal: 30_000, held: 11_999, ...taxFree })).toBe(36_000);
  });

  it('counts the connect fee and taxes', () => {
    // $0.01/min 60/60 + $0.005 connect, 22.4% tax: the first minute costs 15000 + 3360 = 18360
    const r = rate(10_000, 60, 60, 5_000);
    const taxed = { taxExempt: false, taxes: FUSF_AND_STATE };
    expect(paidTalkMs({ rate: r, committedTotal: 0, held: 18_359, ...taxed })).toBe(0);
    expect(paidTalkMs({ rate: r, committedTotal: 0, held: 18_360, ...taxed })).toBe(60_000);
    expect(paidTalkMs({ rate: r, committedTotal: 18_360, held: 12_240, ...taxed })).toBe(120_000);
  });

  it('stops at the limit', () => {
    expect(paidTalkMs({ rate: rate(0), committedTotal: 0, held: 0, ...taxFree })).toBe(DEFAULT_PAID_TALK_LIMIT_SECONDS * 1000);
    expect(paidTalkMs({ rate: rate(60_000, 1, 1), committedTotal: 1e12, held: 0, ...taxFree, limitSeconds: 90 })).toBe(90_000);
    expect(paidTalkMs({ rate: rate(60_000, 60, 60), committedTotal: 60_000, held: 0, ...taxFree, limitSeconds: 45 })).toBe(45_000);
    expect(paidTalkMs({ rate: rate(60_000, 60, 60), committedTotal: 60_000, held: 0, ...taxFree, limitSeconds: 0 })).toBe(0);
  });

  it('agrees with priceTalk on random rates, taxes and budgets', () => {
    const random = mulberry32(20_240_601);
    const increments = [[6, 6], [60, 60], [30, 6], [1, 1], [60, 1]] as const;
    const limitSeconds = 4 * 3600;
    for (let i = 0; i < 1_500; i++) {
      const pick = random() < 0.8 ? increments[Math.floor(random() * increments.length)]! : null;
      const first = pick ? pick[0] : 1 + Math.floor(random() * 120);
      const next = pick ? pick[1] : 1 + Math.floor(random() * 120);
      const r = rate(Math.floor(random() * 500_000), first, next, random() < 0.3 ? Math.floor(random() * 20_000) : 0);
      const taxExempt = random() < 0.3;
      const taxes = random() < 0.5 ? FUSF_AND_STATE : [{ name: 'x', rate: Math.floor(random() * 300_000) }];
      const committedTotal = Math.floor(random() * 2_000_000);
      const held = Math.floor(random() * 200_000);
      const budget = committedTotal + held;
      const args = { rate: r, taxExempt, taxes };

      const paid = paidTalkMs({ ...args, committedTotal, held, limitSeconds });
      expect(paid % 1000).toBe(0);
      expect(paid).toBeLessThanOrEqual(limitSeconds * 1000);
      expect(priceTalk({ ...args, talkMs: paid }).total).toBeLessThanOrEqual(budget);
      if (paid < limitSeconds * 1000) {
        expect(priceTalk({ ...args, talkMs: paid + 1000 }).total).toBeGreaterThan(budget);
      }

      // What a tick commits plus what it reserves always pays for the next unit.
      const talkMs = Math.floor(random() * 3_600) * 1000;
      const unitSeconds = 1 + Math.floor(random() * 120);
      const committed = priceTalk({ ...args, talkMs }).total;
      const reserved = reservationFor({ ...args, talkMs, unitSeconds });
      expect(paidTalkMs({ ...args, committedTotal: committed, held: reserved, limitSeconds })).toBeGreaterThanOrEqual(
        Math.min(talkMs + unitSeconds * 1000, limitSeconds * 1000),
      );
    }
  });

  it('refuses negative money', () => {
    expect(() => paidTalkMs({ rate: rate(1), committedTotal: -1, held: 0, ...taxFree })).toThrow(RatingError);
    expect(() => paidTalkMs({ rate: rate(1), committedTotal: 0, held: -1, ...taxFree })).toThrow(RatingError);
  });
});
