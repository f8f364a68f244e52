/**
 * What a webhook receives for one entry of an account's events stream (`{a:<id>}:events`, written by
 * emitEvent in src/redis/lua/includes/common.lua). The dispatcher is generic over event types: every field
 * of the entry is passed on. The body is
 *   { "id": <stream entry id>, "type", "account", "at": <epoch ms, Redis TIME>, ...the entry's other fields }
 * Fields that carry integers (money in micro-dollars, durations) are sent as JSON numbers; every other
 * field is sent as the string the engine wrote (for example `previous: "on/"`, `offReason: "manual"`).
 */

/** Event types the engine emits today; the dispatcher forwards any type, these are for config and docs. */
export const KNOWN_EVENT_TYPES = ['low_balance', 'status_changed', 'call_torn_down', 'traffic_warning', 'traffic_critical', 'cdr_file_ready'] as const;

/** Entry fields sent as JSON numbers when they hold an integer. */
export const NUMERIC_FIELDS: ReadonlySet<string> = new Set([
  'at',
  'balance',
  'threshold',
  'creditLimit',
  'reserved',
  'available',
  'cost',
  'tax',
  'total',
  'billedSec',
  'talkMs',
  'sipCode',
  'blockedUntil',
  'revision',
  'rows',
  'bytes',
]);

/** Traffic figures judged against thresholds: sent as JSON numbers, decimals included (25, 59.9). */
const DECIMAL_FIELDS: ReadonlySet<string> = new Set(['value', 'threshold']);
/** Traffic events' structured fields: `figures` is a JSON object, `samples` a comma-separated list of call ids. */
const JSON_FIELDS: ReadonlySet<string> = new Set(['figures']);

const INTEGER = /^-?\d{1,16}$/;
const DECIMAL = /^-?\d{1,16}(\.\d{1,6})?$/;

function fieldValue(k: string, v: string): unknown {
  if (NUMERIC_FIELDS.has(k) && INTEGER.test(v)) return Number(v);
  if (DECIMAL_FIELDS.has(k) && DECIMAL.test(v)) return Number(v);
  if (k === 'samples') return v === '' ? [] : v.split(',');
  if (k === 'suspensionRecommended') return v === '1';
  if (JSON_FIELDS.has(k)) {
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v;
    }
  }
  return v;
}

export interface NotifyEvent {
  /** Stream entry id: unique per account stream, and the X-Callgate-Delivery header. */
  id: string;
  type: string;
  account: string;
  /** The exact JSON text that is signed and POSTed, identical on every attempt and after a restart. */
  body: string;
}

/** Reads a stream entry's fields as strings, whatever the client's reply types. */
export function streamFields(message: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (typeof message === 'object' && message !== null) {
    for (const [k, v] of Object.entries(message)) fields[k] = typeof v === 'string' ? v : String(v);
  }
  return fields;
}

/**
 * Builds the event of one stream entry. The account comes from the stream key (the entry's own
 * `account` field is the same id); `at` falls back to the entry id's milliseconds.
 */
export function eventFromEntry(accountId: string, entryId: string, fields: Record<string, string>): NotifyEvent {
  const { type: rawType, account: _account, at: rawAt, ...rest } = fields;
  const type = rawType && rawType.length > 0 ? rawType : 'unknown';
  const at = rawAt !== undefined && INTEGER.test(rawAt) ? Number(rawAt) : Number(entryId.split('-')[0]);
  const payload: Record<string, unknown> = { id: entryId, type, account: accountId, at };
  for (const [k, v] of Object.entries(rest)) {
    if (k === 'id') continue; // never shadows the entry id
    payload[k] = fieldValue(k, v);
  }
  return { id: entryId, type, account: accountId, body: JSON.stringify(payload) };
}
