/**
 * Window arithmetic of the traffic figures: the counts one call adds, their sums over a window, and the
 * figures carriers judge traffic by (ASR, NER, ACD, short-call and zero-second ratios). Pure.
 */
import type { Disposition } from '../model/call.js';

export type WindowName = '15m' | '1h' | 'day';

/** What a window holds: sums of per-call counts, never negative (nothing is ever subtracted). */
export interface Counts {
  /** Every final outcome: refused, failed, unanswered and answered INVITEs. */
  attempts: number;
  answered: number;
  /** Outcomes decided by the called or calling user rather than the network: answered, busy, not answered, cancelled (NER). */
  userEnds: number;
  /** Talk time of the answered calls, in milliseconds. */
  talkMs: number;
  /** Billed seconds of the answered calls (after minimum and increments). */
  billedSec: number;
  /** Answered calls whose talk time was under traffic.shortCallSeconds. */
  short: number;
  /** Answered calls whose talk time was under one second. */
  zero: number;
}

export const ZERO_COUNTS: Readonly<Counts> = Object.freeze({ attempts: 0, answered: 0, userEnds: 0, talkMs: 0, billedSec: 0, short: 0, zero: 0 });

export function addCounts(a: Counts, b: Counts): Counts {
  return {
    attempts: a.attempts + b.attempts,
    answered: a.answered + b.answered,
    userEnds: a.userEnds + b.userEnds,
    talkMs: a.talkMs + b.talkMs,
    billedSec: a.billedSec + b.billedSec,
    short: a.short + b.short,
    zero: a.zero + b.zero,
  };
}

/** Dispositions of an unanswered call that the users decided (busy, no answer, caller gave up): they count for NER. */
const USER_DISPOSITIONS: ReadonlySet<Disposition> = new Set<Disposition>(['busy', 'unanswered', 'cancelled']);

export interface CallOutcome {
  answered: boolean;
  disposition: Disposition;
  talkMs: number;
  billedSec: number;
}

/** The counts one finished call adds to its windows. */
export function countsOfCall(o: CallOutcome, shortCallSeconds: number): Counts {
  if (!o.answered) return { ...ZERO_COUNTS, attempts: 1, userEnds: USER_DISPOSITIONS.has(o.disposition) ? 1 : 0 };
  const talkMs = Math.max(0, Math.round(o.talkMs));
  return {
    attempts: 1,
    answered: 1,
    userEnds: 1,
    talkMs,
    billedSec: Math.max(0, Math.round(o.billedSec)),
    short: talkMs < shortCallSeconds * 1000 ? 1 : 0,
    zero: talkMs < 1000 ? 1 : 0,
  };
}

/** A window's counts and the ratios computed from them; a ratio is null when its denominator is 0. */
export interface Figures extends Counts {
  /** Distinct dialed numbers (a HyperLogLog count: within about 1%). */
  distinct: number;
  /** Attempts to a number already dialed in the window: attempts - distinct, never below 0. */
  repeats: number;
  /** Answer-seizure ratio: answered / attempts. */
  asr: number | null;
  /** Network effectiveness ratio: user-decided outcomes / attempts. */
  ner: number | null;
  /** Average call duration of the answered calls, in seconds. */
  acdSeconds: number | null;
  /** Short calls / answered. */
  shortRatio: number | null;
  /** Zero-second calls / answered. */
  zeroRatio: number | null;
}

const ratio = (n: number, d: number) => (d > 0 ? n / d : null);

export function figuresOf(c: Counts, distinct: number): Figures {
  const d = Math.max(0, Math.min(Math.round(distinct), c.attempts));
  return {
    ...c,
    distinct: d,
    repeats: c.attempts - d,
    asr: ratio(c.answered, c.attempts),
    ner: ratio(c.userEnds, c.attempts),
    acdSeconds: c.answered > 0 ? c.talkMs / c.answered / 1000 : null,
    shortRatio: ratio(c.short, c.answered),
    zeroRatio: ratio(c.zero, c.answered),
  };
}

/** A ratio as a percentage to one decimal (0.25 → 25), or null. Rules compare these, as engineers read them. */
export function percent(r: number | null): number | null {
  return r === null ? null : Math.round(r * 1000) / 10;
}
