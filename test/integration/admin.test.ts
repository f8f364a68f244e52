/**
 * The admin HTTP API over real HTTP (loopback, global fetch) against a real Redis, single node and cluster.
 * For every route: the happy path, a missing and a wrong token, schema and value violations, and proof that
 * a refused request changed nothing in Redis.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { describeOnRedis, type TestContext } from '../helpers/context.js';
import {
  ValidationError,
  accountToJson,
  createAccountService,
  type AccountInput,
  type AccountService,
} from '../../src/accounts/index.js';
import type { AdmittedCall } from '../../src/admission/admit.js';
import type { AdmittedSeed } from '../../src/model/index.js';
import { createDirectory, type CatalogEntry } from '../../src/admission/directory.js';
import { createCallRegistry } from '../../src/calls/registry.js';
import { CallSession } from '../../src/calls/session.js';
import type { CdrWriterStats } from '../../src/cdr/writer.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { AdminBindError } from '../../src/admin/errors.js';
import { MIB, checkAdminBind, createAdminServer, listenAdmin, type AdminServerDeps } from '../../src/admin/server.js';
import { connectRedis } from '../../src/redis/client.js';
import { createEngine } from '../../src/redis/engine.js';
import { decodeAccountHash } from '../../src/redis/codecs/account-hash.js';
import type { Redis } from '../../src/redis/client.js';
import { startTestAdmin } from '../helpers/admin-server.js';
import { freshSourceIps } from '../helpers/fixtures.js';
import { waitFor as waitUntil } from '../helpers/wait.js';

const logger = pino({ level: 'silent' });
const TOKEN = 'admin-test-token-7f3a9c2e41d8';

let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;

const DECK_CSV = 'prefix,rate_per_min,first_increment,next_increment,connect_fee\n1,0.01,6,6,\n44,0.02,60,60,0.05\n';
const BAD_DECK_CSV = 'prefix,rate_per_min,first_increment,next_increment\n1,0.01,6,6\n44,abc,6,6\n# comment\n49x,0.01,0,6\n';
const RATE_44 = { prefix: '44', ratePerMinMicros: 20_000, firstIncrement: 60, nextIncrement: 60, connectFeeMicros: 50_000 } as const;

const prepaid: AccountInput = {
  type: 'prepaid',
  name: 'ACME Telecom',
  channels: 10,
  cps: 5,
  billingCountry: 'US',
  deckId: 'std',
  // fresh addresses on every spread: accounts may not share an address (see freshSourceIps)
  get ips() {
    return freshSourceIps();
  },
};

interface Answer {
  status: number;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
  text: string;
  headers: Headers;
}

interface Send {
  body?: unknown;
  /** Sent as is, with `contentType` (default text/csv). */
  raw?: string;
  contentType?: string;
  /** null: no Authorization header. Default: the right token. */
  token?: string | null;
  authorization?: string;
}

function client(base: () => string) {
  return async (method: string, path: string, send: Send = {}): Promise<Answer> => {
    const headers: Record<string, string> = {};
    const token = send.token === undefined ? TOKEN : send.token;
    if (send.authorization !== undefined) headers.authorization = send.authorization;
    else if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (send.raw !== undefined) {
      body = send.raw;
      headers['content-type'] = send.contentType ?? 'text/csv';
    } else if (send.body !== undefined) {
      body = JSON.stringify(send.body);
      headers['content-type'] = send.contentType ?? 'application/json';
    }
    const res = await fetch(`${base()}${path}`, { method, headers, body });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, headers: res.headers };
  };
}

/** Everything a request could have written for an account, to prove that a refusal wrote nothing. */
async function snapshot(ctx: TestContext, id: string) {
  const r = ctx.conn.redis;
  const k = ctx.keys;
  const [account, catalog, events, payments, calls] = await Promise.all([
    r.hGetAll(k.account(id)),
    r.hGet(k.catalog, id),
    r.exists(k.events(id)).then((e) => (e ? r.xLen(k.events(id)) : -1)),
    r.hGetAll(k.payments(id)),
    r.hGetAll(k.calls(id)),
  ]);
  return { account, catalog, events, payments, calls };
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  await waitUntil(String(check), async () => await check(), { timeoutMs, intervalMs: 20 });
}

function staticCdr(accountId: string, over: Partial<AdmittedSeed> = {}): AdmittedSeed {
  return {
    sipCallId: `sip-${uniq('c')}`,
    accountId,
    from: '15551230000',
    to: '442071234567',
    srcIp: '192.0.2.10',
    invitedAt: Date.now(),
    prefix: '44',
    ratePerMin: 20_000,
    connectFee: 50_000,
    firstIncrement: 60,
    nextIncrement: 60,
    taxExempt: false,
    ...over,
  };
}

describeOnRedis('admin API', (ctx) => {
  let server: FastifyInstance;
  let base = '';
  let svc: AccountService;
  let connected = true;
  let cdrLagMs = 0;
  const registry = createCallRegistry();
  const api = client(() => base);

  const createAccount = async (over: AccountInput = {}, funds?: string) => {
    const id = uniq('acct');
    await svc.putAccount(id, { ...prepaid, ...over }, { mode: 'create' });
    if (funds) await svc.applyFunds(id, funds, uniq('seed'));
    return id;
  };

  beforeAll(async () => {
    const c = ctx();
    svc = createAccountService({ redis: c.conn.redis, keys: c.keys, engine: c.engine, config: c.config });
    await svc.loadRateDeck('std', DECK_CSV);
    ({ server, url: base } = await startTestAdmin(c, TOKEN, {
      registry,
      health: { isConnected: () => connected, cdrWriter: { stats: () => ({ lagMs: cdrLagMs, written: 0, heldCallIds: 3 }) as CdrWriterStats } },
    }));
  });

  afterAll(async () => {
    await server?.close();
  });

  // ------------------------------------------------------------------------------------------ auth

  it('refuses every /v1 route without the token or with a wrong one, and changes nothing', async () => {
    const id = await createAccount({}, '10');
    const before = await snapshot(ctx(), id);
    const routes: [string, string, Send][] = [
      ['POST', '/v1/accounts', { body: { id: uniq('x'), ...prepaid } }],
      ['PUT', `/v1/accounts/${id}`, { body: { name: 'changed' } }],
      ['PATCH', `/v1/accounts/${id}`, { body: { name: 'changed' } }],
      ['GET', `/v1/accounts/${id}`, {}],
      ['GET', '/v1/accounts', {}],
      ['PUT', `/v1/accounts/${id}/limits`, { body: { channels: 1 } }],
      ['PUT', `/v1/accounts/${id}/status`, { body: { status: 'off' } }],
      ['POST', `/v1/accounts/${id}/payments`, { body: { amountUsd: '5', paymentId: uniq('p') } }],
      ['PUT', '/v1/ratedecks/std', { raw: BAD_DECK_CSV }],
      ['GET', '/v1/ratedecks/std', {}],
      ['GET', `/v1/calls?accountId=${id}`, {}],
      ['GET', `/v1/switches/${ctx().config.switchId}/calls`, {}],
      ['GET', `/v1/accounts/${id}/usage`, {}],
      ['GET', '/v1/no-such-route', {}],
    ];
    const wrongs: Send[] = [
      { token: null },
      { token: 'wrong-token' },
      { token: `${TOKEN}x` },
      { token: TOKEN.slice(0, -1) },
      { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
      { authorization: TOKEN },
      { authorization: 'Bearer' },
    ];
    for (const [method, path, send] of routes) {
      for (const wrong of wrongs) {
        const r = await api(method, path, { ...send, ...wrong });
        expect(r.status, `${method} ${path} ${JSON.stringify(wrong)}`).toBe(401);
        expect(r.json.error.code).toBe('unauthorized');
        expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
    }
    expect(await snapshot(ctx(), id)).toEqual(before);
    expect(await ctx().conn.redis.hGet(ctx().keys.deckIndex, 'std')).toBeTruthy();
    // the scheme is case-insensitive, as HTTP says
    expect((await api('GET', `/v1/accounts/${id}`, { authorization: `bearer ${TOKEN}` })).status).toBe(200);
    // an unknown route with the token is a JSON 404
    const missing = await api('GET', '/v1/no-such-route');
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('not_found');
  });

  it('serves /healthz, /readyz and /metrics without a token', async () => {
    const health = await api('GET', '/healthz', { token: null });
    expect(health).toMatchObject({ status: 200, json: { status: 'ok' } });
    const ready = await api('GET', '/readyz', { token: null });
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({ status: 'ready', checks: { redis: { ok: true }, drachtio: { ok: true }, cdrWriter: { ok: true } } });
    const metrics = await api('GET', '/metrics', { token: null });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(metrics.text).toContain('callgate_invites_total');
    expect(metrics.text).toMatch(/^callgate_cdr_held_call_ids 3$/m);
    expect(metrics.text).toMatch(/callgate_admin_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} \d+/);
    // unknown paths are labelled as one series, never by their text
    expect(metrics.text).toContain('route="unmatched"');
    expect(metrics.text).not.toContain('no-such-route');
  });

  it('/readyz answers 503 naming the failed check: drachtio down, CDR writer lagging', async () => {
    try {
      connected = false;
      const down = await api('GET', '/readyz', { token: null });
      expect(down.status).toBe(503);
      expect(down.json.error).toMatchObject({ code: 'not_ready', problems: ['drachtio: not connected to drachtio-server'] });
      expect(down.json.checks).toMatchObject({ drachtio: { ok: false }, redis: { ok: true } });
      connected = true;
      cdrLagMs = 120_000;
      const lagging = await api('GET', '/readyz', { token: null });
      expect(lagging.status).toBe(503);
      expect(lagging.json.error.problems).toHaveLength(1);
      expect(lagging.json.error.problems[0]).toMatch(/^cdrWriter: oldest pending CDR is 120000 ms old/);
    } finally {
      connected = true;
      cdrLagMs = 0;
    }
    expect((await api('GET', '/readyz', { token: null })).status).toBe(200);
  });

  // -------------------------------------------------------------------------------------- accounts

  it('POST /v1/accounts creates (201, Location), and refuses a taken id with 409', async () => {
    const id = uniq('new');
    const r = await api('POST', '/v1/accounts', { body: { id, ...prepaid } });
    expect(r.status).toBe(201);
    expect(r.headers.get('location')).toBe(`/v1/accounts/${id}`);
    expect(r.json).toMatchObject({ id, type: 'prepaid', channels: 10, cps: 5, burst: 5, status: 'off', offReason: 'depleted', balanceUsd: '0.000000' });
    // what the API returns is exactly what the service (and so the CLI's --json) shows
    const got = await api('GET', `/v1/accounts/${id}`);
    expect(got.status).toBe(200);
    expect(got.json).toEqual(accountToJson(await svc.getAccount(id)));
    expect(JSON.parse((await ctx().conn.redis.hGet(ctx().keys.catalog, id))!)).toMatchObject({ id, deckId: 'std' });

    const before = await snapshot(ctx(), id);
    const again = await api('POST', '/v1/accounts', { body: { id, ...prepaid, name: 'other' } });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe('account_exists');
    expect(await snapshot(ctx(), id)).toEqual(before);
  });

  it('refuses bad account bodies with the service\'s own problems (the CLI\'s), writing nothing', async () => {
    const bad = {
      type: 'free',
      channels: -1,
      cps: 10_001,
      billingCountry: 'usa',
      deckId: 'nodeck',
      ips: ['10.0.0.1/24', 'not-an-ip'],
      creditLimit: '1.1234567',
      techPrefix: '12ab',
    };
    const id = uniq('bad');
    const r = await api('POST', '/v1/accounts', { body: { id, ...bad } });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('invalid_request');
    const direct = await svc.putAccount(id, bad, { mode: 'create' }).catch((e: unknown) => e);
    expect(direct).toBeInstanceOf(ValidationError);
    expect(r.json.error.problems).toEqual([...(direct as ValidationError).problems]);
    expect(r.json.error.problems.length).toBeGreaterThanOrEqual(7);
    expect(await ctx().conn.redis.exists(ctx().keys.account(id))).toBe(0);
    expect(await ctx().conn.redis.hExists(ctx().keys.catalog, id)).toBeFalsy();

    const cases: [unknown, RegExp][] = [
      [{ ...prepaid }, /^id: required$/], // no id
      [{ id: 'a{b}', ...prepaid }, /^id: must be 1-64 characters/],
      [{ id: uniq('x'), ...prepaid, colour: 'blue' }, /^"colour": unknown field/],
      [{ id: uniq('x'), ...prepaid, channels: true }, /^channels: must be a whole number as a JSON integer \(for example 5\), not a string or true\/false$/],
      [{ id: uniq('x'), ...prepaid, channels: '5' }, /^channels: must be a whole number as a JSON integer/],
      [{ id: uniq('x'), ...prepaid, channels: 5.5 }, /^channels: must be a whole number as a JSON integer/],
      [{ id: uniq('x'), ...prepaid, creditLimit: 5 }, /^creditLimit: must be decimal dollars as a JSON string/],
      [{ id: uniq('x'), ...prepaid, ips: '192.0.2.1' }, /^ips: must be array/],
      [{ id: uniq('x'), ...prepaid, fusfOnFile: 'yes' }, /^fusfOnFile: must be boolean/],
      [[prepaid], /^body: must be object/],
      ['just text', /^body: must be object/],
    ];
    for (const [body, problem] of cases) {
      const res = await api('POST', '/v1/accounts', { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code).toBe('invalid_request');
      expect(res.json.error.problems[0]).toMatch(problem);
      const bodyId = (body as { id?: unknown }).id;
      if (typeof bodyId === 'string' && !bodyId.includes('{')) expect(await ctx().conn.redis.exists(ctx().keys.account(bodyId))).toBe(0);
    }
    // unreadable JSON, an empty JSON body, and a body that is not JSON at all
    const broken = await api('POST', '/v1/accounts', { raw: '{"id": "x",', contentType: 'application/json' });
    expect(broken.status).toBe(400);
    expect(broken.json.error.code).toBe('invalid_request');
    const empty = await api('POST', '/v1/accounts', { raw: '', contentType: 'application/json' });
    expect(empty.status).toBe(400);
    expect(empty.json.error.code).toBe('invalid_request');
    const plain = await api('POST', '/v1/accounts', { raw: 'id=x', contentType: 'text/plain' });
    expect(plain.status).toBe(415);
    expect(plain.json.error.code).toBe('unsupported_media_type');
  });

  it('refuses a JSON body over 1 MiB with a JSON 413, writing nothing', async () => {
    const id = uniq('big');
    const r = await api('POST', '/v1/accounts', { body: { id, ...prepaid, name: 'x'.repeat(MIB + 10) } });
    expect(r.status).toBe(413);
    expect(r.json.error.code).toBe('payload_too_large');
    expect(await ctx().conn.redis.exists(ctx().keys.account(id))).toBe(0);
  });

  it('PUT /v1/accounts/:id upserts: 201 when created, 200 with the merge when it existed', async () => {
    const id = uniq('put');
    const created = await api('PUT', `/v1/accounts/${id}`, { body: prepaid });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ id, name: 'ACME Telecom', channels: 10 });
    const updated = await api('PUT', `/v1/accounts/${id}`, { body: { name: 'ACME Wholesale', cps: 8 } });
    expect(updated.status).toBe(200);
    expect(updated.json).toMatchObject({ id, name: 'ACME Wholesale', cps: 8, burst: 8, channels: 10 });

    const before = await snapshot(ctx(), id);
    for (const body of [{ channels: -1 }, { type: 'postpaid' }, { name: 5 }, { nope: 1 }, {}]) {
      const r = await api('PUT', `/v1/accounts/${id}`, { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.code).toBe('invalid_request');
    }
    const hostile = await api('PUT', `/v1/accounts/${encodeURIComponent('a}:acct')}`, { body: prepaid });
    expect(hostile.status).toBe(400);
    expect(hostile.json.error.problems[0]).toMatch(/^id: must be 1-64 characters/);
    expect(await snapshot(ctx(), id)).toEqual(before);
  });

  it('PATCH /v1/accounts/:id updates an existing account only', async () => {
    const id = await createAccount();
    const r = await api('PATCH', `/v1/accounts/${id}`, { body: { techPrefix: '7001#', billingCountry: 'GB' } });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id, techPrefix: '7001#', billingCountry: 'GB', taxExempt: true, name: 'ACME Telecom' });

    const before = await snapshot(ctx(), id);
    const empty = await api('PATCH', `/v1/accounts/${id}`, { body: {} });
    expect(empty.status).toBe(400);
    expect(empty.json.error.problems[0]).toMatch(/^nothing to change/);
    const bad = await api('PATCH', `/v1/accounts/${id}`, { body: { channels: 100_001, ips: [] } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.problems.map((p: string) => p.split(':')[0])).toEqual(['channels', 'ips']);
    expect(await snapshot(ctx(), id)).toEqual(before);

    const nobody = uniq('nobody');
    const missing = await api('PATCH', `/v1/accounts/${nobody}`, { body: { name: 'x' } });
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('account_not_found');
    expect(await ctx().conn.redis.exists(ctx().keys.account(nobody))).toBe(0);
    expect(await ctx().conn.redis.hExists(ctx().keys.catalog, nobody)).toBeFalsy();
  });

  it('GET /v1/accounts/:id: 200, 404 for an unknown account, 400 for a hostile id or a query', async () => {
    const id = await createAccount({}, '12.5');
    const r = await api('GET', `/v1/accounts/${id}`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id, balance: 12_500_000, balanceUsd: '12.500000', liveCalls: { total: 0, bySwitch: {} } });
    expect((await api('GET', `/v1/accounts/${uniq('nobody')}`)).json.error.code).toBe('account_not_found');
    for (const hostile of ['a{b}', '*', 'x'.repeat(65), 'a b']) {
      const bad = await api('GET', `/v1/accounts/${encodeURIComponent(hostile)}`);
      expect(bad.status, hostile).toBe(400);
      expect(bad.json.error.code).toBe('invalid_request');
    }
    const query = await api('GET', `/v1/accounts/${id}?verbose=1`);
    expect(query.status).toBe(400);
    expect(query.json.error.problems[0]).toMatch(/^"verbose": unknown field/);
  });

  it('never echoes a 10 KB id back: every route answers it briefly', async () => {
    const huge = 'x'.repeat(10_000);
    for (const [method, path] of [
      ['GET', `/v1/accounts/${huge}`], ['GET', `/v1/accounts/${huge}/usage`], ['GET', `/v1/accounts/${huge}/payments/latest`],
      ['GET', `/v1/calls?accountId=${huge}`], ['GET', `/v1/switches/${huge}/calls`], ['GET', `/v1/ratedecks/${huge}`],
      ['GET', `/v1/ratedecks/${huge}/rates`], ['PUT', `/v1/accounts/${huge}/status`],
    ] as const) {
      const r = await api(method, path, method === 'PUT' ? { body: { status: 'on' } } : {});
      expect(r.status, path.slice(0, 40)).toBeGreaterThanOrEqual(400);
      expect(r.status, path.slice(0, 40)).toBeLessThan(500);
      expect(JSON.stringify(r.json).length, `${method} ${path.slice(0, 40)}: ${JSON.stringify(r.json).slice(0, 200)}`).toBeLessThan(1000);
    }
  });

  it('GET /v1/accounts pages through every account', async () => {
    const ids = [await createAccount(), await createAccount(), await createAccount()];
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor === null ? '?limit=2' : `?limit=2&cursor=${cursor}`;
      const r = await api('GET', `/v1/accounts${q}`);
      expect(r.status).toBe(200);
      r.json.ids.forEach((i: string) => seen.add(i));
      cursor = r.json.nextCursor;
      pages++;
    } while (cursor !== null && pages < 1000);
    for (const id of ids) expect(seen.has(id)).toBe(true);
    const bad = await api('GET', '/v1/accounts?cursor=abc&limit=0');
    expect(bad.status).toBe(400);
    expect(bad.json.error.problems.map((p: string) => p.split(':')[0])).toEqual(['cursor', 'limit']);
    expect((await api('GET', '/v1/accounts?limit=5&limit=6')).status).toBe(400);
  });

  // ---------------------------------------------------------------------------- limits and status

  it('PUT /v1/accounts/:id/limits takes effect on the very next admit', async () => {
    const c = ctx();
    const id = await createAccount({ channels: 1, cps: 100 }, '10');
    const admit = (callId: string) => c.engine.admitCall({ accountId: id, callId, reservation: 1000, seed: JSON.stringify(staticCdr(id)) });
    expect((await admit('c1')).outcome).toBe('admitted');
    expect(await admit('c2')).toMatchObject({ outcome: 'channel_limit', inUse: 1 });

    const wider = await api('PUT', `/v1/accounts/${id}/limits`, { body: { channels: 2 } });
    expect(wider.status).toBe(200);
    expect(wider.json).toMatchObject({ id, channels: 2, cps: 100, burst: 100 });
    expect((await admit('c3')).outcome).toBe('admitted');

    const closed = await api('PUT', `/v1/accounts/${id}/limits`, { body: { cps: 0, channels: 5 } });
    expect(closed.json).toMatchObject({ channels: 5, cps: 0, burst: 0 });
    expect((await admit('c4')).outcome).toBe('cps_exceeded');

    const before = await snapshot(c, id);
    const refusals: [unknown, RegExp][] = [
      [{}, /^give at least one of channels, cps, burst$/],
      [{ channels: '1.5' }, /^channels: must be a whole number/],
      [{ channels: -1 }, /^channels: must be a whole number/],
      [{ burst: 0, cps: 5 }, /^burst: must be at least 1/],
      [{ channels: 1, colour: 'red' }, /^"colour": unknown field/],
      [{ channels: null }, /^channels: must be a whole number as a JSON integer/],
      [{ cps: '5' }, /^cps: must be a whole number as a JSON integer/],
    ];
    for (const [body, problem] of refusals) {
      const r = await api('PUT', `/v1/accounts/${id}/limits`, { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.problems[0]).toMatch(problem);
    }
    expect(await snapshot(c, id)).toEqual(before);
    const nobody = uniq('nobody');
    expect((await api('PUT', `/v1/accounts/${nobody}/limits`, { body: { channels: 1 } })).json.error.code).toBe('account_not_found');
    expect(await c.conn.redis.exists(c.keys.account(nobody))).toBe(0);
  });

  it('PUT /v1/accounts/:id/status off ends the account\'s live calls through the change channel', async () => {
    const c = ctx();
    const directory = createDirectory({ redis: c.conn.redis, keys: c.keys, logger, trustedPeers: [] });
    await directory.start();
    const stopSignals = directory.onAccountSignal((signal) => void registry.handleSignal(signal));
    try {
      const id = await createAccount({}, '50');
      const entry: CatalogEntry = { id, type: 'prepaid', ips: ['192.0.2.10'], techPrefix: null, deckId: 'std', taxExempt: false };
      const hangups: { cause: number; text: string }[] = [];
      const finalized: string[] = [];
      const sessions: CallSession[] = [];
      for (let i = 0; i < 2; i++) {
        const callId = uniq('live');
        const cdr = staticCdr(id);
        const admitted = await c.engine.admitCall({ accountId: id, callId, reservation: 60_000, seed: JSON.stringify(cdr) });
        expect(admitted.outcome).toBe('admitted');
        const call: AdmittedCall = {
          callId, account: entry, destination: cdr.to, rate: RATE_44, reservation: 60_000, seed: cdr,
          leaseExpiryMs: admitted.outcome === 'admitted' ? admitted.leaseExpiryMs : 0,
        };
        const session = new CallSession(call, {
          engine: c.engine, config: c.config, logger,
          hangup: (reason) => void hangups.push(reason),
          onFinalized: (_accountId, entryId) => void finalized.push(entryId),
          onClosed: (s) => registry.remove(s),
        });
        registry.add(session);
        sessions.push(session);
      }
      sessions[0]!.markAnswered();
      expect(await c.conn.redis.hLen(c.keys.calls(id))).toBe(2);

      const r = await api('PUT', `/v1/accounts/${id}/status`, { body: { status: 'off', note: 'MSA violation: short calls' } });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ id, status: 'off', offReason: 'manual', statusNote: 'MSA violation: short calls' });

      await waitFor(() => hangups.length === 2 && finalized.length === 2);
      expect(hangups.every((h) => h.cause === 403)).toBe(true);
      expect(sessions.every((s) => s.ended)).toBe(true);
      expect(await c.conn.redis.hLen(c.keys.calls(id))).toBe(0);
      expect(registry.ofAccount(id)).toHaveLength(0);
      expect(await c.conn.redis.xLen(c.keys.cdrs(id))).toBe(2);

      const on = await api('PUT', `/v1/accounts/${id}/status`, { body: { status: 'on' } });
      expect(on.json).toMatchObject({ status: 'on', offReason: null });
    } finally {
      stopSignals();
      await directory.stop();
    }
  });

  it('refuses bad status requests and unknown accounts, changing nothing', async () => {
    const id = await createAccount({}, '5');
    const before = await snapshot(ctx(), id);
    const refusals: [unknown, RegExp[]][] = [
      [{ status: 'paused', note: 'line\nbreak' }, [/^status: must be on or off/, /^note: must hold printable/]],
      [{}, [/^status: required$/]],
      [{ status: 'off', reason: 'x' }, [/^"reason": unknown field/]],
      [{ status: true }, [/^status: must be string/]],
    ];
    for (const [body, problems] of refusals) {
      const r = await api('PUT', `/v1/accounts/${id}/status`, { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      problems.forEach((p, i) => expect(r.json.error.problems[i]).toMatch(p));
    }
    expect(await snapshot(ctx(), id)).toEqual(before);
    expect((await api('PUT', `/v1/accounts/${uniq('nobody')}/status`, { body: { status: 'off' } })).status).toBe(404);
  });

  // -------------------------------------------------------------------------------------- payments

  it('POST /v1/accounts/:id/payments credits once per paymentId: a retry answers 200 duplicate', async () => {
    const c = ctx();
    const id = await createAccount();
    const paymentId = uniq('inv-2026-');
    const first = await api('POST', `/v1/accounts/${id}/payments`, { body: { amountUsd: '12.50', paymentId } });
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ outcome: 'applied', paymentId, amount: 12_500_000, amountUsd: '12.500000' });
    expect(first.json.account).toMatchObject({ id, balance: 12_500_000, status: 'on' });
    const retry = await api('POST', `/v1/accounts/${id}/payments`, { body: { amountUsd: '12.50', paymentId } });
    expect(retry.status).toBe(200);
    expect(retry.json).toMatchObject({ outcome: 'duplicate', paymentId, account: { balance: 12_500_000 } });
    // concurrent retries of another payment still credit once
    const other = uniq('inv-');
    const burst = await Promise.all(
      Array.from({ length: 8 }, () => api('POST', `/v1/accounts/${id}/payments`, { body: { amountUsd: '1', paymentId: other } })),
    );
    expect(burst.filter((r) => r.status === 201)).toHaveLength(1);
    expect(burst.filter((r) => r.status === 200)).toHaveLength(7);
    expect(decodeAccountHash(await c.conn.redis.hGetAll(c.keys.account(id))).balance).toBe(13_500_000);

    const before = await snapshot(c, id);
    const conflict = await api('POST', `/v1/accounts/${id}/payments`, { body: { amountUsd: '99', paymentId } });
    expect(conflict.status).toBe(409);
    expect(conflict.json.error.code).toBe('payment_conflict');
    expect(conflict.json.error.message).toContain('12.500000');
    const refusals: [unknown, RegExp][] = [
      [{ amountUsd: '12.50' }, /^paymentId: required$/],
      [{ paymentId: uniq('p') }, /^amountUsd: required$/],
      [{ amountUsd: '-5', paymentId: uniq('p') }, /^amountUsd: must not be negative/],
      [{ amountUsd: '1.1234567', paymentId: uniq('p') }, /^amountUsd: must be decimal dollars/],
      [{ amountUsd: '0', paymentId: uniq('p') }, /^amountUsd: must be more than 0/],
      [{ amountUsd: '5', paymentId: 'bad payment id!' }, /^paymentId: must be 1-128 characters/],
      [{ amountUsd: '5', paymentId: uniq('p'), currency: 'EUR' }, /^"currency": unknown field/],
    ];
    for (const [body, problem] of refusals) {
      const r = await api('POST', `/v1/accounts/${id}/payments`, { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.problems[0]).toMatch(problem);
    }
    expect(await snapshot(c, id)).toEqual(before);
    const nobody = uniq('nobody');
    const unknown = await api('POST', `/v1/accounts/${nobody}/payments`, { body: { amountUsd: '5', paymentId: uniq('p') } });
    expect(unknown.status).toBe(404);
    expect(await c.conn.redis.exists(c.keys.payments(nobody))).toBe(0);
  });

  // ------------------------------------------------------------------------------------ rate decks

  it('PUT /v1/ratedecks/:deckId loads a CSV deck; GET shows its version', async () => {
    const deckId = uniq('deck');
    const r = await api('PUT', `/v1/ratedecks/${deckId}`, { raw: DECK_CSV });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ deckId, prefixes: 2 });
    expect(r.json.version).toMatch(/^[0-9a-f]{40}$/);
    const got = await api('GET', `/v1/ratedecks/${deckId}`);
    expect(got).toMatchObject({ status: 200, json: { deckId, version: r.json.version } });
    const withCharset = await api('PUT', `/v1/ratedecks/${deckId}`, { raw: DECK_CSV, contentType: 'text/csv; charset=utf-8' });
    expect(withCharset.status).toBe(200);
    expect((await api('GET', `/v1/ratedecks/${uniq('nodeck')}`)).json.error.code).toBe('deck_not_found');
  });

  it('refuses a bad deck with the line of each problem (422), and other media types (415), keeping the old deck', async () => {
    const c = ctx();
    const deckId = uniq('baddeck');
    const bad = await api('PUT', `/v1/ratedecks/${deckId}`, { raw: BAD_DECK_CSV });
    expect(bad.status).toBe(422);
    expect(bad.json.error.code).toBe('ratedeck_invalid');
    expect(bad.json.error.problems.map((p: { line: number }) => p.line)).toEqual([3, 5, 5]);
    expect(bad.json.error.problemCount).toBe(3);
    expect(await c.conn.redis.exists(c.keys.deck(deckId))).toBe(0);

    const good = await api('PUT', `/v1/ratedecks/${deckId}`, { raw: DECK_CSV });
    const stored = await c.conn.redis.get(c.keys.deck(deckId));
    expect((await api('PUT', `/v1/ratedecks/${deckId}`, { raw: BAD_DECK_CSV })).status).toBe(422);
    const asJson = await api('PUT', `/v1/ratedecks/${deckId}`, { body: { csv: DECK_CSV } });
    expect(asJson.status).toBe(415);
    expect(asJson.json.error.code).toBe('unsupported_media_type');
    const untyped = await fetch(`${base}/v1/ratedecks/${deckId}`, {
      method: 'PUT', headers: { authorization: `Bearer ${TOKEN}` }, body: new TextEncoder().encode(DECK_CSV),
    });
    expect(untyped.status).toBe(415);
    expect(((await untyped.json()) as { error: { code: string } }).error.code).toBe('unsupported_media_type');
    const empty = await api('PUT', `/v1/ratedecks/${deckId}`, { raw: '' });
    expect(empty.status).toBe(422);
    expect(empty.json.error.code).toBe('ratedeck_invalid');
    const hostile = await api('PUT', `/v1/ratedecks/${encodeURIComponent('a{b}')}`, { raw: DECK_CSV });
    expect(hostile.status).toBe(400);
    expect(hostile.json.error.problems[0]).toMatch(/^deckId: must be 1-64 characters/);
    expect(await c.conn.redis.hGet(c.keys.deckIndex, deckId)).toBe(good.json.version);
    expect(await c.conn.redis.get(c.keys.deck(deckId))).toBe(stored);
  });

  it('accepts a deck CSV up to 20 MiB and answers a larger one with a JSON 413', async () => {
    const c = ctx();
    const deckId = uniq('hugedeck');
    const header = 'prefix,rate_per_min,first_increment,next_increment,connect_fee\n';
    const big = header + '1,0.01,6,6,\n'.repeat(Math.ceil((21 * MIB) / 12));
    const r = await api('PUT', `/v1/ratedecks/${deckId}`, { raw: big });
    expect(r.status).toBe(413);
    expect(r.json.error.code).toBe('payload_too_large');
    expect(await c.conn.redis.exists(c.keys.deck(deckId))).toBe(0);
    // over the JSON limit but under the CSV one: read, and judged on its content (duplicate prefixes)
    const mid = header + '1,0.01,6,6,\n'.repeat(Math.ceil((2 * MIB) / 12));
    const judged = await api('PUT', `/v1/ratedecks/${deckId}`, { raw: mid });
    expect(judged.status).toBe(422);
    expect(await c.conn.redis.exists(c.keys.deck(deckId))).toBe(0);
  });

  // ------------------------------------------------------------------------------ live calls, usage

  it('GET /v1/calls and /v1/switches/:id/calls list live calls per account and per switch', async () => {
    const c = ctx();
    const own = c.config.switchId;
    const other = createEngine({ redis: c.conn.redis, keys: c.keys, switchId: 'sw-other', leaseTtlMs: c.config.billing.leaseTtlMs });
    const id = await createAccount({}, '20');
    const cdrs = [staticCdr(id, { from: '15550000001' }), staticCdr(id, { from: '15550000002' }), staticCdr(id, { from: '15550000003' })];
    const ids = [uniq('own'), uniq('own'), uniq('oth')];
    expect((await c.engine.admitCall({ accountId: id, callId: ids[0]!, reservation: 60_000, seed: JSON.stringify(cdrs[0]) })).outcome).toBe('admitted');
    expect((await c.engine.admitCall({ accountId: id, callId: ids[1]!, reservation: 60_000, seed: JSON.stringify(cdrs[1]) })).outcome).toBe('admitted');
    expect((await other.admitCall({ accountId: id, callId: ids[2]!, reservation: 60_000, seed: JSON.stringify(cdrs[2]) })).outcome).toBe('admitted');
    // this instance's registry knows its own calls
    const entry: CatalogEntry = { id, type: 'prepaid', ips: ['192.0.2.10'], techPrefix: null, deckId: 'std', taxExempt: false };
    const sessions = [0, 1].map(
      (i) =>
        new CallSession(
          { callId: ids[i]!, account: entry, destination: cdrs[i]!.to, rate: RATE_44, reservation: 60_000, seed: cdrs[i]!, leaseExpiryMs: 0 },
          { engine: c.engine, config: c.config, logger, hangup: () => {}, onFinalized: () => {}, onClosed: (s) => registry.remove(s) },
        ),
    );
    sessions.forEach((s) => registry.add(s));
    try {
      const all = await api('GET', `/v1/calls?accountId=${id}`);
      expect(all.status).toBe(200);
      expect(all.json).toMatchObject({ accountId: id, total: 3, bySwitch: { [own]: 2, 'sw-other': 1 } });
      const first = all.json.calls.find((x: { callId: string }) => x.callId === ids[0]);
      expect(first).toMatchObject({
        callId: ids[0], accountId: id, switchId: own, state: 'ringing', answeredAt: null, reserved: 60_000, reservedUsd: '0.060000',
        committed: 0, from: '15550000001', to: '442071234567', srcIp: '192.0.2.10', prefix: '44', ratePerMin: 20_000,
        invitedAt: new Date(cdrs[0]!.invitedAt).toISOString(), sipCallId: cdrs[0]!.sipCallId,
      });
      const onOther = await api('GET', `/v1/calls?accountId=${id}&switchId=sw-other`);
      expect(onOther.json).toMatchObject({ total: 1, bySwitch: { 'sw-other': 1 } });
      expect(onOther.json.calls[0].callId).toBe(ids[2]);

      const mine = await api('GET', `/v1/switches/${own}/calls`);
      expect(mine.status).toBe(200);
      expect(mine.json).toMatchObject({ switchId: own, source: 'registry', truncated: false });
      expect(mine.json.calls.map((x: { callId: string }) => x.callId).sort()).toEqual([ids[0], ids[1]].sort());
      const theirs = await api('GET', '/v1/switches/sw-other/calls');
      expect(theirs.json).toMatchObject({ switchId: 'sw-other', source: 'redis' });
      expect(theirs.json.calls.map((x: { callId: string }) => x.callId)).toContain(ids[2]);
      expect(theirs.json.calls.every((x: { switchId: string }) => x.switchId === 'sw-other')).toBe(true);
      const capped = await api('GET', `/v1/switches/${own}/calls?limit=1`);
      expect(capped.json).toMatchObject({ total: 2, truncated: true });
      expect(capped.json.calls).toHaveLength(1);

      const refusals: [string, number, string][] = [
        ['/v1/calls', 400, 'invalid_request'],
        ['/v1/calls?accountId=a%7Bb%7D', 400, 'invalid_request'],
        [`/v1/calls?accountId=${id}&switchId=a%20b`, 400, 'invalid_request'],
        [`/v1/calls?accountId=${uniq('nobody')}`, 404, 'account_not_found'],
        [`/v1/switches/${own}/calls?limit=0`, 400, 'invalid_request'],
        [`/v1/switches/${own}/calls?limit=abc`, 400, 'invalid_request'],
        ['/v1/switches/a%7Bb%7D/calls', 400, 'invalid_request'],
      ];
      for (const [path, status, code] of refusals) {
        const r = await api('GET', path);
        expect(r.status, path).toBe(status);
        expect(r.json.error.code).toBe(code);
      }
    } finally {
      for (const s of sessions) await s.end({ kind: 'shutdown' });
      await other.finalizeCall({
        accountId: id, callId: ids[2]!, total: 0, cost: 0, tax: 0, billedSec: 0, talkMs: 0, answeredAt: 0, endedAt: Date.now(),
        disposition: 'failed', reason: 'test', sipCode: 503,
      });
    }
    expect(await c.conn.redis.hLen(c.keys.calls(id))).toBe(0);
  });

  it('GET /v1/accounts/:id/usage: channels per switch, recent call rate, funds, burn rate and depletion', async () => {
    const c = ctx();
    const other = createEngine({ redis: c.conn.redis, keys: c.keys, switchId: 'sw-other', leaseTtlMs: c.config.billing.leaseTtlMs });
    const id = await createAccount({ channels: 4 }, '100');
    const idle = await api('GET', `/v1/accounts/${id}/usage`);
    expect(idle.status).toBe(200);
    expect(idle.json).toMatchObject({
      accountId: id, status: 'on', balance: 100_000_000, available: 100_000_000,
      channels: { limitPerSwitch: 4, total: 0, bySwitch: {} },
      cps: { limit: 5, burst: 5, recent: 0, windowSeconds: 10 },
      burn: { perHour: 0 }, depletion: { secondsToDepletion: null, depletesAt: null },
    });

    const now = Date.now();
    const calls = [
      { engine: c.engine, callId: uniq('u'), invitedAt: now - 1_000 },
      { engine: c.engine, callId: uniq('u'), invitedAt: now - 60_000 }, // live, but invited before the window
      { engine: other, callId: uniq('u'), invitedAt: now - 2_000 },
    ];
    for (const x of calls) {
      const r = await x.engine.admitCall({ accountId: id, callId: x.callId, reservation: 60_000, seed: JSON.stringify(staticCdr(id, { invitedAt: x.invitedAt })) });
      expect(r.outcome).toBe('admitted');
    }
    // one answered minute: commits 0.07 (0.05 connect fee + 0.02) and feeds the burn rate
    const tick = await c.engine.tickCall({
      accountId: id, callId: calls[0]!.callId, total: 70_000, cost: 70_000, tax: 0, billedSec: 60, talkMs: 60_000, answeredAt: now, nextReservation: 20_000,
    });
    expect(tick.outcome).toBe('reserved');

    const r = await api('GET', `/v1/accounts/${id}/usage`);
    expect(r.status).toBe(200);
    const u = r.json;
    expect(u).toMatchObject({
      accountId: id,
      balance: 100_000_000 - 70_000,
      reserved: 20_000 + 60_000 + 60_000,
      channels: { limitPerSwitch: 4, total: 3, bySwitch: { [c.config.switchId]: 2, 'sw-other': 1 } },
      cps: { recent: 0.2, windowSeconds: 10 },
    });
    expect(u.available).toBe(u.balance - u.reserved);
    expect(u.availableUsd).toBe('99.790000');
    expect(u.burn.perSecond).toBeGreaterThan(0);
    expect(u.burn.perHour).toBeGreaterThan(0);
    expect(u.depletion.secondsToDepletion).toBeGreaterThan(0);
    expect(Math.abs(u.depletion.secondsToDepletion - u.available / u.burn.perSecond)).toBeLessThan(2);
    expect(Date.parse(u.depletion.depletesAt)).toBeGreaterThan(Date.now());

    expect((await api('GET', `/v1/accounts/${uniq('nobody')}/usage`)).status).toBe(404);
    expect((await api('GET', `/v1/accounts/${encodeURIComponent('a{b}')}/usage`)).status).toBe(400);
    expect((await api('GET', `/v1/accounts/${id}/usage?x=1`)).status).toBe(400);

    for (const x of calls) {
      await x.engine.finalizeCall({
        accountId: id, callId: x.callId, total: x === calls[0] ? 70_000 : 0, cost: 0, tax: 0, billedSec: 0, talkMs: 0, answeredAt: 0,
        endedAt: Date.now(), disposition: 'failed', reason: 'test', sipCode: 503,
      });
    }
  });

  // ------------------------------------------------------------------------------ Redis unavailable

  it('answers 503 unavailable, within its bound, when Redis is closed or does not answer', async () => {
    const c = ctx();
    // a closed single-node client (a closed cluster client fails inside node-redis with a TypeError instead)
    const conn = await connectRedis({ redis: { ...c.config.redis, url: inject('redisUrl'), clusterNodes: [] } });
    await conn.close();
    const deps = (redis: Redis, redisTimeoutMs = 5_000): AdminServerDeps => ({
      config: { ...c.config, admin: { listen: '127.0.0.1:0', token: TOKEN } },
      redis,
      keys: c.keys,
      engine: createEngine({ redis, keys: c.keys, switchId: c.config.switchId, leaseTtlMs: c.config.billing.leaseTtlMs }),
      metrics: createMetrics(),
      logger,
      health: { isConnected: () => true },
      options: { redisTimeoutMs, readyRedisTimeoutMs: 200 },
    });
    // a Redis that never answers: every command hangs, as with an unreachable server and an offline queue
    const hanging = new Proxy({}, { get: (_t, prop) => (prop === 'then' ? undefined : () => new Promise(() => {})) }) as unknown as Redis;
    for (const [redis, label] of [[conn.redis, 'closed'], [hanging, 'hanging']] as const) {
      const s = createAdminServer(deps(redis, 300));
      const url = (await listenAdmin(s, { listen: '127.0.0.1:0', token: TOKEN })).url;
      const call = client(() => url);
      try {
        const started = Date.now();
        for (const [method, path, send] of [
          ['GET', '/v1/accounts/someone', {}],
          ['POST', '/v1/accounts/someone/payments', { body: { amountUsd: '1', paymentId: 'p1' } }],
          ['GET', '/v1/calls?accountId=someone', {}],
        ] as [string, string, Send][]) {
          const r = await call(method, path, send);
          expect(r.status, `${label} ${path}`).toBe(503);
          expect(r.json.error.code).toBe('unavailable');
        }
        const ready = await call('GET', '/readyz', { token: null });
        expect(ready.status).toBe(503);
        expect(ready.json.error.problems[0]).toMatch(/^redis: /);
        expect(Date.now() - started).toBeLessThan(5_000);
        // a 4xx is still a 4xx: validation happens before Redis is touched
        expect((await call('GET', '/v1/accounts/a%7Bb%7D')).status).toBe(400);
      } finally {
        await s.close();
      }
    }
  });
});

describe('admin server binding', () => {
  const bare = (admin: { listen: string; token: string }) =>
    createAdminServer({
      config: { admin, switchId: 'sw1', redis: { commandTimeoutMs: 250 }, billing: { reenableMinimumUsd: 1_000_000 } } as AdminServerDeps['config'],
      redis: {} as Redis,
      keys: {} as AdminServerDeps['keys'],
      engine: {} as AdminServerDeps['engine'],
      metrics: createMetrics(),
      logger,
      health: { isConnected: () => true },
    });

  it('refuses to listen on a non-loopback address without a token, before binding anything', async () => {
    for (const listen of ['0.0.0.0:0', '10.1.2.3:8088', 'example.com:8088', '192.168.0.1:0']) {
      expect(() => checkAdminBind({ listen, token: '' }), listen).toThrow(AdminBindError);
    }
    const s = bare({ listen: '0.0.0.0:0', token: '' });
    await expect(listenAdmin(s, { listen: '0.0.0.0:0', token: '' })).rejects.toThrow(/admin\.token is empty/);
    expect(s.server.listening).toBe(false);
    await s.close();
    for (const listen of ['127.0.0.1:8088', '127.0.0.53:1', 'localhost:8088', 'LOCALHOST:1']) {
      expect(checkAdminBind({ listen, token: '' }).host).toBe(listen.slice(0, listen.lastIndexOf(':')));
    }
  });

  it('listens anywhere with a token; on loopback without one, the API is open to local callers', async () => {
    const withToken = bare({ listen: '0.0.0.0:0', token: TOKEN });
    const bound = await listenAdmin(withToken, { listen: '0.0.0.0:0', token: TOKEN });
    expect(bound.host).toBe('0.0.0.0');
    const local = client(() => `http://127.0.0.1:${bound.port}`);
    expect((await local('GET', '/healthz', { token: null })).status).toBe(200);
    expect((await local('GET', '/v1/accounts/x', { token: null })).status).toBe(401);
    await withToken.close();

    const open = bare({ listen: '127.0.0.1:0', token: '' });
    const url = (await listenAdmin(open, { listen: '127.0.0.1:0', token: '' })).url;
    // no token configured: no check (the route then fails on the stub Redis, which is not an auth failure)
    expect((await client(() => url)('GET', '/v1/accounts/x', { token: null })).status).not.toBe(401);
    await open.close();
  });
});
