/**
 * Parsers for what the admin API and the CLI receive as text or JSON: ids, whole numbers, dollar
 * amounts, printable text, source addresses. Each turns loose edge input into the value callgate holds
 * and words its problem so that an engineer can fix the input without reading the code. Pure: no I/O.
 */
import { z } from 'zod';
import { ID_PATTERN } from '../config/schema.js';
import { MAX_MICROS, formatUsd, type Micros } from '../rating/money.js';
import { checkSourceAddress } from './addresses.js';

export const PAYMENT_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
const PRINTABLE = /^[^\p{C}]*$/u;
const WHOLE_NUMBER = /^[0-9]{1,15}$/;

/** Shows a rejected value in a problem text: quoted, shortened, never raw control characters. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  return Array.isArray(value) ? 'an array' : typeof value;
}

export function idProblem(id: unknown, what = 'id'): string | undefined {
  if (typeof id === 'string' && ID_PATTERN.test(id)) return undefined;
  return `${what}: must be 1-64 characters from A-Z a-z 0-9 _ . - (got ${show(id)})`;
}

/** A whole number, as a JSON number or as digits only: "1.5", "1e3", "-1", "12abc" are all refused. */
export function wholeNumber(min: number, max: number) {
  const expected = `must be a whole number from ${min} to ${max}`;
  return z.unknown().transform((value, ctx): number => {
    let n = Number.NaN;
    if (typeof value === 'number' && Number.isSafeInteger(value)) n = value;
    else if (typeof value === 'string' && WHOLE_NUMBER.test(value)) n = Number(value);
    if (!(n >= min && n <= max)) {
      ctx.addIssue({ code: 'custom', message: `${expected}, got ${show(value)}` });
      return z.NEVER;
    }
    return n;
  });
}

/** What an amount must look like, said the same way by every refusal. */
export const AMOUNT_FORMAT = 'decimal dollars as a string, with at most 6 decimals (for example "12.50")';
const AMOUNT_SHAPE = /^(-)?([0-9]+)(?:\.([0-9]+))?$/;
const EXPONENT = /^-?[0-9.]+[eE][+-]?[0-9]+$/;
const SEPARATED = /^-?[0-9]{1,3}([,_' ][0-9]{3})+(\.[0-9]+)?$/;

/**
 * Decimal dollars into micro-dollars, in the one format every edge accepts: a string of digits with at most
 * 6 decimals; no exponent, no thousands separators, no sign but a refused minus. A JSON number is refused
 * (a double cannot carry every amount, and 0.1 + 0.2 is not 0.3): the problem says which string to send.
 * Each problem names what is wrong: the size (and the maximum), the decimals, the exponent, the separators.
 */
export function usdAmount(options: { positive?: boolean } = {}) {
  return z.unknown().transform((value, ctx): Micros => {
    const refuse = (message: string) => {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    };
    if (typeof value === 'number') {
      const text = Number.isFinite(value) ? JSON.stringify(String(value)) : 'a string';
      return refuse(`must be ${AMOUNT_FORMAT}, not a JSON number: send ${text} instead of ${show(value)}`);
    }
    if (typeof value !== 'string') return refuse(`must be ${AMOUNT_FORMAT}, got ${show(value)}`);
    const text = value.trim();
    const m = AMOUNT_SHAPE.exec(text);
    if (!m) {
      if (EXPONENT.test(text)) return refuse(`must be written out without an exponent (1000, not 1e3), got ${show(value)}`);
      if (SEPARATED.test(text)) return refuse(`must be written without thousands separators (1000000, not 1,000,000), got ${show(value)}`);
      return refuse(`must be ${AMOUNT_FORMAT}, got ${show(value)}`);
    }
    const [, minus, whole, decimals = ''] = m;
    if (minus && /[1-9]/.test(`${whole}${decimals}`)) return refuse(`must not be negative, got ${show(value)}`);
    if (decimals.length > 6) return refuse(`must be decimal dollars with at most 6 decimals, got ${show(value)}`);
    const micros = BigInt(whole!) * 1_000_000n + BigInt(decimals.padEnd(6, '0'));
    if (micros > BigInt(MAX_MICROS)) return refuse(`must be at most ${formatUsd(MAX_MICROS)} USD, the most callgate holds, got ${show(value)}`);
    if (options.positive && micros === 0n) return refuse(`must be more than 0, got ${show(value)}`);
    return Number(micros);
  });
}

/** Printable text (no control or format characters), up to `max` characters. */
export function printableText(max: number) {
  return z.unknown().transform((value, ctx): string => {
    if (typeof value !== 'string') {
      ctx.addIssue({ code: 'custom', message: `must be text, got ${show(value)}` });
      return z.NEVER;
    }
    if (value.length > max) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${max} characters, got ${value.length}` });
      return z.NEVER;
    }
    if (!PRINTABLE.test(value)) {
      ctx.addIssue({ code: 'custom', message: 'must hold printable characters only (no line breaks or control characters)' });
      return z.NEVER;
    }
    return value;
  });
}

/** An optional reference: null or "" clears it. */
export function clearable(pattern: RegExp, expected: string) {
  return z.unknown().transform((value, ctx): string | null => {
    if (value === null || value === '') return null;
    if (typeof value === 'string' && pattern.test(value)) return value;
    ctx.addIssue({ code: 'custom', message: `${expected}, got ${show(value)} (null or "" clears it)` });
    return z.NEVER;
  });
}

/**
 * A list of IPv4/IPv6 addresses or CIDR blocks, each in its canonical form and listed once. Every bad
 * entry is reported under its index, so one request shows all of them.
 */
export function sourceAddressList(maxEntries: number) {
  return z.unknown().transform((value, ctx): string[] => {
    if (!Array.isArray(value)) {
      ctx.addIssue({ code: 'custom', message: `must be a list of IPv4/IPv6 addresses or CIDR blocks, got ${show(value)}` });
      return z.NEVER;
    }
    if (value.length > maxEntries) {
      ctx.addIssue({ code: 'custom', message: `must hold at most ${maxEntries} entries, got ${value.length}` });
      return z.NEVER;
    }
    const out: string[] = [];
    value.forEach((entry: unknown, index) => {
      const check = checkSourceAddress(entry);
      if (check.ok) {
        if (!out.includes(check.value)) out.push(check.value);
      } else {
        ctx.addIssue({ code: 'custom', path: [index], message: check.problem });
      }
    });
    return out;
  });
}
