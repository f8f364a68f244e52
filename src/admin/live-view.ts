/**
 * The live view: a small read-only web page for engineers, and the one JSON route it reads.
 *
 *   GET /live        the page: one self-contained HTML document (live/page.html with its CSS and vanilla JS
 *                    inlined, no framework, no CDN, no bundler; charts are inline SVG drawn by its own code). Served WITHOUT the
 *                    token, because it holds no data at all: its script asks for the admin token (kept in
 *                    the tab's sessionStorage only), then reads GET /v1/live with `Authorization: Bearer`.
 *                    A strict Content-Security-Policy (hashes of the inline script and style, connect-src
 *                    'self', no framing) keeps the token from leaving for any other origin.
 *   GET /v1/live     (token) everything the page shows, in one call: per-account rows (status, channels in
 *                    use in all and per switch, recent CPS, funds, burn rate, estimated depletion), ranked by
 *                    live calls then id and paged (?limit=1-200, default 200; ?offset=), and this instance's
 *                    admits and refusals by reason over the last 10 minutes, in 10 s buckets.
 *
 * Account figures are computed exactly as GET /v1/accounts/:id/usage computes them (same decoders, same
 * depletion estimate, same recent-CPS window), so the two always agree.
 *
 * The time series is per instance: callgate_invites_total{outcome,reason} is a cumulative counter of the
 * INVITEs this process answered, and a ring of its 10 s deltas is kept here, sampled on an unref'd timer.
 * Other switches' traffic is in their own live views (or in Prometheus, summed).
 */
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../accounts/errors.js';
import { accountFundsView } from './account-view.js';
import { accountFromHash } from '../accounts/hash-codec.js';
import { wholeNumber } from '../accounts/input-parsers.js';
import { REJECT_REASONS, type RejectReason } from '../config/schema.js';
import { formatUsd } from '../rating/money.js';
import { RECENT_CPS_WINDOW_SECONDS } from './call-routes.js';
import { countBySwitch, mapBounded, readAccountCalls, type CallRecord } from './calls.js';
import { catalogAccountIds, type RouteContext } from './context.js';
import { livePage } from './live/served-page.js';
import type { Metrics } from '../metrics/metrics.js';
import type { TrafficService } from '../traffic/service.js';

/** How often the page reads /v1/live. */
export const LIVE_REFRESH_SECONDS = 3;
/** Width of one bucket of the admits/refusals series, and how often the counter is sampled. */
export const SERIES_BUCKET_SECONDS = 10;
/** How far back the series goes. */
export const SERIES_WINDOW_SECONDS = 600;
/** Most account rows in one /v1/live answer (and its default). */
export const LIVE_MAX_ACCOUNTS = 200;

/** What an engineer reads for each refusal reason (the closed set of callgate_invites_total's `reason`). */
export const REJECT_REASON_LABELS = {
  unknown_account: 'Unknown source',
  ambiguous_account: 'Ambiguous source',
  no_rate: 'No rate for destination',
  off_manual: 'Account OFF (manual)',
  off_funds: 'Account OFF (funds)',
  insufficient_funds: 'Insufficient funds',
  cps_exceeded: 'CPS exceeded',
  channel_limit: 'Channel limit',
  unavailable: 'Redis unavailable',
  invalid_request_uri: 'Password in Request-URI',
  number_too_long: 'Number too long',
  overloaded: 'Overload shed',
  fraud_blocked: 'Fraud rule block',
} as const satisfies Record<RejectReason, string>;

// ------------------------------------------------------------------------------------------ the series

/** One value of callgate_invites_total, as prom-client's `counter.get()` lists them. */
export interface InviteCount {
  labels: Partial<Record<'outcome' | 'reason', string | number>>;
  value: number;
}

export interface InviteBucket {
  /** Epoch ms of the previous sample. */
  start: number;
  /** Epoch ms of this sample. */
  end: number;
  admitted: number;
  rejected: Record<RejectReason, number>;
}

export interface InviteSeriesJson {
  scope: 'instance';
  switchId: string;
  bucketSeconds: number;
  windowSeconds: number;
  /** When sampling began (ISO); null before the first sample. The window is not full before since + window. */
  since: string | null;
  reasons: { reason: RejectReason; label: string }[];
  totals: { admitted: number; rejected: Record<RejectReason, number> };
  buckets: { start: string; end: string; admitted: number; rejected: Record<RejectReason, number> }[];
}

export interface InviteSeriesDeps {
  /** The counter's current values (cumulative). */
  read: () => Promise<readonly InviteCount[]>;
  /** Wall clock, epoch ms. */
  now: () => number;
  bucketMs?: number;
  windowMs?: number;
}

const zeroReasons = (): Record<RejectReason, number> =>
  Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;

const isRejectReason = (r: unknown): r is RejectReason => (REJECT_REASONS as readonly unknown[]).includes(r);

/** Samples closer together than this (a forced sample right after the timer's) fold into the last bucket. */
const MERGE_WITHIN_MS = 1_000;

/**
 * A ring of deltas of the cumulative INVITE counter. The first sample is the baseline; each later one adds a
 * bucket of what happened since the one before. A counter that went down (a reset) counts from zero.
 */
export function createInviteSeries(deps: InviteSeriesDeps) {
  const bucketMs = deps.bucketMs ?? SERIES_BUCKET_SECONDS * 1000;
  const windowMs = deps.windowMs ?? SERIES_WINDOW_SECONDS * 1000;
  const maxBuckets = Math.ceil(windowMs / bucketMs) * 4; // a hard cap, whatever the sampling rhythm
  let previous: Map<string, number> | null = null;
  let lastAt = 0;
  let since: number | null = null;
  const buckets: InviteBucket[] = [];
  let queue: Promise<void> = Promise.resolve();

  async function sampleOnce(): Promise<void> {
    const values = await deps.read();
    const at = deps.now();
    const current = new Map<string, number>();
    for (const v of values) current.set(`${v.labels.outcome ?? ''}|${v.labels.reason ?? ''}`, v.value);
    if (previous === null) {
      previous = current;
      lastAt = at;
      since = at;
      return;
    }
    const delta = (key: string) => {
      const now = current.get(key) ?? 0;
      const before = previous!.get(key) ?? 0;
      return now >= before ? now - before : now;
    };
    const bucket: InviteBucket = { start: lastAt, end: at, admitted: 0, rejected: zeroReasons() };
    for (const key of current.keys()) {
      const [outcome, reason] = key.split('|');
      if (outcome === 'admitted') bucket.admitted += delta(key);
      else if (outcome === 'rejected' && isRejectReason(reason)) bucket.rejected[reason] += delta(key);
    }
    previous = current;
    const last = buckets.at(-1);
    if (last && at - last.end < MERGE_WITHIN_MS) {
      last.end = Math.max(last.end, at);
      last.admitted += bucket.admitted;
      for (const r of REJECT_REASONS) last.rejected[r] += bucket.rejected[r];
    } else {
      buckets.push(bucket);
    }
    lastAt = Math.max(lastAt, at);
    while (buckets.length > 0 && (buckets[0]!.end <= at - windowMs || buckets.length > maxBuckets)) buckets.shift();
  }

  return {
    bucketMs,
    windowMs,
    /** Reads the counter once; concurrent calls run one after the other. */
    sample(): Promise<void> {
      queue = queue.then(sampleOnce, sampleOnce);
      return queue;
    },
    /** The buckets still inside the window at `nowMs`, oldest first. */
    buckets(nowMs: number): InviteBucket[] {
      return buckets.filter((b) => b.end > nowMs - windowMs).map((b) => ({ ...b, rejected: { ...b.rejected } }));
    },
    since: () => since,
  };
}

export type InviteSeries = ReturnType<typeof createInviteSeries>;

export function inviteSeriesJson(series: InviteSeries, switchId: string, nowMs: number): InviteSeriesJson {
  const buckets = series.buckets(nowMs);
  const totals = { admitted: 0, rejected: zeroReasons() };
  for (const b of buckets) {
    totals.admitted += b.admitted;
    for (const r of REJECT_REASONS) totals.rejected[r] += b.rejected[r];
  }
  const since = series.since();
  return {
    scope: 'instance',
    switchId,
    bucketSeconds: series.bucketMs / 1000,
    windowSeconds: series.windowMs / 1000,
    since: since === null ? null : new Date(since).toISOString(),
    reasons: REJECT_REASONS.map((reason) => ({ reason, label: REJECT_REASON_LABELS[reason] })),
    totals,
    buckets: buckets.map((b) => ({
      start: new Date(b.start).toISOString(),
      end: new Date(b.end).toISOString(),
      admitted: b.admitted,
      rejected: b.rejected,
    })),
  };
}

// ------------------------------------------------------------------------------------------ the routes

/** What registerLiveView adds to the admin server (as `server.liveView`). */
export interface LiveView {
  /** Samples the INVITE counter now (the timer does it every 10 s); the first sample is the baseline. */
  sample(): Promise<void>;
  series: InviteSeries;
}

declare module 'fastify' {
  interface FastifyInstance {
    liveView: LiveView;
  }
}

const text = { type: 'string' } as const;
const integer = { type: 'integer' } as const;
const nullableText = { type: ['string', 'null'] } as const;
const nullableInteger = { type: ['integer', 'null'] } as const;
const nullableNumber = { type: ['number', 'null'] } as const;
const counts = { type: 'object', additionalProperties: integer } as const;
const money = (name: string) => ({ [name]: integer, [`${name}Usd`]: text });

const liveRow = {
  type: 'object',
  properties: {
    accountId: text,
    name: text,
    type: text,
    status: text,
    offReason: nullableText,
    ...money('balance'),
    ...money('reserved'),
    ...money('available'),
    ...money('creditLimit'),
    channels: { type: 'object', properties: { limitPerSwitch: integer, total: integer, thisSwitch: integer, bySwitch: counts } },
    cps: { type: 'object', properties: { limit: integer, burst: integer, recent: { type: 'number' } } },
    burn: { type: 'object', properties: { perHour: integer, perHourUsd: text } },
    depletion: { type: 'object', properties: { secondsToDepletion: nullableInteger, depletesAt: nullableText } },
    traffic: {
      type: 'object',
      properties: {
        window: text, attempts: integer, answered: integer, asrPercent: nullableNumber, acdSeconds: nullableNumber,
        shortCallPercent: nullableNumber, suspensionRecommended: { type: 'boolean' },
      },
    },
  },
} as const;

const liveSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      limit: { ...text, description: `whole number 1-${LIVE_MAX_ACCOUNTS} (default ${LIVE_MAX_ACCOUNTS})` },
      offset: { ...text, description: 'whole number (default 0): rows skipped in the ranking' },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        switchId: text,
        at: text,
        refreshSeconds: integer,
        accounts: {
          type: 'object',
          properties: {
            total: integer,
            liveCalls: integer,
            offset: integer,
            limit: integer,
            cpsWindowSeconds: integer,
            rows: { type: 'array', items: liveRow },
          },
        },
        series: {
          type: 'object',
          properties: {
            scope: text,
            switchId: text,
            bucketSeconds: integer,
            windowSeconds: integer,
            since: nullableText,
            reasons: { type: 'array', items: { type: 'object', properties: { reason: text, label: text } } },
            totals: { type: 'object', properties: { admitted: integer, rejected: counts } },
            buckets: {
              type: 'array',
              items: { type: 'object', properties: { start: text, end: text, admitted: integer, rejected: counts } },
            },
          },
        },
      },
    },
  },
} as const;

const rowsLimit = wholeNumber(1, LIVE_MAX_ACCOUNTS);
const rowsOffset = wholeNumber(0, 1_000_000_000);

/** Registers GET /live (public) and GET /v1/live (token) on the admin server, and the series sampler. */
export function registerLiveView(
  server: FastifyInstance, ctx: RouteContext, metrics: Pick<Metrics, 'invites'>, traffic?: Pick<TrafficService, 'summary'>,
): void {
  const { redis, keys, bounded } = ctx;
  const switchId = ctx.config.switchId;
  const series = createInviteSeries({ read: async () => (await metrics.invites.get()).values, now: () => ctx.now() });
  const sample = () => series.sample();
  server.decorate('liveView', { sample, series } satisfies LiveView);

  let timer: NodeJS.Timeout | undefined;
  server.addHook('onReady', async () => {
    await sample(); // the baseline: what was counted before the server was ready is not "recent"
    timer = setInterval(() => {
      sample().catch((err: unknown) => ctx.logger.warn({ err }, 'live view: sampling callgate_invites_total failed'));
    }, series.bucketMs);
    timer.unref();
  });
  server.addHook('onClose', async () => {
    clearInterval(timer);
  });

  server.get('/live', { config: { public: true } }, async (_request, reply) => {
    return reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', livePage.contentSecurityPolicy)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      .header('cache-control', 'no-cache')
      .send(livePage.html);
  });

  server.get<{ Querystring: { limit?: string; offset?: string } }>('/v1/live', { schema: liveSchema }, async (request) => {
    const limit = rowsLimit.safeParse(request.query.limit ?? LIVE_MAX_ACCOUNTS);
    const offset = rowsOffset.safeParse(request.query.offset ?? 0);
    const problems = [
      ...(limit.success ? [] : limit.error.issues.map((i) => `limit: ${i.message}`)),
      ...(offset.success ? [] : offset.error.issues.map((i) => `offset: ${i.message}`)),
    ];
    if (problems.length > 0) throw new ValidationError(problems);

    const { ranked, rows } = await bounded(async () => {
      // rank every account by its live calls (one HLEN each), then read only the page in full
      const ids = await catalogAccountIds(ctx);
      const liveCounts = await mapBounded(ids, ctx.scanConcurrency, async (id) => ({ id, live: await redis.hLen(keys.calls(id)) }));
      liveCounts.sort((a, b) => b.live - a.live || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const page = liveCounts.slice(offset.data!, offset.data! + limit.data!);
      const read = await mapBounded(page, ctx.scanConcurrency, async ({ id }) => {
        const [hash, live, figures] = await Promise.all([
          redis.hGetAll(keys.account(id)) as Promise<Record<string, string>>,
          readAccountCalls(redis, keys, id),
          traffic ? traffic.summary(id) : Promise.resolve(undefined),
        ]);
        return { id, hash, records: live.records, unreadable: live.unreadable, figures };
      });
      return { ranked: liveCounts, rows: read };
    });

    const nowMs = ctx.now();
    const windowMs = RECENT_CPS_WINDOW_SECONDS * 1000;
    const recentInvites = (records: readonly CallRecord[]) =>
      records.filter((r) => {
        const at = r.static.invitedAt;
        return at !== null && at > nowMs - windowMs && at <= nowMs + 1000;
      }).length;

    const out = [];
    for (const { id, hash, records, unreadable, figures } of rows) {
      if (Object.keys(hash).length === 0) continue; // gone between the ranking and the read
      if (unreadable > 0) ctx.logger.warn({ accountId: id, unreadable }, 'live call records that could not be decoded were skipped');
      const account = accountFromHash(id, hash);
      const funds = accountFundsView(account, hash, nowMs);
      const bySwitch = countBySwitch(records);
      out.push({
        accountId: id,
        name: account.name,
        type: account.type,
        ...funds.fields,
        creditLimit: account.creditLimit,
        creditLimitUsd: formatUsd(account.creditLimit),
        channels: { limitPerSwitch: account.channels, total: records.length, thisSwitch: bySwitch[switchId] ?? 0, bySwitch },
        cps: { limit: account.cps, burst: account.burst, recent: recentInvites(records) / RECENT_CPS_WINDOW_SECONDS },
        burn: { perHour: funds.estimate.burnPerHour, perHourUsd: formatUsd(funds.estimate.burnPerHour) },
        depletion: funds.depletion,
        ...(figures ? { traffic: figures } : {}),
      });
    }

    return {
      switchId,
      at: new Date(nowMs).toISOString(),
      refreshSeconds: LIVE_REFRESH_SECONDS,
      accounts: {
        total: ranked.length,
        liveCalls: ranked.reduce((sum, r) => sum + r.live, 0),
        offset: offset.data!,
        limit: limit.data!,
        cpsWindowSeconds: RECENT_CPS_WINDOW_SECONDS,
        rows: out,
      },
      series: inviteSeriesJson(series, switchId, nowMs),
    };
  });
}
