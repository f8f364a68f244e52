import { describe, expect, it } from 'vitest';
import { DEFAULT_TRAFFIC_SETTINGS, resolveTrafficSettings, type TrafficSettings } from './profiles.js';

const ok = (stored: TrafficSettings | null, input: unknown) => {
  const r = resolveTrafficSettings(stored, input);
  if (!r.ok) throw new Error(r.problems.join('; '));
  return r;
};
const problems = (input: unknown, stored: TrafficSettings | null = null) => {
  const r = resolveTrafficSettings(stored, input);
  return r.ok ? [] : r.problems;
};

describe('traffic settings: what is accepted', () => {
  it('starts from the defaults and changes only what is given', () => {
    const r = ok(null, { profile: 'call_center', maxCallSeconds: '7200' });
    expect(r.settings).toEqual({ ...DEFAULT_TRAFFIC_SETTINGS, profile: 'call_center', maxCallSeconds: 7200 });
    expect(r.changed.sort()).toEqual(['maxCallSeconds', 'profile']);
    const again = ok(r.settings, { autoSuspend: true });
    expect(again.settings).toMatchObject({ profile: 'call_center', maxCallSeconds: 7200, autoSuspend: true });
  });
  it('merges overrides level by level; "default" removes one, null removes all', () => {
    const a = ok(null, { overrides: { short_call_ratio: { warning: 20 } } }).settings;
    const b = ok(a, { overrides: { short_call_ratio: { critical: '30.5' }, asr: { critical: 'off' } } }).settings;
    expect(b.overrides).toEqual({ short_call_ratio: { warning: 20, critical: 30.5 }, asr: { critical: null } });
    expect(ok(b, { overrides: { short_call_ratio: { warning: 'default' } } }).settings.overrides.short_call_ratio).toEqual({ critical: 30.5 });
    expect(ok(b, { overrides: null }).settings.overrides).toEqual({});
    expect(ok(b, { maxCallSeconds: 'off' }).settings.maxCallSeconds).toBeNull();
  });
});

describe('traffic settings: hostile input is refused whole, with every problem', () => {
  it.each([
    [{ profile: 'spammer' }, /profile: must be one of conversational, call_center, dialer/],
    [{ overrides: { short_call_ratio: { warning: -1 } } }, /overrides.short_call_ratio.warning: must be a number from 0 to 100/],
    [{ overrides: { short_call_ratio: { warning: 101 } } }, /from 0 to 100/],
    [{ overrides: { acd: { critical: 1e9 } } }, /from 0 to 86400/],
    [{ overrides: { acd: { critical: '1e3' } } }, /from 0 to 86400/],
    [{ overrides: { acd: { critical: 12.25 } } }, /at most one decimal/],
    [{ overrides: { made_up: { warning: 1 } } }, /overrides.made_up: unknown rule/],
    [{ overrides: { asr: { emergency: 1 } } }, /overrides.asr.emergency: unknown level/],
    [{ overrides: { asr: 5 } }, /overrides.asr: must be \{ warning, critical \}/],
    [{ overrides: [] }, /overrides: must be an object/],
    [{ autoSuspend: 'yes' }, /autoSuspend: must be true or false/],
    [{ maxCallSeconds: 0 }, /maxCallSeconds: must be a whole number of seconds from 1 to 86400/],
    [{ maxCallSeconds: 86_401 }, /maxCallSeconds/],
    [{ maxCallSeconds: 1.5 }, /maxCallSeconds/],
    [{ surprise: 1 }, /surprise: unknown traffic setting/],
    [{ fraudRules: {} }, /fraudRules: must be a list/],
    [{ overrides: { short_call_ratio: { warning: 30 } } }, /short_call_ratio: the warning \(30%\) must trip before the critical \(25%\)/],
    [{ overrides: { acd: { warning: 20 } } }, /acd: the warning \(20s\) must trip before the critical \(30s\)/],
    [[], /must be an object/],
    ['x', /must be an object/],
  ])('%j', (input, message) => {
    const p = problems(input);
    expect(p.length).toBeGreaterThan(0);
    expect(p.join('\n')).toMatch(message);
  });
  it('lists every problem of one request', () => {
    expect(problems({ profile: 'x', autoSuspend: 2, maxCallSeconds: -3, overrides: { nope: {} } })).toHaveLength(4);
  });
});
