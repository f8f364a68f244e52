/**
 * Rule evaluation of a window's figures, and the alert state of each (window, rule): an alert is raised once
 * per upward crossing of a level, and a level that alerted stays quiet for the snooze even if it is crossed
 * again. Pure.
 */
import type { ResolvedRule, RuleName } from './profiles.js';
import { percent, type Figures, type WindowName } from './windows.js';

export type Level = 'ok' | 'warning' | 'critical';
const RANK: Record<Level, number> = { ok: 0, warning: 1, critical: 2 };

export interface RuleVerdict {
  window: WindowName;
  rule: RuleName;
  level: Level;
  /** False while the window holds fewer answered calls than traffic.minAnswered: the level is then 'ok'. */
  judged: boolean;
  /** The figure judged, in the rule's unit (percent to one decimal, or seconds to one decimal); null when it has no value. */
  value: number | null;
  /** The threshold of the level reached, or the warning's (the critical's when warning is off) when none is. */
  threshold: number | null;
}

function valueOf(rule: RuleName, f: Figures): number | null {
  switch (rule) {
    case 'short_call_ratio':
      return percent(f.shortRatio);
    case 'zero_second_ratio':
      return percent(f.zeroRatio);
    case 'asr':
      return percent(f.asr);
    case 'acd':
      return f.acdSeconds === null ? null : Math.round(f.acdSeconds * 10) / 10;
  }
}

function trips(rule: ResolvedRule, value: number, threshold: number | null): boolean {
  if (threshold === null) return false;
  return rule.spec.trips === 'above' ? value >= threshold : value < threshold;
}

/** Every rule's verdict on one window. */
export function judgeWindow(window: WindowName, figures: Figures, rules: readonly ResolvedRule[], minAnswered: number): RuleVerdict[] {
  const judged = figures.answered >= minAnswered;
  return rules.map((rule) => {
    const value = valueOf(rule.name, figures);
    let level: Level = 'ok';
    if (judged && value !== null) {
      if (trips(rule, value, rule.critical)) level = 'critical';
      else if (trips(rule, value, rule.warning)) level = 'warning';
    }
    const threshold = level === 'critical' ? rule.critical : (rule.warning ?? rule.critical);
    return { window, rule: rule.name, level, judged, value, threshold };
  });
}

export interface AlertState {
  /** The level last seen (alerted or not). */
  level: Level;
  /** Until when a new crossing of each level stays quiet (ms since the epoch; 0: not snoozed). */
  snoozedUntil: { warning: number; critical: number };
}

export const INITIAL_ALERT_STATE: AlertState = Object.freeze({ level: 'ok', snoozedUntil: Object.freeze({ warning: 0, critical: 0 }) }) as AlertState;

/**
 * The state after a verdict at `level`, and the alert to raise, if any: only a rise to a level above the
 * last one seen alerts (ok -> warning, ok or warning -> critical), unless that level alerted less than
 * `snoozeMs` ago. A fall only moves the state, so the next rise is a new crossing.
 */
export function nextAlertState(state: AlertState, level: Level, nowMs: number, snoozeMs: number): { state: AlertState; alert: 'warning' | 'critical' | null } {
  if (RANK[level] <= RANK[state.level]) {
    return { state: level === state.level ? state : { ...state, level }, alert: null };
  }
  const risen = level as 'warning' | 'critical';
  if (nowMs < state.snoozedUntil[risen]) return { state: { ...state, level }, alert: null };
  return { state: { level, snoozedUntil: { ...state.snoozedUntil, [risen]: nowMs + snoozeMs } }, alert: risen };
}

/** Stored as `level|warningSnoozedUntil|criticalSnoozedUntil` in the account's traffic-alerts hash. */
export function encodeAlertState(s: AlertState): string {
  if (s.level === 'ok' && s.snoozedUntil.warning === 0 && s.snoozedUntil.critical === 0) return '';
  return `${s.level}|${s.snoozedUntil.warning}|${s.snoozedUntil.critical}`;
}

export function decodeAlertState(text: string | null | undefined): AlertState {
  if (!text) return INITIAL_ALERT_STATE;
  const [level, w, c] = text.split('|');
  if (level !== 'ok' && level !== 'warning' && level !== 'critical') return INITIAL_ALERT_STATE;
  const num = (v: string | undefined) => {
    const n = Number(v);
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  };
  return { level, snoozedUntil: { warning: num(w), critical: num(c) } };
}
