/**
 * An export stream entry (src/redis/lua/cdr-handoff-2.lua) as a CDR: either an admitted call's CDR stream
 * entry moved field for field, or a refused attempt's CDR as JSON under `rejected`. The same JSON form is
 * what the day masters hold, one per line (day-store.ts). Never throws: what cannot be read is null, and the
 * caller counts it.
 */
import { cdrFromStreamEntry, CDR_DISPOSITIONS, type Cdr } from '../cdr/builder.js';

const TEXT_FIELDS = ['callId', 'sipCallId', 'switchId', 'from', 'to', 'srcIp', 'reason', 'prefix'] as const;
const NULLABLE_INTS = ['invitedAt', 'answeredAt', 'durationMs', 'ratePerMin', 'connectFee', 'firstIncrement', 'nextIncrement', 'tax'] as const;
const INTS = ['endedAt', 'billsec', 'billedSec', 'sipCode', 'cost', 'total'] as const;

/** A CDR from its JSON (JSON.stringify of a Cdr), or null when it is not one. */
export function cdrFromJson(text: string): Cdr | null {
  let v: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
    v = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
  for (const k of TEXT_FIELDS) if (typeof v[k] !== 'string') return null;
  for (const k of INTS) if (!Number.isSafeInteger(v[k])) return null;
  for (const k of NULLABLE_INTS) if (v[k] !== null && v[k] !== undefined && !Number.isSafeInteger(v[k])) return null;
  if (v.accountId !== null && typeof v.accountId !== 'string') return null;
  if (!(CDR_DISPOSITIONS as readonly unknown[]).includes(v.disposition)) return null;
  if ((v.callId as string).length === 0) return null;
  const n = (k: (typeof NULLABLE_INTS)[number]) => (v[k] ?? null) as number | null;
  return {
    callId: v.callId as string,
    sipCallId: v.sipCallId as string,
    accountId: v.accountId as string | null,
    switchId: v.switchId as string,
    from: v.from as string,
    to: v.to as string,
    srcIp: v.srcIp as string,
    invitedAt: n('invitedAt'),
    answeredAt: n('answeredAt'),
    endedAt: v.endedAt as number,
    durationMs: n('durationMs'),
    billsec: v.billsec as number,
    billedSec: v.billedSec as number,
    sipCode: v.sipCode as number,
    disposition: v.disposition as Cdr['disposition'],
    reason: v.reason as string,
    prefix: v.prefix as string,
    ratePerMin: n('ratePerMin'),
    connectFee: n('connectFee'),
    firstIncrement: n('firstIncrement'),
    nextIncrement: n('nextIncrement'),
    cost: v.cost as number,
    tax: n('tax'),
    total: v.total as number,
  };
}

/** The CDR an export stream entry carries, for the account whose stream holds it; null when unreadable. */
export function cdrFromExportEntry(accountId: string, entryId: string, fields: Record<string, string>): Cdr | null {
  if (fields.rejected !== undefined) {
    const cdr = cdrFromJson(fields.rejected);
    return cdr === null ? null : { ...cdr, accountId };
  }
  if (!fields.callId) return null;
  return cdrFromStreamEntry(fields, { entryId, accountId });
}
