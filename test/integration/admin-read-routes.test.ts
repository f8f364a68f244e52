/**
 * The read-only routes the CLI shows (a deck's rates, an account's latest payment) and the OpenAPI document,
 * over real HTTP against a real Redis, single node and cluster.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createAccountService } from '../../src/accounts/index.js';
import { describeOnRedis } from '../helpers/context.js';
import { startTestAdmin } from '../helpers/admin-server.js';

const TOKEN = 'read-routes-token-5b1e2f';
const DECK_CSV = 'prefix,rate_per_min,first_increment,next_increment,connect_fee\n1,0.01,6,6,\n44,0.02,60,60,0.05\n4420,0.03,1,1,\n';

describeOnRedis('admin API read routes', (ctx) => {
  let server: FastifyInstance;
  let base = '';
  const get = async (path: string, token: string | null = TOKEN) => {
    const res = await fetch(`${base}${path}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
    return { status: res.status, json: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };

  beforeAll(async () => {
    ({ server, url: base } = await startTestAdmin(ctx(), TOKEN));
    const c = ctx();
    const accounts = createAccountService({ redis: c.conn.redis, keys: c.keys, engine: c.engine, config: c.config });
    await accounts.loadRateDeck('rd', DECK_CSV);
    await accounts.putAccount('payer', { type: 'prepaid', channels: 1, cps: 1, billingCountry: 'US', deckId: 'rd', ips: ['192.0.2.44'] }, { mode: 'upsert' });
    await accounts.putAccount('unpaid', { type: 'prepaid', channels: 1, cps: 1, billingCountry: 'US', deckId: 'rd', ips: ['192.0.2.45'] }, { mode: 'upsert' });
    await accounts.applyFunds('payer', '5', 'first');
    await new Promise((r) => setTimeout(r, 5));
    await accounts.applyFunds('payer', '7.25', 'second');
  });
  afterAll(async () => {
    await server.close();
  });

  it("shows a deck's version, prefix count and rates, filtered by prefix and paged", async () => {
    const all = await get('/v1/ratedecks/rd/rates');
    expect(all.status).toBe(200);
    expect(all.json).toMatchObject({ deckId: 'rd', prefixes: 3, matched: 3, prefix: null, offset: 0, limit: 10_000 });
    expect(all.json.version).toMatch(/^[0-9a-f]{40}$/);
    expect(all.json.rates.map((r: { prefix: string }) => r.prefix)).toEqual(['1', '44', '4420']);
    expect(all.json.rates[1]).toEqual({
      prefix: '44', ratePerMin: 20_000, ratePerMinUsd: '0.020000', firstIncrement: 60, nextIncrement: 60, connectFee: 50_000, connectFeeUsd: '0.050000',
    });
    const only44 = await get('/v1/ratedecks/rd/rates?prefix=44&limit=1&offset=1');
    expect(only44.json).toMatchObject({ prefixes: 3, matched: 2, prefix: '44', rates: [{ prefix: '4420' }] });
    expect((await get('/v1/ratedecks/nodeck/rates')).json.error.code).toBe('deck_not_found');
    const bad = await get('/v1/ratedecks/rd/rates?prefix=4a&limit=0');
    expect(bad.status).toBe(400);
    expect(bad.json.error.problems).toEqual([expect.stringMatching(/^prefix: /), expect.stringMatching(/^limit: /)]);
  });

  it("shows an account's latest payment, or null", async () => {
    const paid = await get('/v1/accounts/payer/payments/latest');
    expect(paid.status).toBe(200);
    expect(paid.json).toEqual({
      accountId: 'payer',
      latest: { paymentId: 'second', amount: 7_250_000, amountUsd: '7.250000', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) },
    });
    expect((await get('/v1/accounts/unpaid/payments/latest')).json).toEqual({ accountId: 'unpaid', latest: null });
    expect((await get('/v1/accounts/nobody/payments/latest')).json.error.code).toBe('account_not_found');
    expect((await get('/v1/accounts/payer/payments/latest', null)).status).toBe(401);
  });

  it('publishes its OpenAPI document, behind the token, generated from the route schemas', async () => {
    expect((await get('/v1/openapi.json', null)).status).toBe(401);
    const doc = await get('/v1/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.json.openapi).toBe('3.1.0');
    expect(Object.keys(doc.json.paths)).toEqual(
      expect.arrayContaining(['/v1/accounts', '/v1/accounts/{id}/payments', '/v1/ratedecks/{deckId}/rates', '/v1/live']),
    );
    expect(doc.json.paths['/v1/ratedecks/{deckId}'].put.requestBody.content).toHaveProperty('text/csv');
    expect(doc.json.paths['/v1/openapi.json']).toBeUndefined();
  });
});
