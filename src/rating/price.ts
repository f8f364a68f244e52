/**
 * Prices: increments, connect fee, taxes. Every figure is an exact rational until roundHalfUp turns it into
 * micro-dollars, once. A figure is always recomputed from the whole duration, never accumulated, so rounding
 * cannot drift over a long call.
 */
import type { Rate } from './deck-model.js';
import { rateProblems } from './rate-validation.js';
import { MAX_MICROS, type Micros } from './money.js';

export interface TaxComponent {
  readonly name: string;
  /** Parts per million: 174000 = 17.4%. */
  readonly rate: number;
}

export interface TaxAmount {
  readonly name: string;
  readonly amount: Micros;
}

export interface Price {
  readonly cost: Micros;
  /** Zero for tax-exempt accounts. */
  readonly tax: Micros;
  readonly total: Micros;
  /** Per-component breakdown of `tax` (sums to it exactly); empty for exempt accounts or when there are no taxes. */
  readonly taxes: readonly TaxAmount[];
}

export interface TalkPrice extends Price {
  readonly billedSec: number;
}

export class RatingError extends Error {
  override readonly name = 'RatingError';
}

/** How far paidTalkMs looks ahead when funds would last longer (or the rate is free). */
export const DEFAULT_PAID_TALK_LIMIT_SECONDS = 24 * 60 * 60;

const SECONDS_PER_MINUTE = 60n;
const PPM = 1_000_000n;

/**
 * The one rounding in callgate's money math: numerator/denominator to the nearest integer, halves up.
 * Both are exact integers, so there is no float anywhere on the way.
 */
export function roundHalfUp(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n) throw new RatingError('roundHalfUp needs a positive denominator');
  if (numerator < 0n) throw new RatingError('roundHalfUp is only defined here for non-negative amounts');
  return (2n * numerator + denominator) / (2n * denominator);
}

function assertCount(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new RatingError(`${what} must be a non-negative safe integer, got ${String(value)}`);
  }
}

function assertRate(rate: Rate): void {
  const problems = rateProblems(rate);
  if (problems.length > 0) throw new RatingError(`invalid rate: ${problems.join('; ')}`);
}

function assertTaxes(taxes: readonly TaxComponent[]): void {
  if (!Array.isArray(taxes)) throw new RatingError('taxes must be an array');
  for (const tax of taxes) {
    if (typeof tax !== 'object' || tax === null || typeof tax.name !== 'string' || tax.name === '') {
      throw new RatingError('each tax needs a non-empty name');
    }
    assertCount(tax.rate, `tax ${tax.name} rate (ppm)`);
  }
}

function toMicros(value: bigint, what: string): Micros {
  if (value > BigInt(MAX_MICROS)) throw new RatingError(`${what} exceeds ${MAX_MICROS} micro-dollars`);
  return Number(value);
}

/** Whole seconds of talk, rounded up, then billed by increments: first, then next-sized blocks. */
export function billedSeconds(talkMs: number, rate: Rate): number {
  if (typeof talkMs !== 'number' || !Number.isSafeInteger(talkMs)) {
    throw new RatingError(`talkMs must be a safe integer, got ${String(talkMs)}`);
  }
  assertRate(rate);
  if (talkMs <= 0) return 0;
  const talkSec = ceilDiv(talkMs, 1000);
  const beyondFirst = Math.max(0, talkSec - rate.firstIncrement);
  return rate.firstIncrement + ceilDiv(beyondFirst, rate.nextIncrement) * rate.nextIncrement;
}

/** ceil(a / b) for non-negative safe integers, without trusting a float quotient. */
function ceilDiv(a: number, b: number): number {
  const remainder = a % b;
  return (a - remainder) / b + (remainder > 0 ? 1 : 0);
}

export interface PriceCallInput {
  readonly rate: Rate;
  readonly billedSec: number;
  readonly answered: boolean;
  readonly taxExempt: boolean;
  readonly taxes: readonly TaxComponent[];
}

/**
 * cost = round(ratePerMin * billedSec / 60 + connect fee if answered); tax = round(exact cost * sum of rates),
 * from the exact cost, not the rounded one; total = cost + tax.
 */
export function priceCall({ rate, billedSec, answered, taxExempt, taxes }: PriceCallInput): Price {
  assertRate(rate);
  assertCount(billedSec, 'billedSec');
  assertTaxes(taxes);

  // exactCost = costSixtieths / 60
  const costSixtieths =
    BigInt(rate.ratePerMinMicros) * BigInt(billedSec) +
    (answered ? BigInt(rate.connectFeeMicros) * SECONDS_PER_MINUTE : 0n);
  const cost = toMicros(roundHalfUp(costSixtieths, SECONDS_PER_MINUTE), 'cost');

  if (taxExempt || taxes.length === 0) return { cost, tax: 0, total: cost, taxes: [] };

  const taxDenominator = SECONDS_PER_MINUTE * PPM;
  let ppmSum = 0n;
  for (const t of taxes) ppmSum += BigInt(t.rate);
  const tax = toMicros(roundHalfUp(costSixtieths * ppmSum, taxDenominator), 'tax');
  const total = toMicros(BigInt(cost) + BigInt(tax), 'total');
  return { cost, tax, total, taxes: splitTax(costSixtieths, taxDenominator, taxes, tax) };
}

/**
 * The breakdown is informational: each component rounded on its own, the last one absorbing the difference
 * so the lines add up to the tax actually charged. With three or more components that difference could push
 * the last line below zero; then earlier components that were rounded up give a micro back instead.
 */
function splitTax(
  costSixtieths: bigint,
  denominator: bigint,
  taxes: readonly TaxComponent[],
  tax: Micros,
): TaxAmount[] {
  const exact = taxes.map((t) => costSixtieths * BigInt(t.rate)); // each over `denominator`
  const amounts = exact.map((e) => Number(roundHalfUp(e, denominator)));
  const last = amounts.length - 1;
  amounts[last] = tax - amounts.slice(0, last).reduce((a, b) => a + b, 0);
  for (let i = last - 1; amounts[last]! < 0 && i >= 0; i--) {
    const roundedUp = BigInt(amounts[i]!) * denominator > exact[i]!;
    if (roundedUp) {
      amounts[i] = amounts[i]! - 1;
      amounts[last] = amounts[last]! + 1;
    }
  }
  return taxes.map((t, i) => ({ name: t.name, amount: amounts[i]! }));
}

export interface PriceTalkInput {
  readonly rate: Rate;
  /** Talk time from answer to now or to the end; 0 when the call was never answered. */
  readonly talkMs: number;
  readonly taxExempt: boolean;
  readonly taxes: readonly TaxComponent[];
}

/** The price of `talkMs` of talk: billed seconds by increments, connect fee once answered (talkMs > 0). */
export function priceTalk({ rate, talkMs, taxExempt, taxes }: PriceTalkInput): TalkPrice {
  assertCount(talkMs, 'talkMs');
  const billedSec = billedSeconds(talkMs, rate);
  return { ...priceCall({ rate, billedSec, answered: talkMs > 0, taxExempt, taxes }), billedSec };
}

export interface ReservationInput extends PriceTalkInput {
  /** The next unit of talk to hold money for, in seconds. */
  readonly unitSeconds: number;
}

/**
 * Money to hold for the next `unitSeconds` of talk after `talkMs`: the difference of the two totals, so the
 * first reservation (talkMs = 0) includes the connect fee and the first increment. At least one micro-dollar
 * whenever the rate per minute is not zero, so a paying call is never held for free.
 */
export function reservationFor({ rate, talkMs, unitSeconds, taxExempt, taxes }: ReservationInput): Micros {
  assertCount(talkMs, 'talkMs');
  assertCount(unitSeconds, 'unitSeconds');
  if (unitSeconds < 1) throw new RatingError('unitSeconds must be at least 1');
  const later = talkMs + unitSeconds * 1000;
  assertCount(later, 'talkMs + unitSeconds * 1000');
  const difference =
    priceTalk({ rate, talkMs: later, taxExempt, taxes }).total - priceTalk({ rate, talkMs, taxExempt, taxes }).total;
  return rate.ratePerMinMicros > 0 ? Math.max(1, difference) : difference;
}

export interface PaidTalkInput {
  readonly rate: Rate;
  /** Total (cost + tax) already committed at the last tick. */
  readonly committedTotal: Micros;
  /** Reservation currently held for the call. */
  readonly held: Micros;
  readonly taxExempt: boolean;
  readonly taxes: readonly TaxComponent[];
  /** Look no further than this; the answer is capped to it. Default 24 h. */
  readonly limitSeconds?: number;
}

/**
 * The longest talk, in whole seconds (returned in ms), whose total price fits in committedTotal + held.
 * Capped at limitSeconds (also the answer when the rate is free). 0 when not even the first increment fits.
 */
export function paidTalkMs({
  rate,
  committedTotal,
  held,
  taxExempt,
  taxes,
  limitSeconds = DEFAULT_PAID_TALK_LIMIT_SECONDS,
}: PaidTalkInput): number {
  assertRate(rate);
  assertTaxes(taxes);
  assertCount(committedTotal, 'committedTotal');
  assertCount(held, 'held');
  assertCount(limitSeconds, 'limitSeconds');
  const budget = committedTotal + held;
  const totalAt = (talkSec: number): number => priceTalk({ rate, talkMs: talkSec * 1000, taxExempt, taxes }).total;

  // The price is a step function of talk: flat over each increment. So only the last second of each
  // increment (first + k * next) is a candidate, and the total never decreases with k.
  if (limitSeconds === 0 || totalAt(1) > budget) return 0;
  const { firstIncrement: first, nextIncrement: next } = rate;
  if (limitSeconds <= first) return limitSeconds * 1000;
  const lastK = ceilDiv(limitSeconds - first, next); // the increment that holds limitSeconds
  if (totalAt(limitSeconds) <= budget) return limitSeconds * 1000;
  let fits = 0; // first + fits * next is affordable
  let fails = lastK; // first + fails * next (or limitSeconds within it) is not
  while (fails - fits > 1) {
    const mid = fits + Math.floor((fails - fits) / 2);
    if (totalAt(first + mid * next) <= budget) fits = mid;
    else fails = mid;
  }
  return (first + fits * next) * 1000;
}
