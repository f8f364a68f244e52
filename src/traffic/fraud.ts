/**
 * Fraud rules per destination prefix (premium-rate or high-cost ranges): caps on calls per minute,
 * concurrent calls, calls per UTC day and dials of one number per UTC day, each with a warning and a critical
 * level, optionally only in some hours of the UTC day and some days of the week. Pure: parsing, choosing the
 * rule of a destination, judging a call's counts, and how long a critical blocks the prefix.
 *
 * A level is reached when the count, this call included, is at or above it: with a critical of 10 calls per
 * minute the tenth call of the minute is admitted and blocks the prefix, the eleventh is refused.
 */
import { ID_PATTERN } from '../config/schema.js';
import { endOfUtcDay } from './buckets.js';

export const FRAUD_LIMITS = ['calls_per_minute', 'concurrent_calls', 'calls_per_day', 'repeat_dials'] as const;
export type FraudLimit = (typeof FRAUD_LIMITS)[number];

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface FraudLevels {
  warning: number | null;
  critical: number | null;
}

export interface FraudRule {
  /** Names the rule in the 403's Reason, events and the API: [A-Za-z0-9_.-]{1,64}, unique per account. */
  name: string;
  /** Destination prefix (digits, as rated: after the tech prefix), 1-16 digits. */
  prefix: string;
  /** UTC hours the rule applies in: from (0-23) inclusive to (1-24) exclusive; from > to wraps midnight. Absent: all day. */
  hours?: { from: number; to: number };
  /** Days of the week (UTC) it applies on. Absent: every day. */
  days?: Weekday[];
  limits: Partial<Record<FraudLimit, FraudLevels>>;
}

/** The counts of a rule's prefix when a call under it was admitted, this call included (admit-watched). */
export interface FraudCounts {
  callsPerMinute: number;
  callsPerDay: number;
  repeatDials: number;
  concurrent: number;
}

export const MAX_FRAUD_RULES = 100;
const MAX_LIMIT = 1_000_000;

const COUNT_OF: Record<FraudLimit, keyof FraudCounts> = {
  calls_per_minute: 'callsPerMinute',
  concurrent_calls: 'concurrent',
  calls_per_day: 'callsPerDay',
  repeat_dials: 'repeatDials',
};

const show = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function wholeIn(v: unknown, min: number, max: number): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,7}$/.test(v) ? Number(v) : Number.NaN;
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

function parseRule(input: unknown, where: string, problems: string[]): FraudRule | undefined {
  if (!isObject(input)) {
    problems.push(`${where}: must be an object { name, prefix, limits, hours?, days? } (got ${show(input)})`);
    return undefined;
  }
  const before = problems.length;
  for (const k of Object.keys(input)) {
    if (!['name', 'prefix', 'hours', 'days', 'limits'].includes(k)) problems.push(`${where}.${k}: unknown field; fields are name, prefix, hours, days, limits`);
  }
  const { name, prefix, hours, days, limits } = input;
  if (typeof name !== 'string' || !ID_PATTERN.test(name)) problems.push(`${where}.name: must be 1-64 characters from A-Z a-z 0-9 _ . - (got ${show(name)})`);
  if (typeof prefix !== 'string' || !/^\d{1,16}$/.test(prefix)) problems.push(`${where}.prefix: must be 1-16 digits (got ${show(prefix)})`);
  const rule: FraudRule = { name: name as string, prefix: prefix as string, limits: {} };
  if (hours !== undefined && hours !== null) {
    const from = isObject(hours) ? wholeIn(hours.from, 0, 23) : undefined;
    const to = isObject(hours) ? wholeIn(hours.to, 1, 24) : undefined;
    const extra = isObject(hours) ? Object.keys(hours).filter((k) => k !== 'from' && k !== 'to') : [];
    if (from === undefined || to === undefined || from === to || extra.length > 0) {
      problems.push(`${where}.hours: must be { from: 0-23, to: 1-24 } in UTC, from != to (from > to wraps midnight) (got ${show(hours)})`);
    } else rule.hours = { from, to };
  }
  if (days !== undefined && days !== null) {
    if (!Array.isArray(days) || days.length === 0 || days.some((d) => !(WEEKDAYS as readonly unknown[]).includes(d)) || new Set(days).size !== days.length) {
      problems.push(`${where}.days: must be a non-empty list of distinct days from ${WEEKDAYS.join(', ')} (got ${show(days)})`);
    } else rule.days = days as Weekday[];
  }
  if (!isObject(limits) || Object.keys(limits).length === 0) {
    problems.push(`${where}.limits: must be an object with at least one of ${FRAUD_LIMITS.join(', ')} (got ${show(limits)})`);
  } else {
    for (const [limit, levels] of Object.entries(limits)) {
      const at = `${where}.limits.${limit}`;
      if (!(FRAUD_LIMITS as readonly string[]).includes(limit)) {
        problems.push(`${at}: unknown limit; limits are ${FRAUD_LIMITS.join(', ')}`);
        continue;
      }
      if (!isObject(levels) || Object.keys(levels).some((k) => k !== 'warning' && k !== 'critical')) {
        problems.push(`${at}: must be { warning, critical } (got ${show(levels)})`);
        continue;
      }
      const out: FraudLevels = { warning: null, critical: null };
      for (const level of ['warning', 'critical'] as const) {
        const v = levels[level];
        if (v === undefined || v === null || v === 'off') continue;
        const n = wholeIn(v, 1, MAX_LIMIT);
        if (n === undefined) problems.push(`${at}.${level}: must be a whole number from 1 to ${MAX_LIMIT}, or null / "off" (got ${show(v)})`);
        else out[level] = n;
      }
      if (out.warning === null && out.critical === null) problems.push(`${at}: give a warning or a critical level`);
      else if (out.warning !== null && out.critical !== null && out.warning > out.critical) {
        problems.push(`${at}: the warning (${out.warning}) must not be above the critical (${out.critical})`);
      }
      rule.limits[limit as FraudLimit] = out;
    }
  }
  return problems.length === before ? rule : undefined;
}

/** An account's whole list of fraud rules (it replaces the stored list), or every problem in it. */
export function parseFraudRules(input: unknown): { ok: true; rules: FraudRule[] } | { ok: false; problems: string[] } {
  if (!Array.isArray(input)) return { ok: false, problems: [`fraudRules: must be a list of rules (got ${show(input)})`] };
  if (input.length > MAX_FRAUD_RULES) return { ok: false, problems: [`fraudRules: at most ${MAX_FRAUD_RULES} rules per account (got ${input.length})`] };
  const problems: string[] = [];
  const rules: FraudRule[] = [];
  input.forEach((r, i) => {
    const rule = parseRule(r, `fraudRules[${i}]`, problems);
    if (rule) rules.push(rule);
  });
  const names = new Set<string>();
  for (const r of rules) {
    if (names.has(r.name)) problems.push(`fraudRules: the name ${JSON.stringify(r.name)} is used twice`);
    names.add(r.name);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, rules };
}

/** Whether the rule applies at `atMs` (its UTC hours and days). */
export function ruleActive(rule: FraudRule, atMs: number): boolean {
  const d = new Date(atMs);
  if (rule.days && !rule.days.includes(WEEKDAYS[d.getUTCDay()]!)) return false;
  if (rule.hours) {
    const h = d.getUTCHours();
    const { from, to } = rule.hours;
    if (from < to ? h < from || h >= to : h < from && h >= to) return false;
  }
  return true;
}

/**
 * The rule that watches a call to `destination` at `atMs`: among the active rules whose prefix starts the
 * destination, the longest prefix (the first listed of equal ones). A call is counted under one rule only.
 */
export function ruleFor(rules: readonly FraudRule[], destination: string, atMs: number): FraudRule | undefined {
  let best: FraudRule | undefined;
  for (const r of rules) {
    if (!destination.startsWith(r.prefix) || !ruleActive(r, atMs)) continue;
    if (!best || r.prefix.length > best.prefix.length) best = r;
  }
  return best;
}

export interface FraudVerdict {
  limit: FraudLimit;
  level: 'warning' | 'critical';
  value: number;
  threshold: number;
}

/** Each limit of the rule that the counts reach, at its highest level reached. */
export function judgeFraud(rule: FraudRule, counts: FraudCounts): FraudVerdict[] {
  const out: FraudVerdict[] = [];
  for (const limit of FRAUD_LIMITS) {
    const levels = rule.limits[limit];
    if (!levels) continue;
    const value = counts[COUNT_OF[limit]];
    if (levels.critical !== null && value >= levels.critical) out.push({ limit, level: 'critical', value, threshold: levels.critical });
    else if (levels.warning !== null && value >= levels.warning) out.push({ limit, level: 'warning', value, threshold: levels.warning });
  }
  return out;
}

const MINUTE_MS = 60_000;
/** How long a critical of concurrent calls blocks: the calls up now are not counted down one by one. */
export const CONCURRENT_BLOCK_MS = 60_000;

/** Until when a critical of `limit` reached at `atMs` blocks the prefix: until its window passes. */
export function blockUntil(limit: FraudLimit, atMs: number): number {
  switch (limit) {
    case 'calls_per_minute':
      return (Math.floor(atMs / MINUTE_MS) + 1) * MINUTE_MS;
    case 'calls_per_day':
    case 'repeat_dials':
      return endOfUtcDay(atMs);
    case 'concurrent_calls':
      return atMs + CONCURRENT_BLOCK_MS;
  }
}

/** A block of one (account, prefix): stored as `until|rule|limit` (src/traffic/blocks). */
export interface FraudBlock {
  prefix: string;
  rule: string;
  limit: FraudLimit;
  untilMs: number;
}

export function encodeBlock(b: FraudBlock): string {
  return `${b.untilMs}|${b.rule}|${b.limit}`;
}

export function decodeBlock(prefix: string, text: string): FraudBlock | undefined {
  const [until, rule, limit] = text.split('|');
  const untilMs = Number(until);
  if (!Number.isSafeInteger(untilMs) || !rule || !(FRAUD_LIMITS as readonly string[]).includes(limit ?? '')) return undefined;
  return { prefix, rule, limit: limit as FraudLimit, untilMs };
}
