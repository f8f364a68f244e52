/**
 * Identification can never be ambiguous: through the admin API (fastify inject) against a real Redis, single
 * node and cluster, a create or update that would give two accounts overlapping source addresses is refused,
 * naming the other account, unless both have tech prefixes and neither prefix starts the other; and the check
 * holds under concurrent writes.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createTestAdmin } from '../helpers/admin-server.js';
import { describeOnRedis } from '../helpers/context.js';
import { createAccountService, type AccountInput, type AccountService } from '../../src/accounts/index.js';
import { createEngine } from '../../src/redis/engine.js';

const TOKEN = 'identification-token-91c2aa07';
let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;
const base: AccountInput = { type: 'prepaid', channels: 2, cps: 5, billingCountry: 'US', deckId: 'std' };

describeOnRedis('identification rules through the admin API', (ctx) => {
  let svc: AccountService;
  let server: FastifyInstance;
  const api = async (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, body?: unknown) => {
    const r = await server.inject({ method, url, headers: { authorization: `Bearer ${TOKEN}` }, ...(body === undefined ? {} : { payload: body as object }) });
    return { status: r.statusCode, json: r.json() };
  };
  const create = (id: string, over: AccountInput) => api('POST', '/v1/accounts', { id, ...base, ...over });
  const catalogIds = async () => Object.keys(await ctx().conn.redis.hGetAll(ctx().keys.catalog));

  /** Refused with 400, one problem naming `other`, and nothing written for `id`. */
  async function expectAmbiguous(r: { status: number; json: any }, other: string, id?: string) { // eslint-disable-line @typescript-eslint/no-explicit-any -- a response body
    expect(r.status, JSON.stringify(r.json)).toBe(400);
    expect(r.json.error.code).toBe('invalid_request');
    expect(r.json.error.problems.join('\n')).toContain(`account "${other}"`);
    if (id) {
      expect(await ctx().conn.redis.exists(ctx().keys.account(id))).toBe(0);
      expect(await catalogIds()).not.toContain(id);
    }
  }

  beforeAll(async () => {
    const c = ctx();
    svc = createAccountService({ redis: c.conn.redis, keys: c.keys, engine: c.engine, config: c.config });
    await svc.loadRateDeck('std', 'prefix,rate_per_min,first_increment,next_increment\n1,0.01,6,6\n');
    server = await createTestAdmin(c, TOKEN, { accounts: svc });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('refuses the same IPv4 address for a second account, naming the first', async () => {
    const first = uniq('v4a');
    expect((await create(first, { ips: ['192.0.2.10'] })).status).toBe(201);
    const second = uniq('v4b');
    const r = await create(second, { ips: ['192.0.2.10'] });
    await expectAmbiguous(r, first, second);
    expect(r.json.error.problems[0]).toBe(
      `ips: 192.0.2.10 of account "${first}": calls from there could be billed to either account (this account has no tech prefix); ` +
        'give each account on a shared address its own tech prefix, none starting another',
    );
    // a PUT upsert and an update of a third account are refused the same way
    await expectAmbiguous(await api('PUT', `/v1/accounts/${uniq('v4c')}`, { ...base, ips: ['192.0.2.10'] }), first);
    const third = uniq('v4d');
    expect((await create(third, { ips: ['192.0.2.11'] })).status).toBe(201);
    await expectAmbiguous(await api('PATCH', `/v1/accounts/${third}`, { ips: ['192.0.2.11', '192.0.2.10'] }), first);
    expect((await api('GET', `/v1/accounts/${third}`)).json.ips).toEqual(['192.0.2.11']);
    // the account itself may be put again with its own address
    expect((await api('PATCH', `/v1/accounts/${first}`, { ips: ['192.0.2.10'], name: 'again' })).status).toBe(200);
  });

  it('refuses overlapping CIDR blocks, and an address inside another account\'s block', async () => {
    const wide = uniq('cidr');
    expect((await create(wide, { ips: ['198.51.100.0/24'] })).status).toBe(201);
    await expectAmbiguous(await create(uniq('in'), { ips: ['198.51.100.77'] }), wide);
    await expectAmbiguous(await create(uniq('sub'), { ips: ['198.51.100.128/25'] }), wide);
    await expectAmbiguous(await create(uniq('super'), { ips: ['198.51.0.0/16'] }), wide);
    expect((await create(uniq('next'), { ips: ['198.51.101.0/24'] })).status).toBe(201);
  });

  it('refuses overlapping IPv6, in any spelling, and an IPv4-mapped IPv6 address of an IPv4 account', async () => {
    const v6 = uniq('v6');
    expect((await create(v6, { ips: ['2001:db8:10::/48'] })).status).toBe(201);
    await expectAmbiguous(await create(uniq('v6b'), { ips: ['2001:DB8:10:0:0::1'] }), v6);
    await expectAmbiguous(await create(uniq('v6c'), { ips: ['2001:db8::/32'] }), v6);
    expect((await create(uniq('v6d'), { ips: ['2001:db8:11::/48'] })).status).toBe(201);
    const v4 = uniq('v4m');
    expect((await create(v4, { ips: ['192.0.2.200'] })).status).toBe(201);
    await expectAmbiguous(await create(uniq('mapped'), { ips: ['::ffff:192.0.2.200'] }), v4);
    await expectAmbiguous(await create(uniq('mapped'), { ips: ['::ffff:192.0.2.0/120'] }), v4);
  });

  it('lets accounts share an address when each has its own tech prefix, none starting another', async () => {
    const a = uniq('tpa');
    expect((await create(a, { ips: ['203.0.113.50'], techPrefix: '1001#' })).status).toBe(201);
    expect((await create(uniq('tpb'), { ips: ['203.0.113.50'], techPrefix: '1002#' })).status).toBe(201);
    // no prefix, the same prefix, or a prefix that starts the other (or that the other starts): refused
    await expectAmbiguous(await create(uniq('tpc'), { ips: ['203.0.113.50'] }), a);
    await expectAmbiguous(await create(uniq('tpd'), { ips: ['203.0.113.0/24'], techPrefix: '1001#' }), a);
    await expectAmbiguous(await create(uniq('tpe'), { ips: ['203.0.113.50'], techPrefix: '1001#9' }), a);
    await expectAmbiguous(await create(uniq('tpf'), { ips: ['203.0.113.50'], techPrefix: '100' }), a);
    // clearing a prefix on a shared address is refused too
    const r = await api('PATCH', `/v1/accounts/${a}`, { techPrefix: null });
    expect(r.status).toBe(400);
    expect((await api('GET', `/v1/accounts/${a}`)).json.techPrefix).toBe('1001#');
  });

  it('refuses an account id that a trusted identification header could not tell from another', async () => {
    const id = uniq('Hdr');
    expect((await create(id, { ips: ['192.0.2.230'] })).status).toBe(201);
    const r = await create(id.toUpperCase(), { ips: ['192.0.2.231'] });
    expect(r.status).toBe(400);
    expect(r.json.error.problems).toEqual([
      `id: account "${id}" differs only in letter case, and a trusted identification header could name either`,
    ]);
  });

  it('holds under concurrent writes from several instances: of accounts racing for one address, one wins', async () => {
    const c = ctx();
    const services = Array.from({ length: 6 }, () =>
      createAccountService({
        redis: c.conn.redis, keys: c.keys, config: c.config,
        engine: createEngine({ redis: c.conn.redis, keys: c.keys, switchId: 'sw1', leaseTtlMs: c.config.billing.leaseTtlMs }),
      }),
    );
    const ids = services.map(() => uniq('race'));
    const results = await Promise.allSettled(services.map((s, i) => s.putAccount(ids[i]!, { ...base, ips: ['192.0.2.240/29'] }, { mode: 'create' })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(Array(5).fill('invalid_request'));
    const stored = await Promise.all(ids.map((id) => c.conn.redis.exists(c.keys.account(id))));
    expect(stored.filter((n) => n === 1)).toHaveLength(1);
    expect(await c.conn.redis.exists(c.keys.catalogLock)).toBe(0);
  });
});
