/**
 * The live-call record: one field per live call in an account's calls hash (keys.calls), written by the
 * admit, tick, finalize and sweep scripts (formatCall/parseCall in lua/includes/common.lua, its mirror):
 *
 *   switch|reserved|committed|cost|tax|billedSec|talkMs|lastBeat|answeredAt \n <seed JSON>
 *
 * The seed is the CDR seed admission made at the INVITE (src/model CdrSeed), stored as JSON text that the
 * scripts never decode and copy verbatim into the CDR stream entry's `static` field. This module is the
 * only TypeScript that knows the format: it encodes the seed and decodes records and seeds.
 */
import type { AdmittedSeed, CdrSeed } from '../../model/index.js';

export class CorruptCallRecordError extends Error {
  override readonly name = 'CorruptCallRecordError';
}

/** The seed's fields as stored, each unverified: a record written by an older version may lack any. */
export type StoredSeed = Partial<Record<keyof CdrSeed, unknown>>;

/** The seed's JSON text as the admit script stores it. JSON text holds no raw newline, which ends the meter part. */
export function encodeSeed(seed: AdmittedSeed): string {
  return JSON.stringify(seed);
}

/** The stored seed, or {} when it is missing or not a JSON object: the meter part, and a CDR, still stand. */
export function decodeSeed(text: unknown): StoredSeed {
  if (typeof text !== 'string' || text === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as StoredSeed) : {};
  } catch {
    return {};
  }
}

/** The seed fields a live-call view shows, typed; what is missing or of the wrong type is null. */
export interface CallStatic {
  sipCallId: string | null;
  from: string | null;
  to: string | null;
  srcIp: string | null;
  /** Wall clock of the owning instance, epoch ms, when the INVITE arrived. */
  invitedAt: number | null;
  prefix: string | null;
  ratePerMin: number | null;
  connectFee: number | null;
}

export interface CallRecord {
  callId: string;
  /** The switch (callgate instance) that owns the call. */
  switchId: string;
  /** Held now for the call's next unit of talk time, micro-dollars. */
  reserved: number;
  /** Debited from the balance so far (cost + tax). */
  committed: number;
  cost: number;
  tax: number;
  billedSec: number;
  talkMs: number;
  /** Redis time (epoch ms) of the last admit or tick. */
  lastBeatAt: number;
  /** Epoch ms of the answer; null while ringing. */
  answeredAt: number | null;
  static: CallStatic;
}

const RECORD = /^([^|\n]*)\|(-?\d+)\|(-?\d+)\|(-?\d+)\|(-?\d+)\|(-?\d+)\|(-?\d+)\|(-?\d+)\|(-?\d+)\n([\s\S]*)$/;

function typedStatic(seed: StoredSeed): CallStatic {
  const s = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  const n = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    sipCallId: s(seed.sipCallId),
    from: s(seed.from),
    to: s(seed.to),
    srcIp: s(seed.srcIp),
    invitedAt: n(seed.invitedAt),
    prefix: s(seed.prefix),
    ratePerMin: n(seed.ratePerMin),
    connectFee: n(seed.connectFee),
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
    static: typedStatic(decodeSeed(m[10])),
  };
}

/** The owning switch of a record, without decoding the rest: the switch leads the record. */
export function switchOfRecord(value: string): string {
  const end = value.indexOf('|');
  return end < 0 ? '' : value.slice(0, end);
}

/** A calls-hash field that is not a call (fields holding `#` are reserved for the scripts' own use). */
export const isCallField = (field: string): boolean => !field.includes('#');
