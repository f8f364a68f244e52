/**
 * The customer's daily CDR file: one RFC 4180 CSV record per CDR, as the account downloads it. Pure.
 *
 * The columns differ from the switch files' (src/cdr/builder.ts CSV_COLUMNS): they are what a customer
 * reconciles an invoice with (no source IP, no SIP Call-ID), with the billing increments and the currency.
 * Appending a column at the end is the only change that keeps customers' importers working.
 */
import { csvText, isoTime, type Cdr } from '../cdr/builder.js';
import { formatUsd, type Micros } from '../rating/money.js';

export const CUSTOMER_CSV_COLUMNS = [
  'call_id',
  'account',
  'switch',
  'start',
  'answer',
  'end',
  'from',
  'to',
  'prefix',
  'sip_code',
  'disposition',
  'reason',
  'duration',
  'billsec',
  'billed_seconds',
  'increments',
  'rate_per_minute',
  'connect_fee',
  'cost',
  'tax',
  'total',
  'currency',
] as const;
export type CustomerCsvColumn = (typeof CUSTOMER_CSV_COLUMNS)[number];

export const CUSTOMER_CSV_HEADER = CUSTOMER_CSV_COLUMNS.join(',');
export const CUSTOMER_CSV_LINE_END = '\r\n';
/** Every amount is in US dollars, as the rate decks are. */
export const CURRENCY = 'USD';

const time = (ms: number | null) => (ms === null ? '' : isoTime(ms));
const usd = (micros: Micros | null) => (micros === null ? '' : formatUsd(micros));

/** One record, without its line end. Durations in whole seconds (the call's from INVITE to end, rounded up). */
export function toCustomerCsvRow(cdr: Cdr): string {
  const v: Record<CustomerCsvColumn, string> = {
    call_id: csvText(cdr.callId),
    account: csvText(cdr.accountId ?? ''),
    switch: csvText(cdr.switchId),
    start: time(cdr.invitedAt),
    answer: time(cdr.answeredAt),
    end: isoTime(cdr.endedAt),
    from: csvText(cdr.from),
    to: csvText(cdr.to),
    prefix: csvText(cdr.prefix),
    sip_code: String(cdr.sipCode),
    disposition: csvText(cdr.disposition),
    reason: csvText(cdr.reason),
    duration: cdr.durationMs === null ? '' : String(Math.ceil(cdr.durationMs / 1000)),
    billsec: String(cdr.billsec),
    billed_seconds: String(cdr.billedSec),
    increments: cdr.firstIncrement === null || cdr.nextIncrement === null ? '' : `${cdr.firstIncrement}/${cdr.nextIncrement}`,
    rate_per_minute: usd(cdr.ratePerMin),
    connect_fee: usd(cdr.connectFee),
    cost: formatUsd(cdr.cost),
    tax: usd(cdr.tax),
    total: formatUsd(cdr.total),
    currency: CURRENCY,
  };
  return CUSTOMER_CSV_COLUMNS.map((c) => v[c]).join(',');
}

/** Calls in the order they started (refusals at their INVITE), then by call id: the same file for the same CDRs. */
export function compareCdrs(a: Cdr, b: Cdr): number {
  const ta = a.invitedAt ?? a.endedAt;
  const tb = b.invitedAt ?? b.endedAt;
  if (ta !== tb) return ta - tb;
  return a.callId < b.callId ? -1 : a.callId > b.callId ? 1 : 0;
}

/** The whole file's text: the header, then every CDR, each record ended by CRLF. */
export function customerCsv(cdrs: readonly Cdr[]): string {
  const sorted = [...cdrs].sort(compareCdrs);
  let out = CUSTOMER_CSV_HEADER + CUSTOMER_CSV_LINE_END;
  for (const cdr of sorted) out += toCustomerCsvRow(cdr) + CUSTOMER_CSV_LINE_END;
  return out;
}
