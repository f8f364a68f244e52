/**
 * An account's traffic as read from Redis (engine.readTraffic) turned into figures per window, for the
 * whole account and per destination prefix, and judged against its rules. Pure.
 */
import type { TrafficReadResult } from '../redis/engine.js';
import { unpackCounts } from './buckets.js';
import { addCounts, figuresOf, ZERO_COUNTS, type Counts, type Figures, type WindowName } from './windows.js';
import { resolveRules, storedTrafficSettings, type TrafficSettings } from './profiles.js';
import { decodeAlertState, judgeWindow, type AlertState, type RuleVerdict } from './judge.js';
import type { FraudBlock } from './fraud.js';
import { guardOfHash } from './guard.js';

export const WINDOW_NAMES: readonly WindowName[] = ['15m', '1h', 'day'];

/** The minute buckets (of the 60 read, oldest first) each rolling window sums. */
const MINUTES_OF: Record<Exclude<WindowName, 'day'>, number> = { '15m': 15, '1h': 60 };

export interface WindowCounts {
  account: Counts;
  prefixes: Record<string, Counts>;
}

function sumBuckets(buckets: Record<string, string>[]): WindowCounts {
  let account = ZERO_COUNTS;
  const prefixes: Record<string, Counts> = {};
  for (const bucket of buckets) {
    for (const [field, packed] of Object.entries(bucket)) {
      const c = unpackCounts(packed);
      if (field === '*') account = addCounts(account, c);
      else prefixes[field] = addCounts(prefixes[field] ?? ZERO_COUNTS, c);
    }
  }
  return { account, prefixes };
}

/** Each window's counts: the newest 15 and 60 minute buckets, and the UTC day's bucket. */
export function windowCounts(read: Pick<TrafficReadResult, 'minuteBuckets' | 'dayBucket'>): Record<WindowName, WindowCounts> {
  const minutes = read.minuteBuckets;
  return {
    '15m': sumBuckets(minutes.slice(-MINUTES_OF['15m'])),
    '1h': sumBuckets(minutes.slice(-MINUTES_OF['1h'])),
    day: sumBuckets([read.dayBucket]),
  };
}

export interface RuleState extends RuleVerdict {
  alert: AlertState;
}

export interface SuspensionRecommendation {
  window: string;
  rule: string;
  value: string;
  atMs: number;
}

export interface TrafficView {
  settings: TrafficSettings;
  /** The fraud blocks in force (prefixes refused until their window passes). */
  fraudBlocks: FraudBlock[];
  windows: Record<WindowName, { figures: Figures; prefixes: Record<string, Figures> }>;
  rules: RuleState[];
  suspensionRecommended: SuspensionRecommendation | null;
}

export function decodeRecommendation(text: string | undefined): SuspensionRecommendation | null {
  if (!text) return null;
  const [window, rule, value, at] = text.split('|');
  const atMs = Number(at);
  if (!window || !rule || !Number.isSafeInteger(atMs)) return null;
  return { window, rule, value: value ?? '', atMs };
}

/** Judges every window of an account: its figures, each rule's verdict and stored alert state. */
export function trafficView(
  read: TrafficReadResult,
  options: { minAnswered: number; nowMs: number; prefixDistinct?: Record<string, Record<WindowName, number>> },
): TrafficView {
  const { settings } = storedTrafficSettings(read.settingsJson);
  const rules = resolveRules(settings);
  const counts = windowCounts(read);
  const windows = {} as TrafficView['windows'];
  const states: RuleState[] = [];
  for (const w of WINDOW_NAMES) {
    const figures = figuresOf(counts[w].account, read.distinct[w]);
    const prefixes: Record<string, Figures> = {};
    for (const [p, c] of Object.entries(counts[w].prefixes)) prefixes[p] = figuresOf(c, options.prefixDistinct?.[p]?.[w] ?? c.attempts);
    windows[w] = { figures, prefixes };
    for (const v of judgeWindow(w, figures, rules, options.minAnswered)) {
      states.push({ ...v, alert: decodeAlertState(read.alerts[`${w}|${v.rule}`] ?? null) });
    }
  }
  const fraudBlocks = guardOfHash({ fraudBlocks: read.fraudBlocksJson }).blocks.filter((b) => b.untilMs > options.nowMs);
  return { settings, fraudBlocks, windows, rules: states, suspensionRecommended: decodeRecommendation(read.alerts.recommended) };
}
