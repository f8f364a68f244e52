/**
 * Turning flag text into the JSON the admin API takes. Counts become JSON integers, so a count must be
 * written as plain digits; amounts stay decimal-dollar strings, judged by the API. The values themselves
 * (ranges, formats) are the API's to judge: this only refuses what cannot be sent as the right JSON type.
 */
import { UsageError } from './errors.js';
import { FIELD_FLAGS } from './vocabulary.js';

const DIGITS = /^[0-9]+$/;

/** Each given count as a JSON integer; every count that is not plain digits is reported at once. */
export function wholeNumbers<K extends string>(given: Partial<Record<K, string>>, names: readonly K[]): Partial<Record<K, number>> {
  const problems: string[] = [];
  const out: Partial<Record<K, number>> = {};
  for (const name of names) {
    const text = given[name];
    if (text === undefined) continue;
    if (DIGITS.test(text) && Number.isSafeInteger(Number(text))) out[name] = Number(text);
    else problems.push(`${FIELD_FLAGS[name] ?? name}: must be a whole number (digits only), got ${JSON.stringify(text.slice(0, 40))}`);
  }
  if (problems.length > 0) throw new UsageError(problems);
  return out;
}

/** The object without its undefined entries: only what was given is sent. */
export function given<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
}
