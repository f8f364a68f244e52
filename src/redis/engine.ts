import type { Redis } from './client.js';
import type { Keys } from './keys.js';
import { ScriptCode, UnexpectedScriptReplyError } from './codes.js';
import { loadLuaScript, runScript as runBareScript, type LuaScript, type ScriptCallOptions } from './script.js';
import type { AccountStatus, Disposition, OffReason } from '../model/index.js';
import { decodeCallRecord } from './codecs/call-record.js';
import { ACCOUNT_VIEW_FIELDS, limitsArgs, type AccountLimits } from './codecs/account-hash.js';
import { countsOfCall, type Counts } from '../traffic/windows.js';
import type { FraudCounts } from '../traffic/fraud.js';
import { COUNT_ORDER, endOfUtcDay, isTrafficSample, trafficBuckets, TRAFFIC_READ_MINUTES } from '../traffic/buckets.js';

/** Every script callgate runs, with the number of keys its file name declares. */
export const SCRIPTS = {
  admit: loadLuaScript('admit', 4),
  tick: loadLuaScript('tick', 5),
  finalize: loadLuaScript('finalize', 14),
  admitWatched: loadLuaScript('admit-watched', 7),
  trafficRefusals: loadLuaScript('traffic-refusals', 6),
  trafficRead: loadLuaScript('traffic-read', 124),
  trafficAlert: loadLuaScript('traffic-alert', 4),
  trafficSettings: loadLuaScript('traffic-settings', 2),
  fraudAlert: loadLuaScript('fraud-alert', 3),
  sweep: loadLuaScript('sweep', 12),
  accountPut: loadLuaScript('account-put', 2),
  applyFunds: loadLuaScript('apply-funds', 4),
  setStatus: loadLuaScript('set-status', 2),
  setLimits: loadLuaScript('set-limits', 1),
  accountView: loadLuaScript('account-view', 2),
  catalogWrite: loadLuaScript('catalog-write', 2),
  catalogUnlock: loadLuaScript('catalog-unlock', 1),
} satisfies Record<string, LuaScript>;


export interface AdmitRequest {
  accountId: string;
  callId: string;
  reservation: number;
  /** The call's CDR seed as its codec encodes it (encodeSeed), stored with the call so a sweeper can write its CDR. */
  seed: string;
  /** A destination under a fraud rule: the rule's prefix and the number dialed, counted when the call is admitted. */
  watch?: { prefix: string; number: string };
}

/** How long a live-call entry of a fraud rule counts at most when its call never finalized (its instance died). */
export const FRAUD_LIVE_HORIZON_MS = 4 * 3_600_000;
export type AdmitResult =
  | { outcome: 'admitted'; redisNowMs: number; leaseExpiryMs: number; availableAfter: number; fraud?: FraudCounts }
  | { outcome: 'unknown_account' }
  | { outcome: 'off'; offReason: OffReason }
  | { outcome: 'insufficient_funds'; available: number }
  | { outcome: 'cps_exceeded'; retryAfterMs: number }
  | { outcome: 'channel_limit'; inUse: number }
  | { outcome: 'duplicate_call' };

export interface TickRequest {
  accountId: string;
  callId: string;
  total: number;
  cost: number;
  tax: number;
  billedSec: number;
  talkMs: number;
  answeredAt: number;
  nextReservation: number;
}
export type TickResult =
  | { outcome: 'reserved' | 'short'; held: number; balance: number; leaseExpiryMs: number }
  | { outcome: 'off'; offReason: OffReason; balance: number }
  | { outcome: 'gone' };

export interface FinalizeRequest {
  accountId: string;
  callId: string;
  total: number;
  cost: number;
  tax: number;
  billedSec: number;
  talkMs: number;
  answeredAt: number;
  endedAt: number;
  disposition: Disposition;
  reason: string;
  sipCode: number;
  /** The rated prefix and the dialed number (the CDR seed's), for the account's traffic figures. */
  prefix?: string;
  dialed?: string;
  /** The fraud-rule prefix the call was admitted under (admitCall's `watch`): the call leaves its live count. */
  watchedPrefix?: string;
}
export type FinalizeResult = { outcome: 'finalized'; cdrEntryId: string; balance: number } | { outcome: 'already_finalized' };

export interface SweepResult {
  swept: { callId: string; cdrEntryId: string }[];
}

export type PutResult =
  | { outcome: 'ok'; created: boolean; status: AccountStatus; offReason: OffReason | ''; balance: number }
  | { outcome: 'unknown_account' }
  | { outcome: 'already_exists' };
export type FundsResult =
  | { outcome: 'applied' | 'duplicate'; balance: number; status: AccountStatus; offReason: OffReason | '' }
  | { outcome: 'unknown_account' }
  | { outcome: 'balance_limit'; balance: number }
  /** The payment id was applied within the retention window for `amount`, at `atMs`. */
  | { outcome: 'conflict'; amount: number; atMs: number };

/** Payment ids are remembered this long unless the caller says otherwise (billing.paymentIdRetentionDays). */
export const DEFAULT_PAYMENT_RETENTION_MS = 400 * 86_400_000;

/** When a change happens (updatedAt, and a payment's record time). Default: this process's clock, now. */
export interface ChangeOptions {
  at?: Date;
}
export type StatusResult = { outcome: 'ok'; status: AccountStatus; offReason: OffReason | '' } | { outcome: 'unknown_account' };
export type LimitsResult = { outcome: 'ok'; channels: number; cps: number; burst: number } | { outcome: 'unknown_account' };

/**
 * An account hash (the fields of ACCOUNT_VIEW_FIELDS) and its live calls counted by owning switch, read in one
 * round trip. `liveCalls` is null when the account has more live calls than the script was allowed to count:
 * the caller pages through them.
 */
export type AccountViewResult =
  | { outcome: 'unknown_account' }
  | { outcome: 'ok'; hash: Record<string, string>; liveCalls: { total: number; bySwitch: Record<string, number> } | null };

function asArray(name: string, reply: unknown): unknown[] {
  if (!Array.isArray(reply) || typeof reply[0] !== 'number') throw new UnexpectedScriptReplyError(name, reply);
  return reply;
}
const num = (v: unknown) => Number(v);

export interface EngineDeps {
  redis: Redis;
  keys: Keys;
  switchId: string;
  leaseTtlMs: number;
  /** Called with every script call's latency, answered or failed (`answered` false): the composition root feeds its histogram. */
  observeScript?: (script: string, seconds: number, answered: boolean) => void;
  /** Traffic figures (src/traffic) are kept when given: finalize counts every call it bills. */
  traffic?: { shortCallSeconds: number; maxSamples: number };
}

/** One batch of refused INVITEs of an account to one prefix ('' when refused before rating). */
export interface RefusalBatch {
  accountId: string;
  prefix: string;
  attempts: number;
  /** The numbers dialed (distinct within the batch), at most a few thousand. */
  numbers: string[];
  atMs: number;
}

/** What traffic-read returns, decoded to text: src/traffic turns it into figures. */
export interface TrafficReadResult {
  /** Whether the account exists. */
  exists: boolean;
  settingsJson: string;
  alerts: Record<string, string>;
  distinct: { '15m': number; '1h': number; day: number };
  /** The 60 newest minute buckets, oldest first (field -> packed counts), then the UTC day's. */
  minuteBuckets: Record<string, string>[];
  dayBucket: Record<string, string>;
  /** The account hash's fraudBlocks field ('' when none): src/traffic/guard.ts decodes it. */
  fraudBlocksJson: string;
}

export interface AlertWrite {
  accountId: string;
  field: string;
  expected: string;
  next: string;
  alert: '' | 'warning' | 'critical';
  window: string;
  rule: string;
  value: string;
  threshold: string;
  figuresJson: string;
  autoSuspend: boolean;
  maxSamples: number;
}
export interface FraudAlertWrite {
  accountId: string;
  rule: string;
  limit: string;
  level: 'warning' | 'critical';
  prefix: string;
  value: number;
  threshold: number;
  /** Until when a critical blocks the prefix (ms since the epoch). */
  untilMs: number;
  snoozeMs: number;
}
export type AlertWriteResult = { outcome: 'written'; alerted: boolean; suspended: boolean } | { outcome: 'conflict' } | { outcome: 'unknown_account' };

function flatToRecord(list: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(list)) return out;
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i])] = String(list[i + 1]);
  return out;
}

/**
 * Typed wrappers of the engine's scripts. They encode arguments and decode replies, nothing more: every
 * decision is taken inside the atomic script.
 */
export function createEngine({ redis, keys, switchId, leaseTtlMs, observeScript, traffic }: EngineDeps) {
  const channel = keys.changes;

  const runScript = observeScript
    ? async (r: Redis, script: LuaScript, k: string[], args: (string | number)[], options?: ScriptCallOptions): Promise<unknown> => {
      const started = performance.now();
      let answered = false;
      try {
        const reply = await runBareScript(r, script, k, args, options);
        answered = true;
        return reply;
      } finally {
        observeScript(script.name, (performance.now() - started) / 1000, answered);
      }
    }
    : runBareScript;

  function decodeAdmit(reply: unknown): AdmitResult {
    const r = asArray('admit', reply);
    switch (r[0] as ScriptCode) {
      case ScriptCode.Ok: {
        const admitted = { outcome: 'admitted' as const, redisNowMs: num(r[1]), leaseExpiryMs: num(r[2]), availableAfter: num(r[3]) };
        if (r.length < 8) return admitted;
        return { ...admitted, fraud: { callsPerMinute: num(r[4]), callsPerDay: num(r[5]), repeatDials: num(r[6]), concurrent: num(r[7]) } };
      }
      case ScriptCode.UnknownAccount:
        return { outcome: 'unknown_account' };
      case ScriptCode.AccountOff:
        return { outcome: 'off', offReason: r[1] as OffReason };
      case ScriptCode.InsufficientFunds:
        return { outcome: 'insufficient_funds', available: num(r[1]) };
      case ScriptCode.CpsExceeded:
        return { outcome: 'cps_exceeded', retryAfterMs: num(r[1]) };
      case ScriptCode.ChannelLimit:
        return { outcome: 'channel_limit', inUse: num(r[1]) };
      case ScriptCode.DuplicateCall:
        return { outcome: 'duplicate_call' };
      default:
        throw new UnexpectedScriptReplyError('admit', r);
    }
  }

  /**
   * `timeoutMs` is admission's own bound, shorter than the connection's; `onLateAdmit` receives a call that
   * was admitted after the caller had already been told it failed, for admission to release it.
   */
  async function admitCall(req: AdmitRequest, options: { timeoutMs?: number; onLateAdmit?: (r: AdmitResult) => void } = {}): Promise<AdmitResult> {
    const a = req.accountId;
    const { onLateAdmit } = options;
    const base = [keys.account(a), keys.leases(a, switchId), keys.calls(a), keys.expiry(a)];
    const args: (string | number)[] = [req.callId, switchId, req.reservation, leaseTtlMs, req.seed];
    const w = req.watch;
    let script = SCRIPTS.admit;
    if (w) {
      const b = trafficBuckets(Date.now());
      script = SCRIPTS.admitWatched;
      base.push(keys.fraudMinute(a, w.prefix, b.minute), keys.fraudDay(a, w.prefix, b.day), keys.fraudLive(a, w.prefix));
      args.push(w.number === '' ? '-' : w.number, 120, b.dayTtlS, FRAUD_LIVE_HORIZON_MS);
    }
    const reply = await runScript(
      redis,
      script,
      base,
      args,
      {
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(onLateAdmit ? { onLate: (late: unknown) => { try { onLateAdmit(decodeAdmit(late)); } catch { // an unreadable late reply: the sweeper releases whatever it holds
        } } } : {}),
      },
    );
    return decodeAdmit(reply);
  }

  async function tickCall(req: TickRequest): Promise<TickResult> {
    const a = req.accountId;
    const r = asArray(
      'tick',
      await runScript(
        redis,
        SCRIPTS.tick,
        [keys.account(a), keys.leases(a, switchId), keys.calls(a), keys.expiry(a), keys.events(a)],
        [a, req.callId, req.total, req.cost, req.tax, req.billedSec, req.talkMs, req.answeredAt, req.nextReservation, leaseTtlMs, channel],
      ),
    );
    switch (r[0] as ScriptCode) {
      case ScriptCode.Ok:
      case ScriptCode.Short:
        return {
          outcome: r[0] === ScriptCode.Ok ? 'reserved' : 'short',
          held: num(r[1]),
          balance: num(r[2]),
          leaseExpiryMs: num(r[3]),
        };
      case ScriptCode.AccountOff:
        return { outcome: 'off', offReason: r[1] as OffReason, balance: num(r[2]) };
      case ScriptCode.CallNotFound:
        return { outcome: 'gone' };
      default:
        throw new UnexpectedScriptReplyError('tick', r);
    }
  }

  /** The traffic keys of one account at `atMs`: minute and day buckets, their numbers, the prefix's numbers. */
  function trafficKeys(a: string, prefix: string, atMs: number): string[] {
    const b = trafficBuckets(atMs);
    const p = prefix === '' ? undefined : prefix;
    return [
      keys.trafficBucket(a, 'm', b.minute), keys.trafficBucket(a, 'd', b.day),
      keys.trafficNumbers(a, 'm', b.minute), keys.trafficNumbers(a, 'd', b.day),
      keys.trafficNumbers(a, 'm', b.minute, p), keys.trafficNumbers(a, 'd', b.day, p),
    ];
  }

  function trafficArgs(req: FinalizeRequest): (string | number)[] {
    if (!traffic) return ['', '', '', 0, 0, 0, 0, 0, 0, 0, 0, 0, '', 0];
    const counts: Counts = countsOfCall({ answered: req.answeredAt > 0, disposition: req.disposition, talkMs: req.talkMs, billedSec: req.billedSec }, traffic.shortCallSeconds);
    const b = trafficBuckets(req.endedAt);
    return [
      '1', req.prefix ?? '', req.dialed ?? '', ...COUNT_ORDER.map((k) => counts[k]), b.minuteTtlS, b.dayTtlS,
      isTrafficSample(counts) ? '1' : '', traffic.maxSamples,
    ];
  }

  async function finalizeCall(req: FinalizeRequest): Promise<FinalizeResult> {
    const a = req.accountId;
    const r = asArray(
      'finalize',
      await runScript(
        redis,
        SCRIPTS.finalize,
        [
          keys.account(a), keys.leases(a, switchId), keys.calls(a), keys.expiry(a), keys.cdrs(a), keys.events(a),
          ...trafficKeys(a, req.prefix ?? '', req.endedAt), keys.trafficSamples(a), keys.fraudLive(a, req.watchedPrefix ?? '0'),
        ],
        [
          a,
          req.callId,
          req.total,
          req.cost,
          req.tax,
          req.billedSec,
          req.talkMs,
          req.answeredAt,
          req.endedAt,
          req.disposition,
          req.reason,
          req.sipCode,
          channel,
          ...trafficArgs(req),
          req.watchedPrefix ? '1' : '',
        ],
      ),
    );
    if (r[0] === ScriptCode.AlreadyDone) return { outcome: 'already_finalized' };
    if (r[0] === ScriptCode.Ok) return { outcome: 'finalized', cdrEntryId: String(r[1]), balance: num(r[2]) };
    throw new UnexpectedScriptReplyError('finalize', r);
  }

  /**
   * Sweeps the account's calls whose lease expired (their owner stopped renewing it): reads the earliest
   * `limit` lease expiries and their records, then runs the sweep script once per rated prefix with the
   * counts of each call, so an orphaned call is counted in the traffic figures in the step that writes its
   * CDR. The script itself decides, by Redis time and the record as read, which candidates are swept.
   */
  async function sweepAccount(accountId: string, limit = 100): Promise<SweepResult> {
    const a = accountId;
    const candidates = await redis.zRange(keys.expiry(a), 0, limit - 1);
    if (candidates.length === 0) return { swept: [] };
    const records = await redis.hmGet(keys.calls(a), candidates);
    const byPrefix = new Map<string, (string | number)[]>();
    candidates.forEach((callId, i) => {
      const raw = records[i] ?? null;
      const meter = raw === null ? '' : raw.slice(0, Math.max(0, raw.indexOf('\n')));
      let prefix = '';
      let tail: (string | number)[] = ['', 0, 0, 0, 0, 0, 0, 0, ''];
      if (raw !== null && traffic) {
        try {
          const rec = decodeCallRecord(callId, raw);
          prefix = rec.static.prefix ?? '';
          const counts = countsOfCall({ answered: rec.answeredAt !== null, disposition: 'orphaned', talkMs: rec.talkMs, billedSec: rec.billedSec }, traffic.shortCallSeconds);
          tail = [rec.static.to ?? '', ...COUNT_ORDER.map((k) => counts[k]), isTrafficSample(counts) ? '1' : ''];
        } catch {
          // an unreadable record is still swept (its CDR stands); it is not counted
        }
      }
      const group = byPrefix.get(prefix) ?? [];
      group.push(callId, meter, ...tail);
      byPrefix.set(prefix, group);
    });
    const swept: SweepResult['swept'] = [];
    const now = Date.now();
    const b = trafficBuckets(now);
    for (const [prefix, group] of byPrefix) {
      const r = asArray(
        'sweep',
        await runScript(redis, SCRIPTS.sweep, [
          keys.account(a), keys.calls(a), keys.expiry(a), keys.cdrs(a), keys.events(a), keys.trafficSamples(a),
          ...trafficKeys(a, prefix, now),
        ], [a, channel, switchId, traffic ? '1' : '', prefix, b.minuteTtlS, b.dayTtlS, traffic?.maxSamples ?? 0, ...group]),
      );
      for (let i = 1; i + 1 < r.length; i += 2) swept.push({ callId: String(r[i]), cdrEntryId: String(r[i + 1]) });
    }
    return { swept };
  }

  /**
   * Writes the account's limits and descriptive fields; `fields` must not use the packed names. A limit
   * left undefined keeps its stored value (all are required when the account is created).
   */
  async function putAccount(
    accountId: string,
    limits: Partial<AccountLimits>,
    fields: Record<string, string> = {},
    mode: 'create' | 'update' | 'upsert' = 'upsert',
  ): Promise<PutResult> {
    const pairs = Object.entries(fields).flat();
    const r = asArray(
      'account-put',
      await runScript(redis, SCRIPTS.accountPut, [keys.account(accountId), keys.events(accountId)], [
        accountId,
        channel,
        mode,
        ...limitsArgs(limits),
        ...pairs,
      ]),
    );
    if (r[0] === ScriptCode.UnknownAccount) return { outcome: 'unknown_account' };
    if (r[0] === ScriptCode.AlreadyExists) return { outcome: 'already_exists' };
    return { outcome: 'ok', created: r[1] === 1, status: r[2] as AccountStatus, offReason: r[3] as OffReason | '', balance: num(r[4]) };
  }

  async function applyFunds(
    accountId: string,
    paymentId: string,
    amount: number,
    reenableMinimum: number,
    options: ChangeOptions & { retentionMs?: number } = {},
  ): Promise<FundsResult> {
    const a = accountId;
    const at = options.at ?? new Date();
    const r = asArray(
      'apply-funds',
      await runScript(
        redis,
        SCRIPTS.applyFunds,
        [keys.account(a), keys.payments(a), keys.paymentsByTime(a), keys.events(a)],
        [a, paymentId, amount, reenableMinimum, channel, at.getTime(), options.retentionMs ?? DEFAULT_PAYMENT_RETENTION_MS, at.toISOString()],
      ),
    );
    if (r[0] === ScriptCode.UnknownAccount) return { outcome: 'unknown_account' };
    if (r[0] === ScriptCode.BalanceLimit) return { outcome: 'balance_limit', balance: num(r[1]) };
    if (r[0] === ScriptCode.PaymentConflict) return { outcome: 'conflict', amount: num(r[1]), atMs: num(r[2]) };
    if (r[0] !== ScriptCode.Ok && r[0] !== ScriptCode.Short) throw new UnexpectedScriptReplyError('apply-funds', r);
    return {
      outcome: r[0] === ScriptCode.Ok ? 'applied' : 'duplicate',
      balance: num(r[1]),
      status: r[2] as AccountStatus,
      offReason: r[3] as OffReason | '',
    };
  }

  async function setStatus(accountId: string, status: AccountStatus, note = '', options: ChangeOptions = {}): Promise<StatusResult> {
    const updatedAt = (options.at ?? new Date()).toISOString();
    const r = asArray(
      'set-status',
      await runScript(redis, SCRIPTS.setStatus, [keys.account(accountId), keys.events(accountId)], [accountId, status, channel, note, updatedAt]),
    );
    if (r[0] === ScriptCode.UnknownAccount) return { outcome: 'unknown_account' };
    return { outcome: 'ok', status: r[1] as AccountStatus, offReason: r[2] as OffReason | '' };
  }

  async function setLimits(
    accountId: string,
    limits: { channels?: number; cps?: number; burst?: number },
    options: ChangeOptions = {},
  ): Promise<LimitsResult> {
    const arg = (v?: number) => (v === undefined ? '' : String(v));
    const updatedAt = (options.at ?? new Date()).toISOString();
    const r = asArray(
      'set-limits',
      await runScript(redis, SCRIPTS.setLimits, [keys.account(accountId)], [arg(limits.channels), arg(limits.cps), arg(limits.burst), updatedAt]),
    );
    if (r[0] === ScriptCode.UnknownAccount) return { outcome: 'unknown_account' };
    return { outcome: 'ok', channels: num(r[1]), cps: num(r[2]), burst: num(r[3]) };
  }

  async function readAccountView(accountId: string, maxCounted: number): Promise<AccountViewResult> {
    const r = await runScript(redis, SCRIPTS.accountView, [keys.account(accountId), keys.calls(accountId)], [maxCounted]);
    if (!Array.isArray(r)) throw new UnexpectedScriptReplyError('account-view', r);
    if (r.length === 0) return { outcome: 'unknown_account' };
    const fieldCount = ACCOUNT_VIEW_FIELDS.length;
    const callCount = r[fieldCount];
    const counted = r[fieldCount + 1];
    if (typeof callCount !== 'number' || typeof counted !== 'number' || (r.length - fieldCount) % 2 !== 0) {
      throw new UnexpectedScriptReplyError('account-view', r);
    }
    const hash: Record<string, string> = {};
    for (let i = 0; i < fieldCount; i++) {
      const value: unknown = r[i];
      if (value !== null) hash[ACCOUNT_VIEW_FIELDS[i]!] = String(value);
    }
    if (counted !== 1) return { outcome: 'ok', hash, liveCalls: null };
    const bySwitch: Record<string, number> = {};
    for (let i = fieldCount + 2; i + 1 < r.length; i += 2) bySwitch[String(r[i])] = Number(r[i + 1]);
    return { outcome: 'ok', hash, liveCalls: { total: callCount, bySwitch } };
  }

  /**
   * Writes one catalog entry (null removes it) if `lockToken` still holds the catalog lock; with lockToken ''
   * only while nobody holds it. False when nothing was written.
   */
  async function writeCatalogEntry(lockToken: string, accountId: string, entryJson: string | null): Promise<boolean> {
    const r = asArray('catalog-write', await runScript(redis, SCRIPTS.catalogWrite, [keys.catalog, keys.catalogLock], [lockToken, accountId, entryJson ?? '']));
    return r[0] === ScriptCode.Ok;
  }

  async function releaseCatalogLock(lockToken: string): Promise<boolean> {
    const r = asArray('catalog-unlock', await runScript(redis, SCRIPTS.catalogUnlock, [keys.catalogLock], [lockToken]));
    return r[0] === ScriptCode.Ok;
  }

  async function recordRefusals(batch: RefusalBatch): Promise<void> {
    const b = trafficBuckets(batch.atMs);
    await runScript(redis, SCRIPTS.trafficRefusals, trafficKeys(batch.accountId, batch.prefix, batch.atMs), [
      batch.prefix, batch.attempts, b.minuteTtlS, b.dayTtlS, ...(batch.numbers.length > 0 ? batch.numbers : ['-']),
    ]);
  }

  async function readTraffic(accountId: string, nowMs: number): Promise<TrafficReadResult> {
    const a = accountId;
    const { minute, day } = trafficBuckets(nowMs);
    const minutes = Array.from({ length: TRAFFIC_READ_MINUTES }, (_, i) => minute - TRAFFIC_READ_MINUTES + 1 + i);
    const r = await runScript(redis, SCRIPTS.trafficRead, [
      keys.account(a), keys.trafficAlerts(a),
      ...minutes.map((m) => keys.trafficBucket(a, 'm', m)), ...minutes.map((m) => keys.trafficNumbers(a, 'm', m)),
      keys.trafficBucket(a, 'd', day), keys.trafficNumbers(a, 'd', day),
    ], []);
    if (!Array.isArray(r) || r.length !== 6 + TRAFFIC_READ_MINUTES + 2) throw new UnexpectedScriptReplyError('traffic-read', r);
    return {
      exists: r[0] === 1,
      settingsJson: String(r[1] ?? ''),
      alerts: flatToRecord(r[2]),
      distinct: { '15m': num(r[3]), '1h': num(r[4]), day: num(r[5]) },
      minuteBuckets: r.slice(6, 6 + TRAFFIC_READ_MINUTES).map(flatToRecord),
      dayBucket: flatToRecord(r[6 + TRAFFIC_READ_MINUTES]),
      fraudBlocksJson: String(r[7 + TRAFFIC_READ_MINUTES] ?? ''),
    };
  }

  /** Distinct numbers dialed to each prefix over the given minute and day buckets (the API's per-prefix view). */
  async function prefixDistinct(accountId: string, prefixes: string[], nowMs: number): Promise<Record<string, { '15m': number; '1h': number; day: number }>> {
    const { minute, day } = trafficBuckets(nowMs);
    const out: Record<string, { '15m': number; '1h': number; day: number }> = {};
    await Promise.all(prefixes.map(async (p) => {
      const mk = (from: number) => Array.from({ length: minute - from + 1 }, (_, i) => keys.trafficNumbers(accountId, 'm', from + i, p));
      const [m15, h1, d] = await Promise.all([
        redis.pfCount(mk(minute - 14)), redis.pfCount(mk(minute - TRAFFIC_READ_MINUTES + 1)), redis.pfCount(keys.trafficNumbers(accountId, 'd', day, p)),
      ]);
      out[p] = { '15m': Number(m15), '1h': Number(h1), day: Number(d) };
    }));
    return out;
  }

  async function writeAlertState(w: AlertWrite): Promise<AlertWriteResult> {
    const a = w.accountId;
    const r = asArray('traffic-alert', await runScript(redis, SCRIPTS.trafficAlert, [keys.account(a), keys.trafficAlerts(a), keys.events(a), keys.trafficSamples(a)], [
      a, w.field, w.expected, w.next, w.alert, w.window, w.rule, w.value, w.threshold, w.figuresJson, w.autoSuspend ? '1' : '', channel, w.maxSamples,
    ]));
    if (r[0] === ScriptCode.AlreadyDone) return { outcome: 'conflict' };
    if (r[0] === ScriptCode.UnknownAccount) return { outcome: 'unknown_account' };
    if (r[0] !== ScriptCode.Ok) throw new UnexpectedScriptReplyError('traffic-alert', r);
    return { outcome: 'written', alerted: r[1] === 1, suspended: r[2] === 1 };
  }

  /** Writes the account's traffic settings JSON; false for an unknown account. */
  function trafficSettingsScript(accountId: string, op: 'put' | 'clear' | 'unblock', arg: string, at: Date): Promise<unknown[]> {
    return runScript(redis, SCRIPTS.trafficSettings, [keys.account(accountId), keys.trafficAlerts(accountId)], [op, arg, at.toISOString(), accountId, channel, endOfUtcDay(at.getTime())])
      .then((r) => asArray('traffic-settings', r));
  }

  /** Writes the account's traffic settings JSON and announces it; false for an unknown account. */
  async function putTrafficSettings(accountId: string, json: string, options: ChangeOptions = {}): Promise<boolean> {
    const r = await trafficSettingsScript(accountId, 'put', json, options.at ?? new Date());
    return r[0] === ScriptCode.Ok;
  }

  /** Lifts the account's fraud block of one prefix ('' for all of them): whether one was lifted, null for an unknown account. */
  async function liftFraudBlocks(accountId: string, prefix: string): Promise<boolean | null> {
    const r = await trafficSettingsScript(accountId, 'unblock', prefix, new Date());
    return r[0] === ScriptCode.Ok ? r[1] === 1 : null;
  }

  /** A fraud rule's level reached by an admitted call (fraud-alert): the event once per snooze, and a critical's block. */
  async function writeFraudAlert(w: FraudAlertWrite): Promise<{ alerted: boolean; blocked: boolean } | null> {
    const a = w.accountId;
    const r = asArray('fraud-alert', await runScript(redis, SCRIPTS.fraudAlert, [keys.account(a), keys.trafficAlerts(a), keys.events(a)], [
      a, `fraud|${w.rule}|${w.limit}`, w.level, w.rule, w.limit, w.prefix, w.value, w.threshold, w.untilMs, w.snoozeMs, channel,
    ]));
    if (r[0] === ScriptCode.UnknownAccount) return null;
    if (r[0] !== ScriptCode.Ok) throw new UnexpectedScriptReplyError('fraud-alert', r);
    return { alerted: r[1] === 1, blocked: r[2] === 1 };
  }

  async function clearSuspensionRecommendation(accountId: string): Promise<boolean | null> {
    const r = await trafficSettingsScript(accountId, 'clear', '', new Date());
    return r[0] === ScriptCode.Ok ? r[1] === 1 : null;
  }


  return {
    putTrafficSettings, clearSuspensionRecommendation, liftFraudBlocks, writeFraudAlert,
    recordRefusals, readTraffic, prefixDistinct, writeAlertState,
    admitCall, tickCall, finalizeCall, sweepAccount, putAccount, applyFunds, setStatus, setLimits, readAccountView,
    writeCatalogEntry, releaseCatalogLock,
  };
}

export type Engine = ReturnType<typeof createEngine>;
