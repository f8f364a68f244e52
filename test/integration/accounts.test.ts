import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, expect, it } from 'vitest';
import { describeOnRedis, type TestContext } from '../helpers/context.js';
import { waitFor as waitUntil } from '../helpers/wait.js';
import {
  AccountExistsError,
  AccountNotFoundError,
  RateDeckInvalidError,
  ValidationError,
  createAccountService,
  type AccountInput,
  type AccountService,
  type CatalogEntry,
} from '../../src/accounts/index.js';
import { deserializeRateDeck } from '../../src/rating/deck-codec.js';
import { freshSourceIps } from '../helpers/fixtures.js';
import { ACCOUNT_VIEW_FIELDS } from '../../src/redis/codecs/account-hash.js';

let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;

const prepaidInput: AccountInput = {
  type: 'prepaid',
  name: 'ACME Telecom',
  channels: '10',
  cps: '5',
  billingCountry: 'US',
  deckId: 'std',
  // fresh addresses on every spread: accounts may not share an address (see freshSourceIps)
  get ips() {
    return freshSourceIps();
  },
};
const postpaidInput: AccountInput = {
  type: 'postpaid',
  name: 'ACME Telecom',
  channels: '10',
  cps: '5',
  billingCountry: 'US',
  deckId: 'std',
  creditLimit: '5000',
  get ips() {
    return freshSourceIps();
  },
};

const DECK_CSV = 'prefix,rate_per_min,first_increment,next_increment,connect_fee\n1,0.01,6,6,\n44,0.02,60,60,0.05\n';

function serviceOf(ctx: TestContext): AccountService {
  return createAccountService({ redis: ctx.conn.redis, keys: ctx.keys, engine: ctx.engine, config: ctx.config });
}

/** Expects `promise` to reject with an error of class `type`, and returns it for further checks. */
async function refusal<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(type);
  return err as T;
}

/** Everything an account operation could have written for `id`, to prove that a refusal wrote nothing. */
async function snapshot(ctx: TestContext, id: string) {
  const r = ctx.conn.redis;
  const k = ctx.keys;
  const [account, catalog, events, payments] = await Promise.all([
    r.hGetAll(k.account(id)),
    r.hGet(k.catalog, id),
    r.exists(k.events(id)).then((e) => (e ? r.xLen(k.events(id)) : -1)),
    r.hGetAll(k.payments(id)),
  ]);
  return { account, catalog, events, payments };
}

/** Every key under this suite's prefix (single node only: KEYS does not span a cluster). */
async function allKeys(ctx: TestContext): Promise<string[]> {
  if (ctx.conn.isCluster) return [];
  const r = ctx.conn.redis as unknown as { keys(pattern: string): Promise<string[]> };
  return (await r.keys(`${ctx.keys.prefix}*`)).sort();
}

interface Subscriber {
  messages: string[];
  close(): Promise<void>;
}

/** A second connection (a duplicate cluster client on a cluster) listening on the change channel. */
async function subscribeChanges(ctx: TestContext): Promise<Subscriber> {
  const dup = (ctx.conn.redis as unknown as { duplicate(): unknown }).duplicate() as {
    connect(): Promise<unknown>;
    subscribe(channel: string, listener: (message: string) => void): Promise<void>;
    close(): Promise<void>;
    on(event: 'error', listener: (err: Error) => void): unknown;
  };
  dup.on('error', () => {});
  await dup.connect();
  const messages: string[] = [];
  await dup.subscribe(ctx.keys.changes, (m) => messages.push(m));
  return { messages, close: () => dup.close() };
}

async function waitFor(check: () => boolean, timeoutMs = 3000): Promise<void> {
  await waitUntil(String(check), check, { timeoutMs, intervalMs: 20 });
}

const HOSTILE_IDS = ['a{b}', 'a:b', '*', '', 'x'.repeat(65), 'ünï', '../x', 'a b', 'a\nb', 'a}:acct'];

describeOnRedis('accounts service', (ctx) => {
  const svc = () => serviceOf(ctx());
  beforeAll(async () => {
    await svc().loadRateDeck('std', DECK_CSV);
  });

  it('creates a prepaid account: starts OFF/depleted with no funds, catalog entry written and announced', async () => {
    const sub = await subscribeChanges(ctx());
    try {
      const id = uniq('pre');
      const r = await svc().putAccount(id, { ...prepaidInput, ips: ['192.0.2.10', '198.51.100.0/24'] }, { mode: 'create' });
      expect(r.created).toBe(true);
      expect(r.account).toMatchObject({
        id,
        type: 'prepaid',
        name: 'ACME Telecom',
        status: 'off',
        offReason: 'depleted',
        balance: 0,
        reserved: 0,
        available: 0,
        owed: null,
        creditLimit: 0,
        channels: 10,
        cps: 5,
        burst: 5,
        fusfOnFile: false,
        billingCountry: 'US',
        taxExempt: false,
        lowBalanceThreshold: 0,
        deckId: 'std',
        techPrefix: null,
        ips: ['192.0.2.10', '198.51.100.0/24'],
      });
      expect(r.account.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      const entry = JSON.parse((await ctx().conn.redis.hGet(ctx().keys.catalog, id)) ?? 'null') as CatalogEntry;
      expect(entry).toEqual({ id, type: 'prepaid', ips: ['192.0.2.10', '198.51.100.0/24'], techPrefix: null, deckId: 'std', taxExempt: false });
      await waitFor(() => sub.messages.includes(`catalog|${id}`));
    } finally {
      await sub.close();
    }
  });

  it('creates a postpaid account: ON with the credit line available and nothing owed', async () => {
    const id = uniq('post');
    const r = await svc().putAccount(id, { ...postpaidInput, fusfOnFile: true, lowBalanceThreshold: '250.5' }, { mode: 'create' });
    expect(r.account).toMatchObject({
      type: 'postpaid',
      status: 'on',
      offReason: null,
      creditLimit: 5_000_000_000,
      available: 5_000_000_000,
      owed: 0,
      taxExempt: true,
      lowBalanceThreshold: 250_500_000,
    });
    const got = await svc().getAccount(id);
    expect(got).toMatchObject({ id, creditLimit: 5_000_000_000, liveCalls: { total: 0, bySwitch: {} } });
  });

  it('update merges the given fields over the stored account and re-derives burst and tax exemption', async () => {
    const id = uniq('upd');
    const created = await svc().putAccount(id, { ...prepaidInput, techPrefix: '7001#', burst: '20' }, { mode: 'create' });
    expect(created.account.burst).toBe(20);
    const r = await svc().putAccount(id, { name: 'ACME Wholesale', cps: '8', billingCountry: 'GB' }, { mode: 'update' });
    expect(r.created).toBe(false);
    expect(r.account).toMatchObject({
      name: 'ACME Wholesale',
      cps: 8,
      burst: 8, // a cps given without a burst sets the burst
      billingCountry: 'GB',
      taxExempt: true,
      channels: 10, // kept
      techPrefix: '7001#', // kept
      ips: created.account.ips, // kept
      type: 'prepaid',
    });
    const entry = JSON.parse((await ctx().conn.redis.hGet(ctx().keys.catalog, id))!) as CatalogEntry;
    expect(entry).toMatchObject({ taxExempt: true, techPrefix: '7001#' });
    // clearing optional references, and an upsert of an existing account is an update
    const cleared = await svc().putAccount(id, { techPrefix: '', ips: ['2001:DB8::/32'] }, { mode: 'upsert' });
    expect(cleared.account).toMatchObject({ techPrefix: null, ips: ['2001:db8::/32'], name: 'ACME Wholesale' });
  });

  it('create refuses a taken id and update refuses an unknown one, writing nothing', async () => {
    const id = uniq('dup');
    await svc().putAccount(id, prepaidInput, { mode: 'create' });
    const before = await snapshot(ctx(), id);
    const exists = await refusal(svc().putAccount(id, { ...prepaidInput, name: 'other' }, { mode: 'create' }), AccountExistsError);
    expect(exists.code).toBe('account_exists');
    expect(await snapshot(ctx(), id)).toEqual(before);

    const missing = uniq('missing');
    const notFound = await refusal(svc().putAccount(missing, { name: 'x' }, { mode: 'update' }), AccountNotFoundError);
    expect(notFound.code).toBe('account_not_found');
    expect(await ctx().conn.redis.exists(ctx().keys.account(missing))).toBe(0);
    expect(await ctx().conn.redis.hExists(ctx().keys.catalog, missing)).toBeFalsy();
  });

  it('reports every problem of an update at once and changes nothing', async () => {
    const id = uniq('bad');
    await svc().putAccount(id, prepaidInput, { mode: 'create' });
    const before = await snapshot(ctx(), id);
    const keysBefore = await allKeys(ctx());
    const err = await refusal(
      svc().putAccount(
        id,
        {
          type: 'free',
          name: 'bell\u0007',
          creditLimit: '1.1234567',
          channels: '1.5',
          cps: '1e3',
          burst: '-1',
          fusfOnFile: 'yes',
          billingCountry: 'usa',
          lowBalanceThreshold: '-3',
          deckId: 'a{b}',
          ips: ['10.0.0.1/24', 'not-an-ip', '0.0.0.0/0', '192.0.2.1/33'],
          techPrefix: '12ab',
          colour: 'blue',
        } as AccountInput,
        { mode: 'update' },
      ),
      ValidationError,
    );
    expect(err.code).toBe('invalid_request');
    const fields = err.problems.map((p) => p.split(':')[0]);
    expect(fields).toEqual(
      expect.arrayContaining([
        'type',
        'name',
        'creditLimit',
        'channels',
        'cps',
        'burst',
        'fusfOnFile',
        'billingCountry',
        'lowBalanceThreshold',
        'deckId',
        'ips[0]',
        'ips[1]',
        'ips[2]',
        'ips[3]',
        'techPrefix',
        '"colour"',
      ]),
    );
    expect(err.problems.find((p) => p.startsWith('ips[0]'))).toContain('did you mean 10.0.0.0/24');
    expect(err.message).toContain('channels: must be a whole number');
    expect(await snapshot(ctx(), id)).toEqual(before);
    expect(await allKeys(ctx())).toEqual(keysBefore);
  });

  it('refuses creations that break the account rules, naming each rule, and writes nothing', async () => {
    const cases: [AccountInput, string[]][] = [
      [{}, ['type: required', 'channels: required', 'cps: required', 'billingCountry: required', 'deckId: required', 'ips: required']],
      [{ ...prepaidInput, deckId: '' }, ['deckId: must be a rate deck id']],
      [{ ...prepaidInput, creditLimit: '100' }, ['creditLimit: must be 0 for a prepaid account']],
      [{ ...postpaidInput, creditLimit: undefined }, ['creditLimit: a postpaid account needs a credit limit above 0']],
      [{ ...postpaidInput, creditLimit: '0' }, ['creditLimit: a postpaid account needs a credit limit above 0']],
      [{ ...prepaidInput, cps: '5', burst: '0' }, ['burst: must be at least 1 when cps is above 0']],
      [{ ...prepaidInput, ips: [] }, ['ips: at least one source address']],
      [{ ...prepaidInput, channels: '100001', cps: '10001' }, ['channels: must be a whole number from 0 to 100000', 'cps: must be a whole number from 0 to 10000']],
      [{ ...prepaidInput, deckId: 'nodeck' }, ['deckId: rate deck "nodeck" is not loaded']],
    ];
    for (const [input, expected] of cases) {
      const id = uniq('rule');
      const err = await refusal(svc().putAccount(id, input, { mode: 'upsert' }), ValidationError);
      for (const e of expected) expect(err.problems.some((p) => p.startsWith(e)), `${e} in ${err.problems.join(' | ')}`).toBe(true);
      expect(err.problems).toHaveLength(expected.length);
      expect(await ctx().conn.redis.exists(ctx().keys.account(id))).toBe(0);
      expect(await ctx().conn.redis.hExists(ctx().keys.catalog, id)).toBeFalsy();
    }
    // an update that would break a rule through the merge: prepaid -> postpaid needs a credit limit
    const id = uniq('merge');
    await svc().putAccount(id, prepaidInput, { mode: 'create' });
    const before = await snapshot(ctx(), id);
    const err = await refusal(svc().putAccount(id, { type: 'postpaid' }, { mode: 'update' }), ValidationError);
    expect(err.problems).toEqual(['creditLimit: a postpaid account needs a credit limit above 0']);
    const nothing = await refusal(svc().putAccount(id, {}, { mode: 'update' }), ValidationError);
    expect(nothing.problems[0]).toMatch(/^nothing to change/);
    expect(await snapshot(ctx(), id)).toEqual(before);
  });

  it('refuses hostile account and deck ids everywhere, with no key written', async () => {
    const keysBefore = await allKeys(ctx());
    for (const id of HOSTILE_IDS) {
      const ops: Promise<unknown>[] = [
        svc().putAccount(id, prepaidInput, { mode: 'upsert' }),
        svc().getAccount(id),
        svc().applyFunds(id, '10', uniq('pay')),
        svc().setStatus(id, 'off'),
        svc().setLimits(id, { channels: '1' }),
        svc().loadRateDeck(id, DECK_CSV),
      ];
      for (const op of ops) {
        const err = await refusal(op, ValidationError);
        expect(err.problems[0]).toMatch(/^(id|deckId): must be 1-64 characters/);
      }
      // the key a naive builder would have made, on whatever node owns it
      const raw = `${ctx().keys.prefix}{a:${id}}:acct`;
      expect(await ctx().conn.redis.exists(raw)).toBe(0);
      expect(await ctx().conn.redis.hExists(ctx().keys.catalog, id)).toBeFalsy();
      expect(await ctx().conn.redis.hExists(ctx().keys.deckIndex, id)).toBeFalsy();
    }
    // the other problems of the request are reported with the id's
    const err = await refusal(svc().putAccount('a{b}', { ...prepaidInput, channels: '-1' }, { mode: 'create' }), ValidationError);
    expect(err.problems).toHaveLength(2);
    expect(err.problems[1]).toMatch(/^channels:/);
    expect(await allKeys(ctx())).toEqual(keysBefore);
  });

  it('refuses amounts that are not positive decimal dollars with at most 6 decimals', async () => {
    const id = uniq('amt');
    await svc().putAccount(id, prepaidInput, { mode: 'create' });
    const before = await snapshot(ctx(), id);
    for (const amount of ['1.1234567', '1e3', '-5', '0', '0.000000', '', ' ', 'abc', '12,50', '$5', '1e-7', 1e21, null, undefined]) {
      const err = await refusal(svc().applyFunds(id, amount, uniq('pay')), ValidationError);
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toMatch(/^amount: /);
    }
    const both = await refusal(svc().applyFunds(id, '-1', 'bad payment id!'), ValidationError);
    expect(both.problems.map((p) => p.split(':')[0])).toEqual(['amount', 'paymentId']);
    expect(await snapshot(ctx(), id)).toEqual(before);
    // and a credit limit with 7 decimals is refused at put
    const err = await refusal(svc().putAccount(uniq('cl'), { ...postpaidInput, creditLimit: '10.0000001' }, { mode: 'create' }), ValidationError);
    expect(err.problems[0]).toMatch(/^creditLimit: must be decimal dollars/);
  });

  it('applies a payment once per payment id, and refuses a payment without one', async () => {
    const id = uniq('pay');
    await svc().putAccount(id, prepaidInput, { mode: 'create' });
    const first = await svc().applyFunds(id, '10.25', 'inv-2024-001');
    expect(first).toMatchObject({ outcome: 'applied', paymentId: 'inv-2024-001', amount: 10_250_000 });
    expect(first.account).toMatchObject({ balance: 10_250_000, status: 'on' });
    const again = await svc().applyFunds(id, '10.25', 'inv-2024-001');
    expect(again.outcome).toBe('duplicate');
    expect(again.account.balance).toBe(10_250_000);
    for (const missing of [undefined, null, '']) {
      const err = await refusal(svc().applyFunds(id, '1', missing), ValidationError);
      expect(err.problems).toEqual([expect.stringMatching(/^paymentId: required/)]);
    }
    expect((await svc().getAccount(id)).balance).toBe(10_250_000);
    await refusal(svc().applyFunds(uniq('nobody'), '1', uniq('p')), AccountNotFoundError);
  });

  it('a payment lifts an automatic OFF only once available funds reach the re-enable minimum', async () => {
    expect(ctx().config.billing.reenableMinimumUsd).toBe(1_000_000);
    const id = uniq('reen');
    const created = await svc().putAccount(id, prepaidInput, { mode: 'create' });
    expect(created.account).toMatchObject({ status: 'off', offReason: 'depleted' });
    const small = await svc().applyFunds(id, '0.5', uniq('p'));
    expect(small.account).toMatchObject({ status: 'off', offReason: 'depleted', available: 500_000 });
    const enough = await svc().applyFunds(id, '0.5', uniq('p'));
    expect(enough.account).toMatchObject({ status: 'on', offReason: null, available: 1_000_000 });
  });

  it('a manual OFF survives a payment and is lifted only by an engineer', async () => {
    const id = uniq('man');
    await svc().putAccount(id, prepaidInput, { mode: 'create' });
    await svc().applyFunds(id, '50', uniq('p'));
    const off = await svc().setStatus(id, 'off', 'MSA violation: short call durations');
    expect(off).toMatchObject({ status: 'off', offReason: 'manual', statusNote: 'MSA violation: short call durations' });
    const paid = await svc().applyFunds(id, '100', uniq('p'));
    expect(paid.account).toMatchObject({ status: 'off', offReason: 'manual', balance: 150_000_000 });
    const on = await svc().setStatus(id, 'on');
    expect(on).toMatchObject({ status: 'on', offReason: null });
    // ON for an account without funds goes straight back OFF by the rules
    const broke = uniq('broke');
    await svc().putAccount(broke, prepaidInput, { mode: 'create' });
    expect(await svc().setStatus(broke, 'on')).toMatchObject({ status: 'off', offReason: 'depleted' });
  });

  it('refuses bad status requests and unknown accounts', async () => {
    const id = uniq('st');
    await svc().putAccount(id, prepaidInput, { mode: 'create' });
    const before = await snapshot(ctx(), id);
    const err = await refusal(svc().setStatus(id, 'paused', 'line\nbreak'), ValidationError);
    expect(err.problems.map((p) => p.split(':')[0])).toEqual(['status', 'note']);
    expect(await snapshot(ctx(), id)).toEqual(before);
    await refusal(svc().setStatus(uniq('nobody'), 'off'), AccountNotFoundError);
  });

  it('getAccount counts live calls by owning switch, in the script or a page at a time past 2,000 calls', async () => {
    const c = ctx();
    const id = uniq('view');
    await svc().putAccount(id, prepaidInput, { mode: 'create' });
    // live call records as the scripts write them: the owning switch leads the record
    const record = (sw: string) => `${sw}|0|0|0|0|0|0|0|\n{}`;
    const fill = async (from: number, to: number, sw: string) => {
      const fields: Record<string, string> = {};
      for (let i = from; i < to; i++) fields[`call-${i}`] = record(sw);
      await c.conn.redis.hSet(c.keys.calls(id), fields);
    };
    await fill(0, 3, 'sw-a');
    await fill(3, 4, 'sw-b');
    expect((await svc().getAccount(id)).liveCalls).toEqual({ total: 4, bySwitch: { 'sw-a': 3, 'sw-b': 1 } });
    // 2,000 is still counted by the script; one more and the service pages through the hash instead
    await fill(4, 2000, 'sw-b');
    expect((await svc().getAccount(id)).liveCalls).toEqual({ total: 2000, bySwitch: { 'sw-a': 3, 'sw-b': 1997 } });
    await fill(2000, 2501, 'sw-c');
    expect((await svc().getAccount(id)).liveCalls).toEqual({ total: 2501, bySwitch: { 'sw-a': 3, 'sw-b': 1997, 'sw-c': 501 } });
    await c.conn.redis.del(c.keys.calls(id));
    expect((await svc().getAccount(id)).liveCalls).toEqual({ total: 0, bySwitch: {} });
    await refusal(svc().getAccount(uniq('nobody')), AccountNotFoundError);
  });

  it('limits changed live are read by the very next admitCall', async () => {
    const c = ctx();
    const id = uniq('lim');
    await svc().putAccount(id, { ...prepaidInput, channels: '1', cps: '100' }, { mode: 'create' });
    await svc().applyFunds(id, '10', uniq('p'));
    const admit = (callId: string) => c.engine.admitCall({ accountId: id, callId, reservation: 1000, seed: '{}' });
    expect((await admit('c1')).outcome).toBe('admitted');
    expect(await admit('c2')).toMatchObject({ outcome: 'channel_limit', inUse: 1 });

    const wider = await svc().setLimits(id, { channels: '2' });
    expect(wider).toMatchObject({ channels: 2, cps: 100, burst: 100 });
    expect((await admit('c3')).outcome).toBe('admitted');
    const live = await svc().getAccount(id);
    expect(live.liveCalls).toEqual({ total: 2, bySwitch: { [c.config.switchId]: 2 } });
    expect(live.reserved).toBe(2000);

    // cps 0: burst follows to 0, the bucket is capped, and the next INVITE is refused for CPS
    const blocked = await svc().setLimits(id, { cps: '0', channels: '5' });
    expect(blocked).toMatchObject({ channels: 5, cps: 0, burst: 0 });
    expect((await admit('c4')).outcome).toBe('cps_exceeded');
    const reopened = await svc().setLimits(id, { cps: 10 });
    expect(reopened).toMatchObject({ cps: 10, burst: 10 });
    // the empty bucket now refills at the new rate: one token every 100 ms, not a whole burst at once
    const refilling = await admit('c5');
    if (refilling.outcome === 'cps_exceeded') {
      expect(refilling.retryAfterMs).toBeLessThanOrEqual(100);
      await sleep(refilling.retryAfterMs + 20); // the scenario: the bucket refills for the time it said
      expect((await admit('c6')).outcome).toBe('admitted');
    } else {
      expect(refilling.outcome).toBe('admitted');
    }
  });

  it('refuses bad limits at once, and limits of an unknown account', async () => {
    const id = uniq('badlim');
    await svc().putAccount(id, prepaidInput, { mode: 'create' });
    const before = await snapshot(ctx(), id);
    const none = await refusal(svc().setLimits(id, {}), ValidationError);
    expect(none.problems).toEqual(['give at least one of channels, cps, burst']);
    const bad = await refusal(svc().setLimits(id, { channels: '1.5', cps: '12abc', burst: '1e3' }), ValidationError);
    expect(bad.problems.map((p) => p.split(':')[0])).toEqual(['channels', 'cps', 'burst']);
    const zeroBurst = await refusal(svc().setLimits(id, { burst: '0' }), ValidationError);
    expect(zeroBurst.problems).toEqual(['burst: must be at least 1 when cps is above 0']);
    expect(await snapshot(ctx(), id)).toEqual(before);
    await refusal(svc().setLimits(uniq('nobody'), { channels: '1' }), AccountNotFoundError);
  });

  it('loads a rate deck, indexes its version and announces it; accounts may then use it', async () => {
    const sub = await subscribeChanges(ctx());
    try {
      const deckId = uniq('deck');
      const r = await svc().loadRateDeck(deckId, DECK_CSV);
      expect(r.deckId).toBe(deckId);
      expect(r.prefixes).toBe(2);
      expect(r.version).toMatch(/^[0-9a-f]{40}$/);
      const stored = await ctx().conn.redis.get(ctx().keys.deck(deckId));
      const deck = deserializeRateDeck(deckId, stored!);
      expect(deck.lookup('4420712345')).toMatchObject({ prefix: '44', ratePerMinMicros: 20_000, connectFeeMicros: 50_000 });
      expect(await ctx().conn.redis.hGet(ctx().keys.deckIndex, deckId)).toBe(r.version);
      expect(await svc().getRateDeckVersion(deckId)).toEqual({ deckId, version: r.version });
      await waitFor(() => sub.messages.includes(`deck|${deckId}`));

      const id = uniq('decked');
      const put = await svc().putAccount(id, { ...prepaidInput, deckId }, { mode: 'create' });
      expect(put.account.deckId).toBe(deckId);
      expect(JSON.parse((await ctx().conn.redis.hGet(ctx().keys.catalog, id))!)).toMatchObject({ deckId });
    } finally {
      await sub.close();
    }
  });

  it('refuses a bad rate deck with the line of each problem, storing nothing and keeping the old deck', async () => {
    const deckId = uniq('baddeck');
    const bad = 'prefix,rate_per_min,first_increment,next_increment\n1,0.01,6,6\n44,abc,6,6\n# comment\n49x,0.01,0,6\n';
    const err = await refusal(svc().loadRateDeck(deckId, bad), RateDeckInvalidError);
    expect(err.code).toBe('ratedeck_invalid');
    expect(err.problems.map((p) => p.line)).toEqual([3, 5, 5]);
    expect(err.message).toContain('line 3');
    expect(await ctx().conn.redis.exists(ctx().keys.deck(deckId))).toBe(0);
    expect(await ctx().conn.redis.hExists(ctx().keys.deckIndex, deckId)).toBeFalsy();

    const good = await svc().loadRateDeck(deckId, DECK_CSV);
    await refusal(svc().loadRateDeck(deckId, bad), RateDeckInvalidError);
    expect(await ctx().conn.redis.hGet(ctx().keys.deckIndex, deckId)).toBe(good.version);
    expect(deserializeRateDeck(deckId, (await ctx().conn.redis.get(ctx().keys.deck(deckId)))!).rates).toHaveLength(2);
  });

  it('lists every account of the catalog, page by page', async () => {
    const ids = [uniq('list'), uniq('list'), uniq('list')];
    for (const id of ids) await svc().putAccount(id, prepaidInput, { mode: 'create' });
    const seen = new Set<string>();
    let cursor = '0';
    let pages = 0;
    do {
      const page = await svc().listAccounts({ cursor, limit: 2 });
      page.ids.forEach((i) => seen.add(i));
      cursor = page.cursor;
      pages++;
    } while (cursor !== '0' && pages < 1000);
    for (const id of ids) expect(seen.has(id)).toBe(true);
    const err = await refusal(svc().listAccounts({ cursor: 'abc', limit: 0 }), ValidationError);
    expect(err.problems.map((p) => p.split(':')[0])).toEqual(['cursor', 'limit']);
  });

  it('the account view reads every field an account hash holds, each under its own name', async () => {
    const c = ctx();
    const id = uniq('fields');
    // every field set, each to a value no other field has: a field missing from the script's HMGET, or
    // read in another order than ACCOUNT_VIEW_FIELDS, would show here
    await svc().putAccount(id, { ...postpaidInput, techPrefix: '#77', billingCountry: 'CA', lowBalanceThreshold: '25' }, { mode: 'create' });
    await svc().applyFunds(id, '12.5', uniq('p'));
    await svc().setStatus(id, 'off', 'fraud review');
    const stored = await c.conn.redis.hGetAll(c.keys.account(id));
    expect(Object.keys(stored).sort()).toEqual([...ACCOUNT_VIEW_FIELDS].sort());
    const view = await c.engine.readAccountView(id, 10);
    expect(view).toEqual({ outcome: 'ok', hash: { ...stored }, liveCalls: { total: 0, bySwitch: {} } });
    // a field the account does not have is left out, not read as an empty string
    await c.conn.redis.hDel(c.keys.account(id), 'techPrefix');
    const without = await c.engine.readAccountView(id, 10);
    const { techPrefix: _cleared, ...rest } = stored;
    expect(without).toEqual({ outcome: 'ok', hash: rest, liveCalls: { total: 0, bySwitch: {} } });
    // more live calls than the script may count: the caller is told to page
    await c.conn.redis.hSet(c.keys.calls(id), { a: 'sw-a|0', b: 'sw-b|0', d: 'sw-a|0' });
    expect(await c.engine.readAccountView(id, 3)).toMatchObject({ liveCalls: { total: 3, bySwitch: { 'sw-a': 2, 'sw-b': 1 } } });
    expect(await c.engine.readAccountView(id, 2)).toMatchObject({ outcome: 'ok', liveCalls: null });
    await c.conn.redis.del(c.keys.calls(id));
    expect(await c.engine.readAccountView(uniq('nobody'), 10)).toEqual({ outcome: 'unknown_account' });
  });

  it('getAccount of an unknown account fails with a named error', async () => {
    const err = await refusal(svc().getAccount(uniq('nobody')), AccountNotFoundError);
    expect(err.code).toBe('account_not_found');
  });
});
