/**
 * Live calls as the admin API shows them, read from the accounts' live calls hashes (the truth every
 * switch writes) and decoded by their codec (src/redis/codecs/call-record.ts). Money stays integer
 * micro-dollars, with a `<name>Usd` twin in the JSON view, as for accounts.
 */
import { formatUsd, type Micros } from '../rating/money.js';
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { decodeCallRecord, isCallField, switchOfRecord, type CallRecord } from '../redis/codecs/call-record.js';

export { CorruptCallRecordError, decodeCallRecord, type CallRecord, type CallStatic } from '../redis/codecs/call-record.js';

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
      if (!isCallField(callId)) continue;
      const text = String(value);
      // cheap to filter on the switch before decoding the rest
      if (filter && !filter(switchOfRecord(text))) continue;
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
