/**
 * An account's traffic for engineers: its figures and rule states (GET /v1/accounts/:id/traffic, `callgate
 * account traffic`), its traffic settings (profile, overrides, autoSuspend, maximum call duration, fraud
 * rules), and the "suspension recommended" mark. Settings are checked by the same pure code whichever edge
 * sends them, and nothing is written when anything is wrong.
 */
import { AccountNotFoundError, ValidationError } from '../accounts/errors.js';
import { idProblem } from '../accounts/input-parsers.js';
import type { Config } from '../config/schema.js';
import type { Engine } from '../redis/engine.js';
import { resolveTrafficSettings, storedTrafficSettings, type TrafficSettings } from './profiles.js';
import { percent, type Figures, type WindowName } from './windows.js';
import { trafficView, WINDOW_NAMES, type TrafficView } from './view.js';

export interface TrafficServiceDeps {
  engine: Pick<Engine, 'readTraffic' | 'prefixDistinct' | 'putTrafficSettings' | 'clearSuspensionRecommendation' | 'liftFraudBlocks'>;
  config: Pick<Config, 'traffic'>;
  now?: () => number;
}

/** Most destination prefixes a traffic view lists per window (the busiest by attempts). */
const MAX_PREFIXES_SHOWN = 50;

const round1 = (n: number | null) => (n === null ? null : Math.round(n * 10) / 10);

/** A window's figures as the API shows them: counts, and ratios in percent to one decimal. */
export function figuresJson(f: Figures) {
  return {
    attempts: f.attempts, answered: f.answered, userEnds: f.userEnds, talkSeconds: Math.round(f.talkMs / 1000), billedSeconds: f.billedSec,
    shortCalls: f.short, zeroSecondCalls: f.zero, distinctNumbers: f.distinct, repeatDials: f.repeats,
    asrPercent: percent(f.asr), nerPercent: percent(f.ner), acdSeconds: round1(f.acdSeconds),
    shortCallPercent: percent(f.shortRatio), zeroSecondPercent: percent(f.zeroRatio),
  };
}

export type WindowJson = ReturnType<typeof figuresJson> & { prefixes: Record<string, ReturnType<typeof figuresJson>> };

export function trafficJson(accountId: string, view: TrafficView, atMs: number) {
  const windows = Object.fromEntries(WINDOW_NAMES.map((w): [WindowName, WindowJson] => {
    const { figures, prefixes } = view.windows[w];
    const busiest = Object.entries(prefixes).sort((a, b) => b[1].attempts - a[1].attempts || a[0].localeCompare(b[0])).slice(0, MAX_PREFIXES_SHOWN);
    return [w, { ...figuresJson(figures), prefixes: Object.fromEntries(busiest.map(([p, f]) => [p, figuresJson(f)])) }];
  }));
  return {
    account: accountId,
    at: new Date(atMs).toISOString(),
    settings: view.settings,
    fraudBlocks: view.fraudBlocks.map((b) => ({ prefix: b.prefix, rule: b.rule, limit: b.limit, until: new Date(b.untilMs).toISOString() })),
    windows: windows as Record<WindowName, WindowJson>,
    rules: view.rules.map((r) => ({
      window: r.window, rule: r.rule, level: r.level, judged: r.judged, value: r.value, threshold: r.threshold,
      alertedLevel: r.alert.level,
    })),
    suspensionRecommended: view.suspensionRecommended
      ? { ...view.suspensionRecommended, at: new Date(view.suspensionRecommended.atMs).toISOString() }
      : null,
  };
}

export type TrafficJson = ReturnType<typeof trafficJson>;

export interface TrafficSummary {
  window: '1h';
  attempts: number;
  answered: number;
  asrPercent: number | null;
  acdSeconds: number | null;
  shortCallPercent: number | null;
  suspensionRecommended: boolean;
}

export function createTrafficService({ engine, config, now = Date.now }: TrafficServiceDeps) {
  function checkId(id: string): void {
    const bad = idProblem(id);
    if (bad) throw new ValidationError([bad]);
  }

  async function readView(id: string, atMs: number): Promise<{ view: TrafficView; exists: boolean }> {
    const read = await engine.readTraffic(id, atMs);
    const prefixes = new Set<string>();
    for (const b of [...read.minuteBuckets, read.dayBucket]) for (const f of Object.keys(b)) if (f !== '*') prefixes.add(f);
    const distinct = prefixes.size > 0 ? await engine.prefixDistinct(id, [...prefixes].slice(0, 500), atMs) : {};
    return { view: trafficView(read, { minAnswered: config.traffic.minAnswered, nowMs: atMs, prefixDistinct: distinct }), exists: read.exists };
  }

  return {
    async getTraffic(id: string): Promise<TrafficJson> {
      checkId(id);
      const at = now();
      const { view, exists } = await readView(id, at);
      if (!exists) throw new AccountNotFoundError(id);
      return trafficJson(id, view, at);
    },

    async putSettings(id: string, input: unknown): Promise<TrafficSettings> {
      const problems: string[] = [];
      const bad = idProblem(id);
      if (bad) problems.push(bad);
      const read = bad ? null : await engine.readTraffic(id, now());
      if (read && !read.exists) throw new AccountNotFoundError(id);
      const stored = read ? storedTrafficSettings(read.settingsJson).settings : null;
      const r = resolveTrafficSettings(stored, input);
      if (!r.ok) problems.push(...r.problems);
      else if (typeof input === 'object' && input !== null && Object.keys(input).length === 0) problems.push('nothing to change: give at least one traffic setting');
      if (problems.length > 0 || !r.ok) throw new ValidationError(problems);
      if (!(await engine.putTrafficSettings(id, JSON.stringify(r.settings)))) throw new AccountNotFoundError(id);
      return r.settings;
    },

    /** The live page's figures of an account: the 1-hour window's ASR, ACD and short calls, and the recommendation. */
    async summary(id: string): Promise<TrafficSummary> {
      const at = now();
      const read = await engine.readTraffic(id, at);
      const view = trafficView(read, { minAnswered: config.traffic.minAnswered, nowMs: at });
      const f = view.windows['1h'].figures;
      return {
        window: '1h', attempts: f.attempts, answered: f.answered, asrPercent: percent(f.asr), acdSeconds: round1(f.acdSeconds),
        shortCallPercent: percent(f.shortRatio), suspensionRecommended: view.suspensionRecommended !== null,
      };
    },

    /** Lifts the fraud block of one prefix, or every block of the account (prefix undefined). */
    async liftBlocks(id: string, prefix: string | undefined): Promise<{ lifted: boolean }> {
      const problems: string[] = [];
      const bad = idProblem(id);
      if (bad) problems.push(bad);
      if (prefix !== undefined && !/^\d{1,16}$/.test(prefix)) problems.push(`prefix: must be 1-16 digits (got ${JSON.stringify(prefix)})`);
      if (problems.length > 0) throw new ValidationError(problems);
      const r = await engine.liftFraudBlocks(id, prefix ?? '');
      if (r === null) throw new AccountNotFoundError(id);
      return { lifted: r };
    },

    async clearRecommendation(id: string): Promise<{ cleared: boolean }> {
      checkId(id);
      const r = await engine.clearSuspensionRecommendation(id);
      if (r === null) throw new AccountNotFoundError(id);
      return { cleared: r };
    },
  };
}

export type TrafficService = ReturnType<typeof createTrafficService>;
