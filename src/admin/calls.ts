/**
 * Live calls as the admin API shows them, read from the accounts' live calls hashes (the truth every
 * switch writes), and decoded here. The record format is the one the scripts write (includes/common.lua):
 *
 *   switch|reserved|committed|cost|tax|billedSec|talkMs|lastBeat|answeredAt \n <static CDR JSON>
 *
 * Money stays integer micro-dollars, with a `<name>Usd` twin in the JSON view, as for accounts.
 */
import { formatUsd, type Micros } from '../rating/money.js';
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';

export class CorruptCallRecordError extends Error {
  override readonly name = 'CorruptCallRecordError';
}

/** The CDR fields known at INVITE time, as admission stored them (src/admission/admit.ts StaticCdr). */
export interface CallStatic {
  sipCallId: string | null;
  from: string | null;
  to: string | null;
  srcIp: string | null;
  /** Wall clock of the owning instance, epoch ms, when the INVITE arrived. */
  invitedAt: number | null;
  prefix: string | null;
  ratePerMin: Micros | null;
  connectFee: Micros | null;
}

export interface CallRecord {
  callId: string;
  /** The switch (callgate instance) that owns the call. */
  switchId: string;
  /** Held now for the call's next unit of talk time. */
  reserved: Micros;
  /** Debited from the balance so far (cost + tax). */
  committed: Micros;
  cost: Micros;
  tax: Micros;
  billedSec: number;
  talkMs: number;
  /** Redis time (epoch ms) of the last admit or tick. */
  lastBeatAt: number;
  /** Epoch ms of the answer; null while ringing. */
  answeredAt: number | null;
  static: CallStatic;
}

const RECORD = /^([^|\n]*)\|(-?\d+)\|(-?\d+)\|(-?\d+)\|(-?\d+)\|(-?\d+)\|(-?\d+)\|(-?\d+)\|(-?\d+)\n([\s\S]*)$/;

function decodeStatic(text: string): CallStatic {
  let json: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
  } catch {
    // an unreadable static part leaves the CDR fields unknown; the meter part still stands
  }
  const s = (k: string): string | null => {
    const v = json[k];
    return typeof v === 'string' ? v : null;
  };
  const n = (k: string): number | null => {
    const v = json[k];
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  };
  return {
    sipCallId: s('sipCallId'),
    from: s('from'),
    to: s('to'),
    srcIp: s('srcIp'),
    invitedAt: n('invitedAt'),
    prefix: s('prefix'),
    ratePerMin: n('ratePerMin'),
    connectFee: n('connectFee'),
  };
}

/** Decodes one field/value of an account's live calls hash. Throws CorruptCallRecordError on a malformed meter. */
export function decodeCallRecord(callId: string, value: string): CallRecord {
  const m = RECORD.exec(value);
  if (!m) throw new CorruptCallRecordError(`live call record ${JSON.stringify(callId.slice(0, 80))} is malformed`);
  const num = (i: number) => Number(m[i]);
  const answeredAt = num(9);
  return {
    callId,
    switchId: m[1]!,
    reserved: num(2),
    committed: num(3),
    cost: num(4),
    tax: num(5),
    billedSec: num(6),
    talkMs: num(7),
    lastBeatAt: num(8),
    answeredAt: answeredAt > 0 ? answeredAt : null,
    static: decodeStatic(m[10]!),
  };
}

/** A live call as GET /v1/calls and GET /v1/switches/:id/calls show it. */
export interface LiveCallView {
  callId: string;
  accountId: string;
  switchId: string;
  state: 'ringing' | 'answered';
  invitedAt: string | null;
  answeredAt: string | null;
  lastBeatAt: string | null;
  talkMs: number;
  billedSec: number;
  reserved: Micros;
  reservedUsd: string;
  committed: Micros;
  committedUsd: string;
  cost: Micros;
  tax: Micros;
  from: string | null;
  to: string | null;
  srcIp: string | null;
  sipCallId: string | null;
  prefix: string | null;
  ratePerMin: Micros | null;
}

const iso = (ms: number | null) => (ms !== null && ms > 0 && Number.isFinite(ms) ? new Date(ms).toISOString() : null);

export function callView(accountId: string, r: CallRecord): LiveCallView {
  return {
    callId: r.callId,
    accountId,
    switchId: r.switchId,
    state: r.answeredAt === null ? 'ringing' : 'answered',
    invitedAt: iso(r.static.invitedAt),
    answeredAt: iso(r.answeredAt),
    lastBeatAt: iso(r.lastBeatAt),
    talkMs: r.talkMs,
    billedSec: r.billedSec,
    reserved: r.reserved,
    reservedUsd: formatUsd(r.reserved),
    committed: r.committed,
    committedUsd: formatUsd(r.committed),
    cost: r.cost,
    tax: r.tax,
    from: r.static.from,
    to: r.static.to,
    srcIp: r.static.srcIp,
    sipCallId: r.static.sipCallId,
    prefix: r.static.prefix,
    ratePerMin: r.static.ratePerMin,
  };
}

export interface LiveCallsOfAccount {
  records: CallRecord[];
  /** Fields that could not be decoded (skipped, and logged by the caller). */
  unreadable: number;
}

/**
 * Every live call of one account, on every switch: HSCAN pages of its calls hash, so a large hash never
 * blocks Redis in one command. Fields holding `#` are not call meters and are skipped.
 */
export async function readAccountCalls(redis: Redis, keys: Keys, accountId: string, filter?: (switchId: string) => boolean): Promise<LiveCallsOfAccount> {
  const records: CallRecord[] = [];
  let unreadable = 0;
  let cursor = '0';
  do {
    const page = await redis.hScan(keys.calls(accountId), cursor, { COUNT: 500 });
    cursor = String(page.cursor);
    for (const { field, value } of page.entries) {
      const callId = String(field);
      if (callId.includes('#')) continue;
      const text = String(value);
      // the switch leads the record: cheap to filter before decoding the rest
      if (filter && !filter(text.slice(0, text.indexOf('|')))) continue;
      try {
        records.push(decodeCallRecord(callId, text));
      } catch {
        unreadable++;
      }
    }
  } while (cursor !== '0');
  return { records, unreadable };
}

/** The records of the given calls of one account (one HMGET); calls no longer in Redis are left out. */
export async function readCallsById(redis: Redis, keys: Keys, accountId: string, callIds: readonly string[]): Promise<LiveCallsOfAccount> {
  if (callIds.length === 0) return { records: [], unreadable: 0 };
  const values = (await redis.hmGet(keys.calls(accountId), [...callIds])) as (string | null)[];
  const records: CallRecord[] = [];
  let unreadable = 0;
  values.forEach((value, i) => {
    if (value === null || value === undefined) return;
    try {
      records.push(decodeCallRecord(callIds[i]!, String(value)));
    } catch {
      unreadable++;
    }
  });
  return { records, unreadable };
}

/** Counts records by owning switch. */
export function countBySwitch(records: readonly CallRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) out[r.switchId] = (out[r.switchId] ?? 0) + 1;
  return out;
}

/** Runs `fn` over `items` with at most `concurrency` in flight, in order of the items. */
export async function mapBounded<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}
