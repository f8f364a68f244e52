/**
 * The money rules of the account service, through the admin API (fastify inject) against a real Redis, single
 * node and cluster: a payment id is required, a retry is a duplicate, a reused id with another amount a
 * conflict; amounts have one format; counts are JSON integers; payment ids are forgotten after the retention
 * window, pruned as payments arrive; updatedAt moves on every change.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createTestAdmin } from '../helpers/admin-server.js';
import { describeOnRedis } from '../helpers/context.js';
import { createAccountService, type AccountInput, type AccountService } from '../../src/accounts/index.js';

const TOKEN = 'money-rules-token-5d1e0c77a2';
const DAY_MS = 86_400_000;
let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;
/** Each account its own source address, so that no two are ambiguous. */
let host = 0;
const nextIp = () => `203.0.113.${++host}`;
const base = (): AccountInput => ({ type: 'prepaid', channels: 2, cps: 5, billingCountry: 'US', deckId: 'std', ips: [nextIp()] });

describeOnRedis('money rules through the admin API', (ctx) => {
  let clock = Date.parse('2026-01-10T12:00:00.000Z');
  let svc: AccountService;
  let server: FastifyInstance;
  const api = async (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, body?: unknown) => {
    const r = await server.inject({ method, url, headers: { authorization: `Bearer ${TOKEN}` }, ...(body === undefined ? {} : { payload: body as object }) });
    return { status: r.statusCode, json: r.json() };
  };
  const pay = (id: string, body: unknown) => api('POST', `/v1/accounts/${id}/payments`, body);
  const create = async (over: AccountInput = {}) => {
    const id = uniq('m');
    const r = await api('POST', '/v1/accounts', { id, ...base(), ...over });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    return id;
  };
  const stored = (id: string) => {
    const c = ctx();
    return Promise.all([c.conn.redis.hGetAll(c.keys.account(id)), c.conn.redis.hGetAll(c.keys.payments(id)), c.conn.redis.zRangeWithScores(c.keys.paymentsByTime(id), 0, -1)]);
  };

  beforeAll(async () => {
    const c = ctx();
    svc = createAccountService({ redis: c.conn.redis, keys: c.keys, engine: c.engine, config: c.config, now: () => new Date(clock) });
    await svc.loadRateDeck('std', 'prefix,rate_per_min,first_increment,next_increment\n1,0.01,6,6\n');
    server = await createTestAdmin(c, TOKEN, { accounts: svc });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('a retry with the same payment id and amount is a duplicate: 200, says so, changes nothing', async () => {
    const id = await create();
    const first = await pay(id, { amountUsd: '12.50', paymentId: 'inv-1' });
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ outcome: 'applied', paymentId: 'inv-1', amount: 12_500_000, account: { balance: 12_500_000 } });
    const before = await stored(id);
    const again = await pay(id, { amountUsd: '12.500000', paymentId: 'inv-1' });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ outcome: 'duplicate', paymentId: 'inv-1', amount: 12_500_000, account: { balance: 12_500_000 } });
    expect(await stored(id)).toEqual(before);
  });

  it('the same payment id with another amount is a 409 payment_conflict that names both amounts, and changes nothing', async () => {
    const id = await create();
    await pay(id, { amountUsd: '12.34', paymentId: 'p1' });
    const before = await stored(id);
    const conflict = await pay(id, { amountUsd: '99', paymentId: 'p1' });
    expect(conflict.status).toBe(409);
    expect(conflict.json.error.code).toBe('payment_conflict');
    expect(conflict.json.error.message).toContain('12.340000 USD');
    expect(conflict.json.error.message).toContain('99.000000 USD');
    expect(await stored(id)).toEqual(before);
    // the service refuses it the same way, whichever entry point calls it
    await expect(svc.applyFunds(id, '99', 'p1')).rejects.toMatchObject({ code: 'payment_conflict', appliedAmount: 12_340_000, requestedAmount: 99_000_000 });
  });

  it('a payment without an id is refused, and nothing is credited', async () => {
    const id = await create();
    const before = await stored(id);
    for (const body of [{ amountUsd: '5' }, { amountUsd: '5', paymentId: '' }]) {
      const r = await pay(id, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.problems[0]).toMatch(/^paymentId: required/);
    }
    await expect(svc.applyFunds(id, '5', undefined)).rejects.toMatchObject({ code: 'invalid_request', problems: [expect.stringMatching(/^paymentId: required/)] });
    expect(await stored(id)).toEqual(before);
  });

  it('takes amounts in one format, decimal strings, and says what is wrong with every other', async () => {
    const id = await create();
    const before = await stored(id);
    const refused: [unknown, RegExp][] = [
      [1e3, /^amountUsd: must be decimal dollars as a JSON string \(for example "12\.50"\), not a JSON number$/],
      [12.5, /not a JSON number/],
      ['1e3', /^amountUsd: must be written out without an exponent \(1000, not 1e3\), got "1e3"$/],
      ['1E-2', /without an exponent/],
      ['1,000', /^amountUsd: must be written without thousands separators/],
      ['1,000,000.50', /without thousands separators/],
      ['1.1234567', /^amountUsd: must be decimal dollars with at most 6 decimals, got "1\.1234567"$/],
      ['9000000000000', /^amountUsd: must be at most 1000000000\.000000 USD, the most callgate holds, got "9000000000000"$/],
      ['1000000000.000001', /must be at most 1000000000\.000000 USD/],
      ['-5', /^amountUsd: must not be negative/],
      ['0', /^amountUsd: must be more than 0/],
      ['0.000000', /must be more than 0/],
      ['abc', /^amountUsd: must be decimal dollars as a string, with at most 6 decimals/],
      ['$5', /must be decimal dollars as a string/],
      ['.5', /must be decimal dollars as a string/],
      [true, /not a JSON number|must be decimal dollars as a JSON string/],
    ];
    for (const [amountUsd, problem] of refused) {
      const r = await pay(id, { amountUsd, paymentId: uniq('p') });
      expect(r.status, JSON.stringify(amountUsd)).toBe(400);
      expect(r.json.error.code).toBe('invalid_request');
      expect(r.json.error.problems).toHaveLength(1);
      expect(r.json.error.problems[0]).toMatch(problem);
    }
    expect(await stored(id)).toEqual(before);
    // the service refuses a number the same way, and says which string to send
    await expect(svc.applyFunds(id, 1000, uniq('p'))).rejects.toMatchObject({
      problems: ['amount: must be decimal dollars as a string, with at most 6 decimals (for example "12.50"), not a JSON number: send "1000" instead of 1000'],
    });
    for (const [amountUsd, micros] of [['5', 5_000_000], ['0.000001', 1], ['12.50', 12_500_000], ['1000000.123456', 1_000_000_123_456]] as const) {
      const r = await pay(id, { amountUsd, paymentId: uniq('ok') });
      expect(r.status, amountUsd).toBe(201);
      expect(r.json.amount).toBe(micros);
    }
  });

  it('takes counts as JSON integers only, and country codes and on/off in any case', async () => {
    const refused: [Record<string, unknown>, RegExp][] = [
      [{ channels: '5' }, /^channels: must be a whole number as a JSON integer \(for example 5\), not a string or true\/false$/],
      [{ cps: true }, /^cps: must be a whole number as a JSON integer/],
      [{ burst: 2.5 }, /^burst: must be a whole number as a JSON integer/],
      [{ creditLimit: 100 }, /^creditLimit: must be decimal dollars as a JSON string/],
      [{ lowBalanceThreshold: 2.5 }, /^lowBalanceThreshold: must be decimal dollars as a JSON string/],
    ];
    for (const [over, problem] of refused) {
      const id = uniq('c');
      const r = await api('POST', '/v1/accounts', { id, ...base(), ...over });
      expect(r.status, JSON.stringify(over)).toBe(400);
      expect(r.json.error.problems[0]).toMatch(problem);
    }
    const id = await create({ channels: 5.0, billingCountry: 'gb' });
    const shown = await api('GET', `/v1/accounts/${id}`);
    expect(shown.json).toMatchObject({ channels: 5, billingCountry: 'GB', taxExempt: true });
    const limits = await api('PUT', `/v1/accounts/${id}/limits`, { channels: '3' });
    expect(limits.status).toBe(400);
    expect(limits.json.error.problems[0]).toMatch(/^channels: must be a whole number as a JSON integer/);
    const off = await api('PUT', `/v1/accounts/${id}/status`, { status: 'OFF' });
    expect(off.status).toBe(200);
    expect(off.json).toMatchObject({ status: 'off', offReason: 'manual' });
    expect((await api('PUT', `/v1/accounts/${id}/status`, { status: 'On' })).status).toBe(200);
  });

  it('forgets a payment id after the retention window, and prunes old ids as payments arrive, without a scan', async () => {
    const c = ctx();
    const id = await create();
    const windowMs = c.config.billing.paymentIdRetentionDays * DAY_MS;
    const start = clock;
    try {
      await pay(id, { amountUsd: '1', paymentId: 'old-1' });
      await pay(id, { amountUsd: '1', paymentId: 'old-2' });
      clock = start + windowMs - 1000;
      expect((await pay(id, { amountUsd: '1', paymentId: 'old-1' })).json.outcome).toBe('duplicate');
      expect((await pay(id, { amountUsd: '2', paymentId: 'old-1' })).status).toBe(409);
      clock = start + windowMs + 1000;
      // a new payment prunes both records past the window
      expect((await pay(id, { amountUsd: '1', paymentId: 'new-1' })).status).toBe(201);
      expect(Object.keys(await c.conn.redis.hGetAll(c.keys.payments(id)))).toEqual(['new-1']);
      expect(await c.conn.redis.zRange(c.keys.paymentsByTime(id), 0, -1)).toEqual(['new-1']);
      // an id past the window is a new payment, for any amount
      const reused = await pay(id, { amountUsd: '2', paymentId: 'old-1' });
      expect(reused.status).toBe(201);
      expect(reused.json.account.balance).toBe(5_000_000);
    } finally {
      clock = start;
    }
  });

  it('indexes payment records written before the index, a page per payment, and prunes them too', async () => {
    const c = ctx();
    const id = await create();
    const longAgo = clock - 500 * DAY_MS;
    const legacy = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`legacy-${i}`, `1000000|${longAgo}`]));
    await c.conn.redis.hSet(c.keys.payments(id), legacy);
    await c.conn.redis.hSet(c.keys.payments(id), 'recent', `1000000|${clock - DAY_MS}`);
    for (let i = 0; i < 4; i++) await pay(id, { amountUsd: '1', paymentId: uniq('p') });
    const left = Object.keys(await c.conn.redis.hGetAll(c.keys.payments(id)));
    expect(left.filter((k) => k.startsWith('legacy-'))).toEqual([]);
    expect(left).toContain('recent');
    expect((await pay(id, { amountUsd: '1', paymentId: 'recent' })).json.outcome).toBe('duplicate');
  });

  it('moves updatedAt on every change: put, limits, funds, status', async () => {
    const id = await create();
    const stamps: string[] = [];
    const step = async (change: () => Promise<{ status: number }>) => {
      clock += 60_000;
      expect((await change()).status).toBeLessThan(300);
      stamps.push((await api('GET', `/v1/accounts/${id}`)).json.updatedAt);
    };
    await step(() => api('PATCH', `/v1/accounts/${id}`, { name: 'renamed' }));
    await step(() => api('PUT', `/v1/accounts/${id}/limits`, { channels: 7 }));
    await step(() => pay(id, { amountUsd: '3', paymentId: uniq('p') }));
    await step(() => api('PUT', `/v1/accounts/${id}/status`, { status: 'off' }));
    expect(stamps).toEqual(stamps.map((_, i) => new Date(clock - (stamps.length - 1 - i) * 60_000).toISOString()));
  });
});
