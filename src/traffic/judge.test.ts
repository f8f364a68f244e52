import { describe, expect, it } from 'vitest';
import { decodeAlertState, encodeAlertState, INITIAL_ALERT_STATE, judgeWindow, nextAlertState, type AlertState, type Level } from './judge.js';
import { resolveRules, resolveTrafficSettings, DEFAULT_TRAFFIC_SETTINGS, PROFILES } from './profiles.js';
import { figuresOf, ZERO_COUNTS, type Counts } from './windows.js';

const conversational = resolveRules(DEFAULT_TRAFFIC_SETTINGS);
const window = (c: Partial<Counts>) => figuresOf({ ...ZERO_COUNTS, ...c }, c.attempts ?? 0);
const verdict = (rule: string, c: Partial<Counts>, minAnswered = 100, rules = conversational) =>
  judgeWindow('1h', window(c), rules, minAnswered).find((v) => v.rule === rule)!;

describe('rule evaluation (conversational defaults)', () => {
  it('120 answered, 30 of them short: 25.0%, critical (a ratio trips at or above its threshold)', () => {
    const v = verdict('short_call_ratio', { attempts: 150, answered: 120, userEnds: 130, talkMs: 120 * 90_000, short: 30 });
    expect(v).toEqual({ window: '1h', rule: 'short_call_ratio', level: 'critical', judged: true, value: 25, threshold: 25 });
  });
  it('18 of 120 short is 15.0%: a warning; 17 of 120 (14.2%) is ok', () => {
    expect(verdict('short_call_ratio', { attempts: 120, answered: 120, talkMs: 120 * 90_000, short: 18 })).toMatchObject({ level: 'warning', value: 15, threshold: 15 });
    expect(verdict('short_call_ratio', { attempts: 120, answered: 120, talkMs: 120 * 90_000, short: 17 })).toMatchObject({ level: 'ok', value: 14.2, threshold: 15 });
  });
  it('99 answered calls are never judged, however bad', () => {
    for (const rule of ['short_call_ratio', 'zero_second_ratio', 'acd', 'asr']) {
      const v = verdict(rule, { attempts: 1000, answered: 99, talkMs: 99_000, short: 99, zero: 99 });
      expect(v).toMatchObject({ level: 'ok', judged: false });
    }
    expect(verdict('asr', { attempts: 1000, answered: 100, talkMs: 100 * 90_000 })).toMatchObject({ level: 'critical', judged: true, value: 10 });
  });
  it('ACD and ASR trip strictly below their thresholds', () => {
    // ACD exactly 60.0 s: ok; 59.9 s: warning; 30.0 s: warning; 29.9 s: critical
    expect(verdict('acd', { attempts: 100, answered: 100, talkMs: 100 * 60_000 })).toMatchObject({ level: 'ok', value: 60 });
    expect(verdict('acd', { attempts: 100, answered: 100, talkMs: 100 * 59_900 })).toMatchObject({ level: 'warning', value: 59.9, threshold: 60 });
    expect(verdict('acd', { attempts: 100, answered: 100, talkMs: 100 * 30_000 })).toMatchObject({ level: 'warning', value: 30 });
    expect(verdict('acd', { attempts: 100, answered: 100, talkMs: 100 * 29_900 })).toMatchObject({ level: 'critical', value: 29.9, threshold: 30 });
    // ASR 100 of 250 = 40.0%: ok; 100 of 251 = 39.8%: warning; 100 of 500 = 20%: warning; 100 of 501: critical
    expect(verdict('asr', { attempts: 250, answered: 100, talkMs: 100 * 90_000 })).toMatchObject({ level: 'ok', value: 40 });
    expect(verdict('asr', { attempts: 251, answered: 100, talkMs: 100 * 90_000 })).toMatchObject({ level: 'warning', value: 39.8 });
    expect(verdict('asr', { attempts: 500, answered: 100, talkMs: 100 * 90_000 })).toMatchObject({ level: 'warning', value: 20 });
    // figures are judged as shown, to one decimal: 100 of 501 is 19.96%, shown 20.0%, not below 20
    expect(verdict('asr', { attempts: 501, answered: 100, talkMs: 100 * 90_000 })).toMatchObject({ level: 'warning', value: 20 });
    expect(verdict('asr', { attempts: 510, answered: 100, talkMs: 100 * 90_000 })).toMatchObject({ level: 'critical', value: 19.6, threshold: 20 });
  });
  it('has no critical for zero-second calls by default: 100% is a warning', () => {
    expect(verdict('zero_second_ratio', { attempts: 100, answered: 100, short: 100, zero: 100 })).toMatchObject({ level: 'warning', threshold: 25 });
  });
  it('the dialer profile judges no short calls, zero-second calls or ACD, only a collapsing ASR', () => {
    const dialer = resolveRules({ profile: 'dialer', overrides: {} });
    const c = { attempts: 1000, answered: 100, talkMs: 100 * 1_500, short: 100, zero: 0 };
    expect(verdict('short_call_ratio', c, 100, dialer)).toMatchObject({ level: 'ok', threshold: null });
    expect(verdict('acd', c, 100, dialer)).toMatchObject({ level: 'ok', threshold: null });
    expect(verdict('asr', c, 100, dialer)).toMatchObject({ level: 'ok', value: 10 }); // 10.0% is not under 10%
    expect(verdict('asr', { ...c, attempts: 1100 }, 100, dialer)).toMatchObject({ level: 'warning', value: 9.1 });
    expect(verdict('asr', { ...c, attempts: 2100 }, 100, dialer)).toMatchObject({ level: 'critical', value: 4.8, threshold: 5 });
  });
  it('overrides replace the profile level by level', () => {
    const r = resolveTrafficSettings(null, { overrides: { short_call_ratio: { critical: 40 }, acd: { warning: 'off' } } });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const rules = resolveRules(r.settings);
    expect(rules.find((x) => x.name === 'short_call_ratio')).toMatchObject({ warning: 15, critical: 40 });
    expect(rules.find((x) => x.name === 'acd')).toMatchObject({ warning: null, critical: 30 });
    expect(PROFILES.conversational.short_call_ratio).toEqual({ warning: 15, critical: 25 }); // the profile itself is untouched
  });
});

describe('alert state: once per crossing, with a snooze', () => {
  const HOUR = 3_600_000;
  function run(levels: [number, Level][]): { alerts: (string | null)[]; state: AlertState } {
    let state = INITIAL_ALERT_STATE;
    const alerts: (string | null)[] = [];
    for (const [at, level] of levels) {
      const r = nextAlertState(state, level, at, HOUR);
      state = r.state;
      alerts.push(r.alert);
    }
    return { alerts, state };
  }

  it('a crossing alerts once, however long the level holds', () => {
    expect(run([[0, 'ok'], [1, 'critical'], [2, 'critical'], [3, 'critical']]).alerts).toEqual([null, 'critical', null, null]);
  });
  it('a new crossing within the snooze stays quiet; the next crossing after it alerts again', () => {
    const r = run([
      [0, 'critical'], // alerts; snoozed until 1 h
      [10 * 60_000, 'ok'],
      [20 * 60_000, 'critical'], // a new crossing within the snooze: quiet
      [HOUR + 1, 'critical'], // still the same crossing: quiet even after the snooze
      [HOUR + 2, 'ok'],
      [HOUR + 3, 'critical'], // the next crossing after the snooze: alerts
    ]);
    expect(r.alerts).toEqual(['critical', null, null, null, null, 'critical']);
    expect(r.state.snoozedUntil.critical).toBe(2 * HOUR + 3);
  });
  it('warning and critical are snoozed separately; rising from warning to critical alerts the critical', () => {
    expect(run([[0, 'warning'], [1, 'critical'], [2, 'warning'], [3, 'critical'], [4, 'ok'], [5, 'warning']]).alerts)
      .toEqual(['warning', 'critical', null, null, null, null]);
  });
  it('is stored as text and read back; unreadable text is the initial state', () => {
    const { state } = run([[5, 'warning'], [7, 'critical']]);
    expect(encodeAlertState(state)).toBe(`critical|${5 + HOUR}|${7 + HOUR}`);
    expect(decodeAlertState(encodeAlertState(state))).toEqual(state);
    expect(encodeAlertState(INITIAL_ALERT_STATE)).toBe('');
    expect(decodeAlertState('nonsense|1|2')).toEqual(INITIAL_ALERT_STATE);
    expect(decodeAlertState(null)).toEqual(INITIAL_ALERT_STATE);
  });
});
