/**
 * Money is an integer number of micro-dollars (1 USD = 1_000_000) everywhere inside callgate.
 * Decimal dollars exist only at the edges (CLI arguments, CSV files, API text); these functions are the
 * only way across that edge. Nothing here ever goes through a float.
 */
export type Micros = number;

export const MICROS_PER_USD = 1_000_000;

/** Largest amount we accept anywhere: keeps every sum exact in a double and in Lua. */
export const MAX_MICROS = 1e15; // one billion dollars

const DECIMAL_USD = /^(-)?(\d{1,9})(?:\.(\d{1,6}))?$/;

export class MoneyFormatError extends Error {
  override readonly name = 'MoneyFormatError';
}

/** Parses decimal dollars ("12", "-0.5", "3.141592") into micro-dollars. At most 6 decimals. */
export function parseUsd(text: string, what = 'amount'): Micros {
  if (typeof text !== 'string') throw new MoneyFormatError(`${what} must be a decimal string of dollars`);
  const m = DECIMAL_USD.exec(text.trim());
  if (!m) {
    throw new MoneyFormatError(
      `${what} must be decimal dollars with at most 6 decimals (for example 12.50), got ${JSON.stringify(text.slice(0, 40))}`,
    );
  }
  const whole = Number(m[2]);
  const frac = Number((m[3] ?? '').padEnd(6, '0'));
  const micros = whole * MICROS_PER_USD + frac;
  return m[1] && micros !== 0 ? -micros : micros;
}

/**
 * Formats micro-dollars as decimal dollars with exactly 6 decimals: 1234567 -> "1.234567". Any exact
 * integer is accepted: MAX_MICROS bounds what is stored, while sums derived from stored amounts (a
 * postpaid account's available credit, say) may go past it and must still print.
 */
export function formatUsd(micros: Micros): string {
  if (!Number.isSafeInteger(micros)) throw new MoneyFormatError('amount must be an exact integer number of micro-dollars');
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / MICROS_PER_USD);
  const frac = String(abs % MICROS_PER_USD).padStart(6, '0');
  return `${sign}${whole}.${frac}`;
}

export function assertMicros(value: number, what = 'amount'): asserts value is Micros {
  if (!Number.isSafeInteger(value) || Math.abs(value) > MAX_MICROS) {
    throw new MoneyFormatError(`${what} must be an integer number of micro-dollars within +/-${MAX_MICROS}`);
  }
}

/**
 * A rate as parts per million (ppm), for tax rates: "0.174" -> 174000. Decimal text or a JSON number
 * with at most 6 decimals; numbers are re-read from their shortest decimal text, never multiplied.
 */
export function parsePpm(value: string | number, what = 'rate'): number {
  const text = typeof value === 'number' ? String(value) : value;
  const m = /^(\d{1,3})(?:\.(\d{1,6}))?$/.exec(text.trim());
  if (!m) throw new MoneyFormatError(`${what} must be a non-negative decimal with at most 6 decimals, got ${JSON.stringify(text)}`);
  return Number(m[1]) * 1_000_000 + Number((m[2] ?? '').padEnd(6, '0'));
}
