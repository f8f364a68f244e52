/**
 * The CDR builder: turns what the scripts appended to an account's CDR stream, or what the instance knows
 * about a refused attempt, into one `Cdr`, and renders it as a CSV row or a JSON line. Pure: no I/O, no clock.
 *
 * Inputs are treated as untrusted. Stream entries from older versions may lack fields, and the static JSON
 * may be malformed; the builder never throws on them, it fills what it cannot know with null (numbers,
 * times) or '' (text). from/to/sipCallId come straight from SIP headers: every control character in them
 * (C0, DEL, C1: a decoded `%00` or `%0D%0A`) is replaced by U+FFFD here, whatever wrote the stream entry,
 * and they are rendered safely (RFC 4180 quoting, spreadsheet formula neutralisation).
 */
import { CDR_DISPOSITIONS, withoutControls, type CdrDisposition, type CdrSeed } from '../model/index.js';
import { formatUsd, MAX_MICROS, type Micros } from '../rating/money.js';
import { decodeSeed, type StoredSeed } from '../redis/codecs/call-record.js';

export { CDR_DISPOSITIONS, type CdrDisposition };

/** A CDR stream entry as XADDed by finalize-14.lua and sweep-12.lua: every value is a string. */
export type CdrStreamFields = Readonly<Record<string, string | undefined>>;

/** A refused INVITE, written straight to file by the instance that refused it. */
export interface RejectedAttempt {
  callId: string;
  switchId: string;
  /** What admission knew of the INVITE when it refused it: the same facts an admitted call's CDR starts from. */
  seed: CdrSeed;
  endedAt: number;
  sipCode: number;
  reason: string;
}

export interface Cdr {
  callId: string;
  sipCallId: string;
  accountId: string | null;
  switchId: string;
  from: string;
  to: string;
  srcIp: string;
  /** Epoch ms; null when an old entry did not carry it. */
  invitedAt: number | null;
  /** Epoch ms; null when the call was never answered. */
  answeredAt: number | null;
  /** Epoch ms. Decides the day file the CDR lands in. */
  endedAt: number;
  /** endedAt - invitedAt, never negative (the two may come from different clocks); null when invitedAt is unknown. */
  durationMs: number | null;
  /** Talk time in whole seconds, rounded up. */
  billsec: number;
  /** Seconds billed after increments. */
  billedSec: number;
  /** 0 when no final response was ever sent (an orphaned call that was never answered). */
  sipCode: number;
  disposition: CdrDisposition;
  reason: string;
  prefix: string;
  ratePerMin: Micros | null;
  connectFee: Micros | null;
  /** Billing increments of the rate (seconds): the first, then each next one; null before the call was rated. */
  firstIncrement: number | null;
  nextIncrement: number | null;
  cost: Micros;
  /** null for tax-exempt accounts: their CDRs carry no tax at all. */
  tax: Micros | null;
  total: Micros;
}

/**
 * The CSV columns, in file order. The JSONL objects use the same keys in the same order. Changing this
 * order changes what customers download: append new columns at the end.
 */
export const CSV_COLUMNS = [
  'call_id',
  'sip_call_id',
  'account_id',
  'switch_id',
  'from',
  'to',
  'source_ip',
  'invited_at',
  'answered_at',
  'ended_at',
  'duration_ms',
  'billsec',
  'billed_sec',
  'sip_code',
  'disposition',
  'reason',
  'prefix',
  'rate_per_min',
  'connect_fee',
  'cost',
  'tax',
  'total',
] as const;
export type CsvColumn = (typeof CSV_COLUMNS)[number];

/** RFC 4180 ends every record with CRLF, header included. */
export const CSV_LINE_END = '\r\n';
export const CSV_HEADER = CSV_COLUMNS.join(',');

// ---------------------------------------------------------------------------------------------- parsing

const INTEGER = /^-?\d{1,16}$/;
/** Largest epoch ms a Date accepts. */
const MAX_TIME_MS = 8.64e15;

function intFrom(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : null;
  if (typeof value !== 'string' || !INTEGER.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

function timeFrom(value: unknown): number | null {
  const n = intFrom(value);
  return n !== null && n > 0 && n <= MAX_TIME_MS ? n : null;
}

function microsFrom(value: unknown): Micros | null {
  const n = intFrom(value);
  return n !== null && Math.abs(n) <= MAX_MICROS ? n : null;
}

function incrementFrom(value: unknown): number | null {
  const n = intFrom(value);
  return n !== null && n > 0 && n <= 86_400 ? n : null;
}

function countFrom(value: unknown): number {
  const n = intFrom(value);
  return n !== null && n >= 0 ? n : 0;
}

function textFrom(value: unknown): string {
  return typeof value === 'string' ? withoutControls(value) : '';
}

function dispositionFrom(value: unknown): CdrDisposition {
  return (CDR_DISPOSITIONS as readonly unknown[]).includes(value) ? (value as CdrDisposition) : 'failed';
}

/** The epoch ms of a stream entry id (`<ms>-<seq>`), or null. */
export function streamIdTimeMs(entryId: string): number | null {
  const m = /^(\d{1,16})-\d+$/.exec(entryId);
  return m ? timeFrom(m[1]) : null;
}

export interface StreamEntryContext {
  /** The entry id: its timestamp stands in for a missing or malformed endedAt. */
  entryId?: string;
  /** The account whose stream held the entry: authoritative over the static JSON. */
  accountId?: string;
}

/** How a call ended, as the finalize and sweep scripts (or a refusal) report it; values may be untrusted. */
interface Ending {
  callId: unknown;
  switchId: unknown;
  answeredAt: unknown;
  endedAt: number;
  talkMs: unknown;
  billedSec: unknown;
  sipCode: unknown;
  disposition: CdrDisposition;
  reason: unknown;
  cost: unknown;
  tax: unknown;
  total: unknown;
}

type SeedFields = StoredSeed;

/**
 * The one CDR builder: the seed admission made at the INVITE, and how the call ended. Refused and admitted
 * calls both go through it, so their CDRs carry the same fields built the same way.
 */
function buildCdr(seed: SeedFields, ending: Ending, accountOverride?: string): Cdr {
  const invitedAt = timeFrom(seed.invitedAt);
  const endedAt = ending.endedAt;
  const talkMs = countFrom(ending.talkMs);
  const cost = microsFrom(ending.cost) ?? 0;
  const taxAmount = microsFrom(ending.tax) ?? 0;
  // A seed without the exemption flag shows tax only when some was charged: tax must never be hidden,
  // and an exempt account must never see a tax column it was not charged.
  const exempt = typeof seed.taxExempt === 'boolean' ? seed.taxExempt : taxAmount === 0;
  return {
    callId: textFrom(ending.callId),
    sipCallId: textFrom(seed.sipCallId),
    accountId: accountOverride || textFrom(seed.accountId) || null,
    switchId: textFrom(ending.switchId),
    from: textFrom(seed.from),
    to: textFrom(seed.to),
    srcIp: textFrom(seed.srcIp),
    invitedAt,
    answeredAt: timeFrom(ending.answeredAt),
    endedAt,
    durationMs: invitedAt === null ? null : Math.max(0, endedAt - invitedAt),
    billsec: Math.ceil(talkMs / 1000),
    billedSec: countFrom(ending.billedSec),
    sipCode: countFrom(ending.sipCode),
    disposition: ending.disposition,
    reason: textFrom(ending.reason),
    prefix: textFrom(seed.prefix),
    ratePerMin: microsFrom(seed.ratePerMin),
    connectFee: microsFrom(seed.connectFee),
    firstIncrement: incrementFrom(seed.firstIncrement),
    nextIncrement: incrementFrom(seed.nextIncrement),
    cost,
    tax: exempt ? null : taxAmount,
    total: microsFrom(ending.total) ?? microsFrom(cost + taxAmount) ?? 0,
  };
}

/**
 * A CDR from a CDR stream entry. Never throws: unknown numbers become null (or 0 for counts and money),
 * unknown text ''. A missing endedAt falls back to the entry id's time, then to the epoch.
 */
export function cdrFromStreamEntry(fields: CdrStreamFields, context: StreamEntryContext = {}): Cdr {
  const endedAt = timeFrom(fields.endedAt) ?? (context.entryId ? streamIdTimeMs(context.entryId) : null) ?? 0;
  return buildCdr(
    decodeSeed(fields.static),
    {
      callId: fields.callId, switchId: fields.switchId, answeredAt: fields.answeredAt, endedAt, talkMs: fields.talkMs,
      billedSec: fields.billedSec, sipCode: fields.sipCode, disposition: dispositionFrom(fields.disposition), reason: fields.reason,
      cost: fields.cost, tax: fields.tax, total: fields.total,
    },
    context.accountId,
  );
}

/** A CDR for a refused INVITE: nothing was charged, and no tax line appears. */
export function cdrFromRejection(attempt: RejectedAttempt): Cdr {
  const seed = attempt.seed as SeedFields;
  const endedAt = timeFrom(attempt.endedAt) ?? timeFrom(seed.invitedAt) ?? 0;
  return buildCdr(
    { ...seed, taxExempt: true }, // nothing was charged: no tax line, whatever the account's exemption
    {
      callId: attempt.callId, switchId: attempt.switchId, answeredAt: null, endedAt, talkMs: 0, billedSec: 0,
      sipCode: attempt.sipCode, disposition: 'rejected', reason: attempt.reason, cost: 0, tax: 0, total: 0,
    },
  );
}

// -------------------------------------------------------------------------------------------- rendering

/** ISO-8601 UTC with milliseconds: 2024-03-01T12:00:00.000Z. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** The UTC day (YYYY-MM-DD) of a CDR: the day of its end. Names the day directory. */
export function cdrDay(cdr: Pick<Cdr, 'endedAt'>): string {
  return isoTime(cdr.endedAt).slice(0, 10);
}

/**
 * A spreadsheet evaluates a cell starting with = + - @ (and, in some, a tab or CR) as a formula: a SIP
 * header like `=HYPERLINK(...)` would run in the customer's spreadsheet. A leading single quote makes it text.
 */
export function neutraliseFormula(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

/** RFC 4180: a field holding a quote, comma, CR or LF is quoted, with its quotes doubled. */
function quoteCsv(field: string): string {
  return /[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}

/** A text field of a CSV record: formula-neutralised, then quoted as RFC 4180 needs. */
export const csvText = (text: string) => quoteCsv(neutraliseFormula(text));
const csvTime = (ms: number | null) => (ms === null ? '' : isoTime(ms));
const csvInt = (n: number | null) => (n === null ? '' : String(n));
const csvUsd = (micros: Micros | null) => (micros === null ? '' : formatUsd(micros));

/** One CSV record, without its line end (CSV_LINE_END), in CSV_COLUMNS order. Money in decimal dollars. */
export function toCsvRow(cdr: Cdr): string {
  const values: Record<CsvColumn, string> = {
    call_id: csvText(cdr.callId),
    sip_call_id: csvText(cdr.sipCallId),
    account_id: csvText(cdr.accountId ?? ''),
    switch_id: csvText(cdr.switchId),
    from: csvText(cdr.from),
    to: csvText(cdr.to),
    source_ip: csvText(cdr.srcIp),
    invited_at: csvTime(cdr.invitedAt),
    answered_at: csvTime(cdr.answeredAt),
    ended_at: isoTime(cdr.endedAt),
    duration_ms: csvInt(cdr.durationMs),
    billsec: String(cdr.billsec),
    billed_sec: String(cdr.billedSec),
    sip_code: String(cdr.sipCode),
    disposition: csvText(cdr.disposition),
    reason: csvText(cdr.reason),
    prefix: csvText(cdr.prefix),
    rate_per_min: csvUsd(cdr.ratePerMin),
    connect_fee: csvUsd(cdr.connectFee),
    cost: formatUsd(cdr.cost),
    tax: csvUsd(cdr.tax),
    total: formatUsd(cdr.total),
  };
  return CSV_COLUMNS.map((c) => values[c]).join(',');
}

/** One JSON object, without its line end. Times as ISO-8601 UTC strings, money as integer micro-dollars. */
export function toJsonLine(cdr: Cdr): string {
  const o: Record<string, string | number | null> = {
    call_id: cdr.callId,
    sip_call_id: cdr.sipCallId,
    account_id: cdr.accountId,
    switch_id: cdr.switchId,
    from: cdr.from,
    to: cdr.to,
    source_ip: cdr.srcIp,
    invited_at: cdr.invitedAt === null ? null : isoTime(cdr.invitedAt),
    answered_at: cdr.answeredAt === null ? null : isoTime(cdr.answeredAt),
    ended_at: isoTime(cdr.endedAt),
    duration_ms: cdr.durationMs,
    billsec: cdr.billsec,
    billed_sec: cdr.billedSec,
    sip_code: cdr.sipCode,
    disposition: cdr.disposition,
    reason: cdr.reason,
    prefix: cdr.prefix,
    rate_per_min: cdr.ratePerMin,
    connect_fee: cdr.connectFee,
    cost: cdr.cost,
    tax: cdr.tax,
    total: cdr.total,
  };
  if (cdr.tax === null) delete o.tax;
  return JSON.stringify(o);
}
