/**
 * Traffic profiles and an account's traffic settings: which rules judge its figures, at which thresholds, and
 * what happens on a critical. Pure: settings are checked here whichever edge sends them (API, CLI), and every
 * problem is reported at once.
 *
 * Thresholds are in the unit engineers read: percent for the ratios, seconds for ACD. A ratio rule trips at
 * or above its threshold (short calls, zero-second calls); ACD and ASR trip strictly below theirs.
 */
import { parseFraudRules, type FraudRule } from './fraud.js';

export const RULE_NAMES = ['short_call_ratio', 'zero_second_ratio', 'acd', 'asr'] as const;
export type RuleName = (typeof RULE_NAMES)[number];

export const PROFILE_NAMES = ['conversational', 'call_center', 'dialer'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** A rule's two levels; null is off. */
export interface Thresholds {
  warning: number | null;
  critical: number | null;
}

export interface RuleSpec {
  /** 'above': trips when the value is at or above the threshold; 'below': strictly below it. */
  trips: 'above' | 'below';
  /** The figure judged, and its unit. */
  unit: '%' | 's';
  /** Largest threshold accepted. */
  max: number;
}

export const RULE_SPECS: Record<RuleName, RuleSpec> = {
  short_call_ratio: { trips: 'above', unit: '%', max: 100 },
  zero_second_ratio: { trips: 'above', unit: '%', max: 100 },
  acd: { trips: 'below', unit: 's', max: 86_400 },
  asr: { trips: 'below', unit: '%', max: 100 },
};

const t = (warning: number | null, critical: number | null): Thresholds => ({ warning, critical });

/**
 * The profiles' thresholds. conversational: the carrier's default (Telnyx allows 15% of connected calls at
 * 6 s or less; CallTrackingMetrics surcharges above 25% zero-second calls; conversational ACD is minutes).
 * call_center: shorter calls and lower answer rates are normal for outbound agents. dialer: approved dialer
 * traffic, whose calls are short by nature: only a collapsing ASR is judged.
 */
export const PROFILES: Record<ProfileName, Record<RuleName, Thresholds>> = {
  conversational: { short_call_ratio: t(15, 25), zero_second_ratio: t(25, null), acd: t(60, 30), asr: t(40, 20) },
  call_center: { short_call_ratio: t(20, 35), zero_second_ratio: t(30, null), acd: t(45, 20), asr: t(30, 15) },
  dialer: { short_call_ratio: t(null, null), zero_second_ratio: t(null, null), acd: t(null, null), asr: t(10, 5) },
};

export interface TrafficSettings {
  profile: ProfileName;
  /** Per-rule thresholds that replace the profile's, level by level. */
  overrides: Partial<Record<RuleName, Partial<Thresholds>>>;
  /** A critical alert turns the account OFF (msa_violation) instead of only recommending it. */
  autoSuspend: boolean;
  /** Calls are torn down at this duration; null: no limit. */
  maxCallSeconds: number | null;
  fraudRules: FraudRule[];
}

export const DEFAULT_TRAFFIC_SETTINGS: TrafficSettings = Object.freeze({
  profile: 'conversational',
  overrides: {},
  autoSuspend: false,
  maxCallSeconds: null,
  fraudRules: [],
}) as TrafficSettings;

export const MAX_CALL_SECONDS_LIMIT = 86_400;

export interface ResolvedRule extends Thresholds {
  name: RuleName;
  spec: RuleSpec;
}

/** The rules that judge an account: its profile's thresholds with its overrides on top. */
export function resolveRules(settings: Pick<TrafficSettings, 'profile' | 'overrides'>): ResolvedRule[] {
  const base = PROFILES[settings.profile];
  return RULE_NAMES.map((name) => {
    const o = settings.overrides[name] ?? {};
    return {
      name,
      spec: RULE_SPECS[name],
      warning: o.warning !== undefined ? o.warning : base[name].warning,
      critical: o.critical !== undefined ? o.critical : base[name].critical,
    };
  });
}

const show = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A threshold value: a number (or its decimal text, as the CLI sends it) from 0 to max with at most one decimal, or null/"off". */
function thresholdValue(v: unknown, max: number, where: string, problems: string[]): number | null | undefined {
  if (v === null || v === 'off') return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+(\.\d)?$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isFinite(n) || n < 0 || n > max || Math.round(n * 10) !== n * 10) {
    problems.push(`${where}: must be a number from 0 to ${max} with at most one decimal, or "off" (got ${show(v)})`);
    return undefined;
  }
  return n;
}

function parseOverrides(
  input: unknown,
  stored: TrafficSettings['overrides'],
  problems: string[],
): TrafficSettings['overrides'] | undefined {
  if (input === null) return {};
  if (!isObject(input)) {
    problems.push(`overrides: must be an object of rule -> { warning, critical } (got ${show(input)})`);
    return undefined;
  }
  const out: TrafficSettings['overrides'] = structuredClone(stored);
  const before = problems.length;
  for (const [rule, levels] of Object.entries(input)) {
    if (!(RULE_NAMES as readonly string[]).includes(rule)) {
      problems.push(`overrides.${rule}: unknown rule; rules are ${RULE_NAMES.join(', ')}`);
      continue;
    }
    const name = rule as RuleName;
    if (levels === null || levels === 'default') {
      delete out[name];
      continue;
    }
    if (!isObject(levels)) {
      problems.push(`overrides.${rule}: must be { warning, critical } (got ${show(levels)})`);
      continue;
    }
    const target: Partial<Thresholds> = { ...(out[name] ?? {}) };
    for (const [level, v] of Object.entries(levels)) {
      if (level !== 'warning' && level !== 'critical') {
        problems.push(`overrides.${rule}.${level}: unknown level; levels are warning and critical`);
        continue;
      }
      if (v === 'default') {
        delete target[level];
        continue;
      }
      const n = thresholdValue(v, RULE_SPECS[name].max, `overrides.${rule}.${level}`, problems);
      if (n !== undefined) target[level] = n;
    }
    if (Object.keys(target).length === 0) delete out[name];
    else out[name] = target;
  }
  return problems.length === before ? out : undefined;
}

/** Warning must trip before critical: for an 'above' rule warning <= critical, for a 'below' rule warning >= critical. */
function orderProblems(settings: TrafficSettings): string[] {
  const problems: string[] = [];
  for (const r of resolveRules(settings)) {
    if (r.warning === null || r.critical === null) continue;
    const ok = r.spec.trips === 'above' ? r.warning <= r.critical : r.warning >= r.critical;
    if (!ok) {
      problems.push(
        `${r.name}: the warning (${r.warning}${r.spec.unit}) must trip before the critical (${r.critical}${r.spec.unit}): ` +
          `warning ${r.spec.trips === 'above' ? '<=' : '>='} critical, since this rule trips ${r.spec.trips === 'above' ? 'at or above' : 'below'} its threshold`,
      );
    }
  }
  return problems;
}

const SETTING_KEYS = ['profile', 'overrides', 'autoSuspend', 'maxCallSeconds', 'fraudRules'] as const;

export type ResolveResult = { ok: true; settings: TrafficSettings; changed: string[] } | { ok: false; problems: string[] };

/**
 * The settings that result from applying `input` (a partial settings object) to `stored` (null: the defaults).
 * Strict: an unknown key, a bad value or an inconsistent result is refused, with every problem listed.
 */
export function resolveTrafficSettings(stored: TrafficSettings | null, input: unknown): ResolveResult {
  const base = stored ?? DEFAULT_TRAFFIC_SETTINGS;
  if (!isObject(input)) return { ok: false, problems: [`traffic settings: must be an object (got ${show(input)})`] };
  const problems: string[] = [];
  const next: TrafficSettings = { ...base, overrides: base.overrides, fraudRules: base.fraudRules };
  const changed: string[] = [];
  for (const key of Object.keys(input)) {
    if (!(SETTING_KEYS as readonly string[]).includes(key)) problems.push(`${key}: unknown traffic setting; settings are ${SETTING_KEYS.join(', ')}`);
  }
  if ('profile' in input) {
    const p = input.profile;
    if (typeof p === 'string' && (PROFILE_NAMES as readonly string[]).includes(p)) next.profile = p as ProfileName;
    else problems.push(`profile: must be one of ${PROFILE_NAMES.join(', ')} (got ${show(p)})`);
  }
  if ('overrides' in input) {
    const o = parseOverrides(input.overrides, base.overrides, problems);
    if (o) next.overrides = o;
  }
  if ('autoSuspend' in input) {
    const a = input.autoSuspend;
    if (typeof a === 'boolean') next.autoSuspend = a;
    else if (a === 'true' || a === 'false') next.autoSuspend = a === 'true';
    else problems.push(`autoSuspend: must be true or false (got ${show(a)})`);
  }
  if ('maxCallSeconds' in input) {
    const m = input.maxCallSeconds;
    const n = typeof m === 'number' ? m : typeof m === 'string' && /^\d{1,6}$/.test(m) ? Number(m) : Number.NaN;
    if (m === null || m === 'off') next.maxCallSeconds = null;
    else if (Number.isSafeInteger(n) && n >= 1 && n <= MAX_CALL_SECONDS_LIMIT) next.maxCallSeconds = n;
    else problems.push(`maxCallSeconds: must be a whole number of seconds from 1 to ${MAX_CALL_SECONDS_LIMIT}, or null / "off" (got ${show(m)})`);
  }
  if ('fraudRules' in input) {
    const r = parseFraudRules(input.fraudRules);
    if (r.ok) next.fraudRules = r.rules;
    else problems.push(...r.problems);
  }
  if (problems.length > 0) return { ok: false, problems };
  const order = orderProblems(next);
  if (order.length > 0) return { ok: false, problems: order };
  for (const key of SETTING_KEYS) if (JSON.stringify(next[key]) !== JSON.stringify(base[key])) changed.push(key);
  return { ok: true, settings: next, changed };
}

/** The stored traffic settings; what cannot be read (never set, or written by another version) is the default. */
export function storedTrafficSettings(json: string): { settings: TrafficSettings; readable: boolean } {
  if (json === '') return { settings: DEFAULT_TRAFFIC_SETTINGS, readable: true };
  try {
    const r = resolveTrafficSettings(null, JSON.parse(json));
    if (r.ok) return { settings: r.settings, readable: true };
  } catch {
    // unreadable JSON: the defaults apply, and the caller says so
  }
  return { settings: DEFAULT_TRAFFIC_SETTINGS, readable: false };
}
