/**
 * The live view's routes over real HTTP against a real Redis (single node and cluster): GET /live is public
 * and holds no data, GET /v1/live needs the token, and its account figures are exactly those of
 * GET /v1/accounts/:id/usage. The INVITE series (a ring of deltas of callgate_invites_total) is checked on
 * its own with a fake counter and clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { describeOnRedis } from '../helpers/context.js';
import { freshSourceIps } from '../helpers/fixtures.js';
import { createAccountService, type AccountInput, type AccountService } from '../../src/accounts/index.js';
import type { AdmittedSeed } from '../../src/model/index.js';
import { REJECT_REASONS } from '../../src/config/schema.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';
import {
  LIVE_MAX_ACCOUNTS,
  REJECT_REASON_LABELS,
  createInviteSeries,
  inviteSeriesJson,
  type InviteCount,
} from '../../src/admin/live-view.js';
import { createEngine } from '../../src/redis/engine.js';
import { startTestAdmin } from '../helpers/admin-server.js';

const TOKEN = 'live-view-test-token-5b1e0c77';
const DECK_CSV = 'prefix,rate_per_min,first_increment,next_increment,connect_fee\n1,0.01,6,6,\n44,0.02,60,60,0.05\n';

let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;

// fresh addresses on every spread: accounts may not share an address (see freshSourceIps)
const base: AccountInput = {
  type: 'prepaid', name: 'Live Co', channels: 4, cps: '5', billingCountry: 'US', deckId: 'std',
  get ips() {
    return freshSourceIps();
  },
};

function staticCdr(accountId: string, invitedAt: number): AdmittedSeed {
  return {
    sipCallId: `sip-${uniq('c')}`, accountId, from: '15551230000', to: '442071234567', srcIp: '192.0.2.10', invitedAt,
    prefix: '44', ratePerMin: 20_000, connectFee: 50_000, firstIncrement: 60, nextIncrement: 60, taxExempt: false,
  };
}

async function get(url: string, token: string | null = TOKEN, authorization?: string) {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.authorization = authorization;
  else if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { headers });
  const text = await res.text();
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- bodies are checked field by field
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

// ------------------------------------------------------------------------------------------ the series

describe('live view: INVITE series', () => {
  function fakeCounter() {
    const values = new Map<string, number>();
    const key = (outcome: string, reason: string) => `${outcome}|${reason}`;
    return {
      inc(outcome: string, reason: string, by = 1) {
        values.set(key(outcome, reason), (values.get(key(outcome, reason)) ?? 0) + by);
      },
      set(outcome: string, reason: string, value: number) {
        values.set(key(outcome, reason), value);
      },
      read: async (): Promise<InviteCount[]> =>
        [...values].map(([k, value]) => {
          const [outcome, reason] = k.split('|');
          return { labels: { outcome, reason }, value };
        }),
    };
  }

  it('keeps deltas per bucket after a baseline, counts a reset from zero, and forgets buckets past the window', async () => {
    const counter = fakeCounter();
    let clock = 1_700_000_000_000;
    const series = createInviteSeries({ read: counter.read, now: () => clock, bucketMs: 10_000, windowMs: 60_000 });
    counter.inc('admitted', 'none', 7); // before the baseline: not recent
    await series.sample();
    expect(series.buckets(clock)).toEqual([]);
    expect(series.since()).toBe(clock);

    counter.inc('admitted', 'none', 3);
    counter.inc('rejected', 'cps_exceeded', 2);
    counter.inc('rejected', 'made_up_reason', 5); // outside the closed set: ignored
    clock += 10_000;
    await series.sample();
    let b = series.buckets(clock);
    expect(b).toHaveLength(1);
    expect(b[0]).toMatchObject({ start: clock - 10_000, end: clock, admitted: 3 });
    expect(b[0]!.rejected).toEqual({ ...Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])), cps_exceeded: 2 });

    // a sample right after another folds into the same bucket
    counter.inc('rejected', 'channel_limit', 1);
    clock += 200;
    await series.sample();
    b = series.buckets(clock);
    expect(b).toHaveLength(1);
    expect(b[0]).toMatchObject({ end: clock, admitted: 3 });
    expect(b[0]!.rejected.channel_limit).toBe(1);

    // a restarted counter (lower than before) counts what it has now
    counter.set('admitted', 'none', 4);
    clock += 10_000;
    await series.sample();
    expect(series.buckets(clock).at(-1)!.admitted).toBe(4);

    const json = inviteSeriesJson(series, 'sw-x', clock);
    expect(json).toMatchObject({ scope: 'instance', switchId: 'sw-x', bucketSeconds: 10, windowSeconds: 60, totals: { admitted: 7 } });
    expect(json.totals.rejected).toMatchObject({ cps_exceeded: 2, channel_limit: 1 });
    expect(json.reasons.map((r) => r.reason)).toEqual([...REJECT_REASONS]);
    expect(json.buckets[0]).toMatchObject({ start: new Date(1_700_000_000_000).toISOString(), admitted: 3 });

    // a minute later both buckets have left the window
    clock += 60_000;
    await series.sample();
    expect(series.buckets(clock).map((x) => x.admitted)).toEqual([0]);
    expect(inviteSeriesJson(series, 'sw-x', clock).totals.admitted).toBe(0);
  });

  it('runs concurrent samples one after the other', async () => {
    const counter = fakeCounter();
    let clock = 0;
    const series = createInviteSeries({ read: counter.read, now: () => (clock += 10_000) });
    await Promise.all([series.sample(), series.sample(), series.sample()]);
    expect(series.buckets(clock)).toHaveLength(2);
  });

  it('labels every refusal reason', () => {
    for (const r of REJECT_REASONS) expect(REJECT_REASON_LABELS[r].length).toBeGreaterThan(3);
  });
});

// ------------------------------------------------------------------------------------------ the routes

describeOnRedis('admin API: live view', (ctx) => {
  let server: FastifyInstance;
  let baseUrl = '';
  let svc: AccountService;
  let metrics: Metrics;
  // one clock for every route, so /v1/live and /usage see the same instant (burn decays with time)
  let clock = Date.now();

  const createAccount = async (prefix: string, over: AccountInput = {}, funds?: string) => {
    const id = uniq(prefix);
    await svc.putAccount(id, { ...base, ...over }, { mode: 'create' });
    if (funds) await svc.applyFunds(id, funds, uniq('seed'));
    return id;
  };

  beforeAll(async () => {
    const c = ctx();
    svc = createAccountService({ redis: c.conn.redis, keys: c.keys, engine: c.engine, config: c.config });
    await svc.loadRateDeck('std', DECK_CSV);
    metrics = createMetrics();
    ({ server, url: baseUrl } = await startTestAdmin(c, TOKEN, { metrics, now: () => clock }));
  });

  afterAll(async () => {
    await server?.close();
  });

  it('serves the page without a token, with no data in it, and /v1/live only with the token', async () => {
    const id = await createAccount('pg', {}, '5');
    const page = await get(`${baseUrl}/live`, null);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.text).toMatch(/^<!doctype html>/);
    expect(page.text).toContain('v1/live');
    expect(page.text).not.toContain(id);
    expect(page.text).not.toContain(TOKEN);
    expect(page.text).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|https?:\/\/(?!www\.w3\.org\/2000\/svg)/); // the SVG namespace is a name, not a fetch

    for (const wrong of [{ token: null }, { token: 'nope' }, { token: `${TOKEN}x` }, { authorization: `Basic ${Buffer.from(`a:${TOKEN}`).toString('base64')}` }]) {
      const r = await get(`${baseUrl}/v1/live`, wrong.token ?? null, 'authorization' in wrong ? wrong.authorization : undefined);
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe('unauthorized');
      expect(r.headers.get('www-authenticate')).toContain('Bearer');
      expect(r.text).not.toContain(id);
    }
    expect((await get(`${baseUrl}/v1/live`)).status).toBe(200);
  });

  it('GET /v1/live: rows ranked by live calls, each matching GET /v1/accounts/:id/usage', async () => {
    const c = ctx();
    const other = createEngine({ redis: c.conn.redis, keys: c.keys, switchId: 'sw-other', leaseTtlMs: c.config.billing.leaseTtlMs });
    clock = Date.now();
    const busy = await createAccount('busy', { channels: 4 }, '50');
    const post = await createAccount('post', { type: 'postpaid', creditLimit: '100', channels: 2, cps: '3' });
    const off = await createAccount('off', {}, '20');
    await svc.setStatus(off, 'off', 'MSA review');
    const calls = [
      { engine: c.engine, accountId: busy, callId: uniq('k'), invitedAt: clock - 1_000 },
      { engine: c.engine, accountId: busy, callId: uniq('k'), invitedAt: clock - 30_000 },
      { engine: other, accountId: busy, callId: uniq('k'), invitedAt: clock - 2_000 },
      { engine: c.engine, accountId: post, callId: uniq('k'), invitedAt: clock - 3_000 },
    ];
    for (const x of calls) {
      const r = await x.engine.admitCall({ accountId: x.accountId, callId: x.callId, reservation: 60_000, seed: JSON.stringify(staticCdr(x.accountId, x.invitedAt)) });
      expect(r.outcome).toBe('admitted');
    }
    // one answered minute on each of two accounts: moves the balance and feeds the burn rate
    for (const x of [calls[0]!, calls[3]!]) {
      const t = await x.engine.tickCall({
        accountId: x.accountId, callId: x.callId, total: 70_000, cost: 70_000, tax: 0, billedSec: 60, talkMs: 60_000,
        answeredAt: clock, nextReservation: 20_000,
      });
      expect(t.outcome).toBe('reserved');
    }

    const live = await get(`${baseUrl}/v1/live`);
    expect(live.status).toBe(200);
    const body = live.json;
    expect(body).toMatchObject({ switchId: c.config.switchId, at: new Date(clock).toISOString(), refreshSeconds: 3 });
    expect(body.accounts).toMatchObject({ offset: 0, limit: LIVE_MAX_ACCOUNTS, cpsWindowSeconds: 10 });
    expect(body.accounts.total).toBeGreaterThanOrEqual(3);
    expect(body.accounts.liveCalls).toBe(4);
    const rows: { accountId: string; channels: { total: number } }[] = body.accounts.rows;
    // ranked by live calls, then id
    expect(rows[0]!.accountId).toBe(busy);
    expect(rows[1]!.accountId).toBe(post);
    for (let i = 1; i < rows.length; i++) {
      const [a, b] = [rows[i - 1]!, rows[i]!];
      expect(a.channels.total > b.channels.total || (a.channels.total === b.channels.total && a.accountId < b.accountId)).toBe(true);
    }

    for (const id of [busy, post, off]) {
      const row = body.accounts.rows.find((r: { accountId: string }) => r.accountId === id);
      const usage = (await get(`${baseUrl}/v1/accounts/${id}/usage`)).json;
      expect(Object.keys(row).sort()).toEqual(
        ['accountId', 'name', 'type', 'status', 'offReason', 'balance', 'balanceUsd', 'reserved', 'reservedUsd', 'available', 'availableUsd',
          'creditLimit', 'creditLimitUsd', 'channels', 'cps', 'burn', 'depletion', 'traffic'].sort(),
      );
      expect(row).toMatchObject({
        accountId: usage.accountId,
        status: usage.status,
        offReason: usage.offReason,
        balance: usage.balance,
        balanceUsd: usage.balanceUsd,
        reserved: usage.reserved,
        available: usage.available,
        availableUsd: usage.availableUsd,
        channels: {
          limitPerSwitch: usage.channels.limitPerSwitch,
          total: usage.channels.total,
          bySwitch: usage.channels.bySwitch,
          thisSwitch: usage.channels.bySwitch[c.config.switchId] ?? 0,
        },
        cps: { limit: usage.cps.limit, burst: usage.cps.burst, recent: usage.cps.recent },
        burn: { perHour: usage.burn.perHour, perHourUsd: usage.burn.perHourUsd },
        depletion: usage.depletion,
      });
    }
    const byId = (id: string) => body.accounts.rows.find((r: { accountId: string }) => r.accountId === id);
    expect(byId(busy)).toMatchObject({
      name: 'Live Co', type: 'prepaid', status: 'on', offReason: null, balance: 50_000_000 - 70_000,
      channels: { limitPerSwitch: 4, total: 3, thisSwitch: 2, bySwitch: { [c.config.switchId]: 2, 'sw-other': 1 } },
      cps: { limit: 5, recent: 0.2 },
    });
    expect(byId(busy).burn.perHour).toBeGreaterThan(0);
    expect(byId(busy).depletion.secondsToDepletion).toBeGreaterThan(0);
    expect(byId(post)).toMatchObject({
      type: 'postpaid', status: 'on', balance: -70_000, creditLimit: 100_000_000, creditLimitUsd: '100.000000',
      channels: { limitPerSwitch: 2, total: 1, thisSwitch: 1 },
    });
    expect(byId(off)).toMatchObject({ status: 'off', offReason: 'manual', balance: 20_000_000, channels: { total: 0 }, depletion: { secondsToDepletion: null } });

    // a page of the same ranking
    const second = await get(`${baseUrl}/v1/live?limit=1&offset=1`);
    expect(second.status).toBe(200);
    expect(second.json.accounts).toMatchObject({ offset: 1, limit: 1, total: body.accounts.total, liveCalls: 4 });
    expect(second.json.accounts.rows.map((r: { accountId: string }) => r.accountId)).toEqual([post]);
    const past = await get(`${baseUrl}/v1/live?offset=100000`);
    expect(past.json.accounts.rows).toEqual([]);

    for (const path of ['/v1/live?limit=0', `/v1/live?limit=${LIVE_MAX_ACCOUNTS + 1}`, '/v1/live?limit=abc', '/v1/live?offset=-1', '/v1/live?offset=1.5', '/v1/live?x=1']) {
      const r = await get(`${baseUrl}${path}`);
      expect(r.status, path).toBe(400);
      expect(r.json.error.code, path).toBe('invalid_request');
    }
  });

  it('GET /v1/live: admits and refusals of this instance by reason, from callgate_invites_total', async () => {
    const before = (await get(`${baseUrl}/v1/live`)).json.series;
    expect(before).toMatchObject({ scope: 'instance', switchId: ctx().config.switchId, bucketSeconds: 10, windowSeconds: 600 });
    expect(before.since).not.toBeNull();
    expect(before.reasons).toEqual(REJECT_REASONS.map((reason) => ({ reason, label: REJECT_REASON_LABELS[reason] })));

    metrics.invites.labels('admitted', 'none').inc(5);
    metrics.invites.labels('rejected', 'cps_exceeded').inc(2);
    metrics.invites.labels('rejected', 'off_funds').inc(1);
    clock += 10_000;
    await server.liveView.sample();
    const after = (await get(`${baseUrl}/v1/live`)).json.series;
    expect(after.totals.admitted - before.totals.admitted).toBe(5);
    expect(after.totals.rejected.cps_exceeded - before.totals.rejected.cps_exceeded).toBe(2);
    expect(after.totals.rejected.off_funds - before.totals.rejected.off_funds).toBe(1);
    expect(Object.keys(after.totals.rejected).sort()).toEqual([...REJECT_REASONS].sort());
    const last = after.buckets.at(-1);
    expect(last).toMatchObject({ end: new Date(clock).toISOString(), admitted: 5 });
    expect(last.rejected).toMatchObject({ cps_exceeded: 2, off_funds: 1, channel_limit: 0 });
    expect(Date.parse(last.start)).toBeLessThan(Date.parse(last.end));
  });
});
