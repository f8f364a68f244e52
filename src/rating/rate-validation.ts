/** What makes a rate valid, shared by CSV parsing and rebuilding from storage. */
import { MAX_INCREMENT_SECONDS, MAX_PREFIX_DIGITS, MIN_INCREMENT_SECONDS } from './deck-model.js';
import { MAX_MICROS } from './money.js';

const PREFIX = /^\d{1,20}$/;

export function isValidPrefix(prefix: unknown): prefix is string {
  return typeof prefix === 'string' && PREFIX.test(prefix);
}

export function prefixProblem(prefix: unknown): string | undefined {
  if (!isValidPrefix(prefix)) {
    return `prefix must be 1-${MAX_PREFIX_DIGITS} digits, got ${describeValue(prefix)}`;
  }
  return undefined;
}

function microsProblem(value: unknown, what: string): string | undefined {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_MICROS) {
    return `${what} must be a non-negative integer number of micro-dollars up to ${MAX_MICROS}, got ${describeValue(value)}`;
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
    return `${what} must be a whole number of seconds from ${MIN_INCREMENT_SECONDS} to ${MAX_INCREMENT_SECONDS}, got ${describeValue(value)}`;
  }
  return undefined;
}

/** Every reason `rate` is not a valid Rate; empty when it is. Used wherever a rate crosses a trust boundary. */
export function rateProblems(rate: unknown): string[] {
  if (typeof rate !== 'object' || rate === null) return [`rate must be an object, got ${describeValue(rate)}`];
  const r = rate as Record<string, unknown>;
  return [
    prefixProblem(r['prefix']),
    microsProblem(r['ratePerMinMicros'], 'ratePerMinMicros'),
    incrementProblem(r['firstIncrement'], 'firstIncrement'),
    incrementProblem(r['nextIncrement'], 'nextIncrement'),
    microsProblem(r['connectFeeMicros'], 'connectFeeMicros'),
  ].filter((p): p is string => p !== undefined);
}

/** A short, safe rendering of a bad value for a problem message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  return typeof value;
}
