import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { describeOnRedis, type TestContext } from '../helpers/context.js';
import { decodeAccountHash, type AccountLimits } from '../../src/redis/codecs/account-hash.js';
import { priceTalk } from '../../src/rating/price.js';
import { cdrFromStreamEntry, toCsvRow } from '../../src/cdr/builder.js';

let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;

const limits: AccountLimits = { type: 'prepaid', creditLimit: 0, channels: 10, cps: 1000, burst: 1000, lowBalanceThreshold: 0 };

async function prepaid(ctx: TestContext, fields: Partial<AccountLimits> = {}, fundsMicros = 10_000_000): Promise<string> {
  const id = uniq('pre');
  await ctx.engine.putAccount(id, { ...limits, ...fields });
  if (fundsMicros > 0) await ctx.engine.applyFunds(id, uniq('pay'), fundsMicros, 0);
  return id;
}

async function postpaid(ctx: TestContext, creditLimit: number, fields: Partial<AccountLimits> = {}): Promise<string> {
  const id = uniq('post');
  await ctx.engine.putAccount(id, { ...limits, type: 'postpaid', creditLimit, ...fields });
  return id;
}

const admit = (ctx: TestContext, accountId: string, reservation = 1000, callId = uniq('call'), staticCdr = '{}') =>
  ctx.engine.admitCall({ accountId, callId, reservation, seed: staticCdr }).then((r) => ({ ...r, callId }));

const finalizeAt = (ctx: TestContext, accountId: string, callId: string, total: number, disposition: 'answered' | 'cancelled' = 'answered') =>
  ctx.engine.finalizeCall({
    accountId, callId, total, cost: total, tax: 0, billedSec: 0, talkMs: 0, answeredAt: 0, endedAt: Date.now(),
    disposition, reason: 'test', sipCode: 200,
  });

async function pay(ctx: TestContext, id: string, paymentId: string, amount: number, reenableMinimum: number) {
  const r = await ctx.engine.applyFunds(id, paymentId, amount, reenableMinimum);
  if (r.outcome === 'unknown_account' || r.outcome === 'balance_limit' || r.outcome === 'conflict') throw new Error(`payment refused: ${r.outcome}`);
  return r;
}

async function accountHash(ctx: TestContext, id: string) {
  const a = decodeAccountHash(await ctx.conn.redis.hGetAll(ctx.keys.account(id)));
  return { ...a, balance: String(a.balance), reserved: String(a.reserved) };
}

describeOnRedis('engine invariants', (ctx) => {
  it('admits exactly `channels` calls out of 500 concurrent admits (invariant 1)', async () => {
    const id = await prepaid(ctx(), { channels: 10, cps: 100000, burst: 100000 }, 1_000_000_000);
    const results = await Promise.all(Array.from({ length: 500 }, () => admit(ctx(), id)));
    const outcomes = results.map((r) => r.outcome);
    expect(outcomes.filter((o) => o === 'admitted')).toHaveLength(10);
    expect(outcomes.filter((o) => o === 'channel_limit')).toHaveLength(490);
    expect(await ctx().conn.redis.zCard(ctx().keys.leases(id, ctx().config.switchId))).toBe(10);
    // a freed channel is admitted again, and only one
    const first = results.find((r) => r.outcome === 'admitted')!;
    await finalizeAt(ctx(), id, first.callId, 0, 'cancelled');
    const again = await Promise.all(Array.from({ length: 20 }, () => admit(ctx(), id)));
    expect(again.filter((r) => r.outcome === 'admitted')).toHaveLength(1);
  });

  it('checks status, then funds, then CPS, then channels (first failure decides)', async () => {
    const id = await prepaid(ctx(), { channels: 0, cps: 1, burst: 1 }, 0);
    expect((await admit(ctx(), id)).outcome).toBe('off'); // prepaid at $0 is OFF/depleted
    await pay(ctx(), id, uniq('p'), 5_000, 0);
    expect((await admit(ctx(), id, 6_000)).outcome).toBe('insufficient_funds');
    expect((await admit(ctx(), id, 1_000)).outcome).toBe('channel_limit'); // spends the only token
    expect((await admit(ctx(), id, 1_000)).outcome).toBe('cps_exceeded');
    expect((await admit(ctx(), 'no-such-account')).outcome).toBe('unknown_account');
  });

  it('holds admitted attempts within cps*T + burst over a simulated window (invariant 4)', async () => {
    const cps = 20;
    const burst = 5;
    const id = await prepaid(ctx(), { channels: 100000, cps, burst }, 1_000_000_000);
    const started = Date.now();
    const admittedAt: number[] = [];
    let retryAfterSeen = 0;
    // offer 4x the allowed rate for about 1.5 s
    while (Date.now() - started < 1500) {
      const batch = await Promise.all(Array.from({ length: 8 }, () => admit(ctx(), id, 1)));
      for (const r of batch) {
        if (r.outcome === 'admitted') admittedAt.push(r.redisNowMs);
        else if (r.outcome === 'cps_exceeded') retryAfterSeen = Math.max(retryAfterSeen, r.retryAfterMs);
        else throw new Error(`unexpected ${r.outcome}`);
      }
      await sleep(100); // the scenario: batches 100 ms apart, so the bucket refills between them
    }
    expect(retryAfterSeen).toBeGreaterThan(0);
    expect(retryAfterSeen).toBeLessThanOrEqual(Math.ceil(1000 / cps));
    admittedAt.sort((a, b) => a - b);
    // every window [t, t+T] starting at an admit holds at most cps*T + burst admits
    for (const T of [0.1, 0.5, 1]) {
      for (let i = 0; i < admittedAt.length; i++) {
        let n = 0;
        for (let j = i; j < admittedAt.length && admittedAt[j]! - admittedAt[i]! <= T * 1000; j++) n++;
        expect(n).toBeLessThanOrEqual(Math.floor(cps * T + burst));
      }
    }
    // and the bucket did let the sustained rate through, not just the burst
    const span = (admittedAt.at(-1)! - admittedAt[0]!) / 1000;
    expect(admittedAt.length).toBeGreaterThanOrEqual(Math.floor(cps * span * 0.8));
  });

  it('bounds prepaid overdraft to one reservation unit per concurrent call (invariant 3)', async () => {
    const unit = 60_000; // the next 60 s at $0.06/min = 1,000 micros per second
    const perSecond = 1_000;
    const id = await prepaid(ctx(), { channels: 100, cps: 100000, burst: 100000 }, 500_000);
    const results = await Promise.all(Array.from({ length: 50 }, () => admit(ctx(), id, unit)));
    const live = results.filter((r) => r.outcome === 'admitted').map((r) => r.callId);
    expect(live).toHaveLength(Math.floor(500_000 / unit)); // 8 admitted on funds, 42 refused
    expect(results.filter((r) => r.outcome === 'insufficient_funds')).toHaveLength(50 - live.length);
    // simulated talk: each call ticks every 30 s of talk and commits its running cost; a call that is
    // short of funds is torn down once its paid time (committed + held) is used up
    const paid = new Map<string, number>(live.map((c) => [c, unit]));
    const ended = new Set<string>();
    for (let talk = 30; ended.size < live.length && talk < 3600; talk += 30) {
      await Promise.all(
        live.filter((c) => !ended.has(c)).map(async (callId) => {
          const owed = talk * perSecond;
          if (owed > paid.get(callId)!) {
            // teardown at the end of paid time: bill exactly what was paid for
            await finalizeAt(ctx(), id, callId, paid.get(callId)!);
            ended.add(callId);
            return;
          }
          const r = await ctx().engine.tickCall({
            accountId: id, callId, total: owed, cost: owed, tax: 0, billedSec: talk, talkMs: talk * 1000, answeredAt: 1, nextReservation: unit,
          });
          if (r.outcome === 'off' || r.outcome === 'gone') {
            await finalizeAt(ctx(), id, callId, owed);
            ended.add(callId);
          } else paid.set(callId, owed + r.held);
        }),
      );
    }
    expect(ended.size).toBe(live.length);
    const acct = await accountHash(ctx(), id);
    expect(Number(acct.reserved)).toBe(0);
    expect(Number(acct.balance)).toBeGreaterThanOrEqual(-unit * live.length);
    expect(Number(acct.balance)).toBeLessThanOrEqual(0);
    expect(acct.status).toBe('off');
    expect(acct.offReason).toBe('depleted');
    // money conserved: the balance moved by exactly the sum of the CDR totals
    const cdrs = await ctx().conn.redis.xRange(ctx().keys.cdrs(id), '-', '+');
    const billed = cdrs.reduce((s, e) => s + Number(e.message.total), 0);
    expect(500_000 - billed).toBe(Number(acct.balance));
  });

  it('turns a prepaid account OFF at $0 and lifts it on a payment reaching the minimum', async () => {
    const id = await prepaid(ctx(), {}, 100_000);
    const a = await admit(ctx(), id, 50_000);
    await finalizeAt(ctx(), id, a.callId, 100_000);
    let acct = await accountHash(ctx(), id);
    expect([acct.status, acct.offReason, acct.balance]).toEqual(['off', 'depleted', '0']);
    expect((await admit(ctx(), id)).outcome).toBe('off');
    // below the re-enable minimum the account stays OFF
    expect((await pay(ctx(), id, uniq('p'), 400_000, 500_000)).status).toBe('off');
    const r = await pay(ctx(), id, uniq('p'), 100_000, 500_000);
    expect([r.outcome, r.status, r.offReason]).toEqual(['applied', 'on', '']);
    acct = await accountHash(ctx(), id);
    expect(acct.balance).toBe('500000');
  });

  it('turns a postpaid account OFF at its credit limit, and a payment lifts it', async () => {
    const id = await postpaid(ctx(), 200_000);
    const a = await admit(ctx(), id, 150_000);
    expect(a.outcome).toBe('admitted');
    expect((await admit(ctx(), id, 60_000)).outcome).toBe('insufficient_funds'); // 200k - 150k held
    await finalizeAt(ctx(), id, a.callId, 200_000);
    const acct = await accountHash(ctx(), id);
    expect([acct.status, acct.offReason, acct.balance]).toEqual(['off', 'credit_limit', '-200000']);
    const r = await pay(ctx(), id, uniq('p'), 150_000, 100_000);
    expect([r.status, r.balance]).toEqual(['on', -50_000]);
  });

  it('keeps a manual OFF through a payment; only an engineer lifts it', async () => {
    const id = await prepaid(ctx(), {}, 1_000_000);
    await ctx().engine.setStatus(id, 'off', 'MSA violation: short calls');
    const r = await pay(ctx(), id, uniq('p'), 5_000_000, 0);
    expect([r.status, r.offReason]).toEqual(['off', 'manual']);
    expect((await admit(ctx(), id)).outcome).toBe('off');
    expect(await ctx().engine.setStatus(id, 'on')).toEqual({ outcome: 'ok', status: 'on', offReason: '' });
    expect((await admit(ctx(), id)).outcome).toBe('admitted');
  });

  it('applies a payment id once', async () => {
    const id = await prepaid(ctx(), {}, 0);
    const paymentId = uniq('pay');
    const first = await pay(ctx(), id, paymentId, 2_500_000, 0);
    const again = await pay(ctx(), id, paymentId, 2_500_000, 0);
    expect(first.outcome).toBe('applied');
    expect(again.outcome).toBe('duplicate');
    expect((await accountHash(ctx(), id)).balance).toBe('2500000');
  });

  it('ends live calls at their next tick once the account is OFF', async () => {
    const id = await prepaid(ctx(), {}, 1_000_000);
    const a = await admit(ctx(), id, 10_000);
    await ctx().engine.setStatus(id, 'off');
    const t = await ctx().engine.tickCall({
      accountId: id, callId: a.callId, total: 5_000, cost: 5_000, tax: 0, billedSec: 6, talkMs: 5_000, answeredAt: 1, nextReservation: 10_000,
    });
    expect(t).toMatchObject({ outcome: 'off', offReason: 'manual', balance: 995_000 });
    expect((await accountHash(ctx(), id)).reserved).toBe('0');
  });

  it('finalizes exactly once: a second finalize changes nothing', async () => {
    const id = await prepaid(ctx(), {}, 1_000_000);
    const a = await admit(ctx(), id, 10_000);
    const first = await finalizeAt(ctx(), id, a.callId, 7_000);
    const second = await finalizeAt(ctx(), id, a.callId, 7_000);
    expect(first.outcome).toBe('finalized');
    expect(second.outcome).toBe('already_finalized');
    const acct = await accountHash(ctx(), id);
    expect([acct.balance, acct.reserved]).toEqual(['993000', '0']);
    expect(await ctx().conn.redis.xLen(ctx().keys.cdrs(id))).toBe(1);
  });

  it('writes amounts near the largest balance as exact plain digits', async () => {
    // the scripts print numbers themselves (Lua's tostring would give 1e+15): check the top of the range
    const funds = 999_999_999_999_999;
    const id = await prepaid(ctx(), {}, funds);
    const a = await admit(ctx(), id, 123_457);
    expect(a.outcome).toBe('admitted');
    const raw = await ctx().conn.redis.hGet(ctx().keys.account(id), 'state');
    expect(raw?.split('|').slice(2, 4)).toEqual(['999999999999999', '123457']);
    const done = await finalizeAt(ctx(), id, a.callId, 1_234_567);
    expect(done.outcome).toBe('finalized');
    const acct = await accountHash(ctx(), id);
    expect([acct.balance, acct.reserved]).toEqual(['999999998765432', '0']);
    const [entry] = await ctx().conn.redis.xRange(ctx().keys.cdrs(id), '-', '+');
    expect(entry?.message.total).toBe('1234567');
    expect(entry?.message.balanceAfter).toBe('999999998765432');
  });

  it('sweeps an expired lease into exactly one orphaned CDR billed to the last heartbeat', async () => {
    const c = ctx();
    const id = await prepaid(c, {}, 1_000_000);
    const a = await admit(c, id, 60_000);
    await c.engine.tickCall({
      accountId: id, callId: a.callId, total: 12_345, cost: 10_000, tax: 2_345, billedSec: 12, talkMs: 11_500, answeredAt: 1_700_000_000_000, nextReservation: 60_000,
    });
    // nothing is swept while the lease is alive
    expect((await c.engine.sweepAccount(id)).swept).toHaveLength(0);
    await sleep(c.config.billing.leaseTtlMs + 50); // the scenario: the lease expires (Redis TIME) with no heartbeat
    const sweeps = await Promise.all([c.engine.sweepAccount(id), c.engine.sweepAccount(id), c.engine.sweepAccount(id)]);
    expect(sweeps.flatMap((s) => s.swept).map((s) => s.callId)).toEqual([a.callId]);
    const cdrs = await c.conn.redis.xRange(c.keys.cdrs(id), '-', '+');
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]!.message).toMatchObject({
      callId: a.callId, disposition: 'orphaned', total: '12345', cost: '10000', tax: '2345', billedSec: '12', talkMs: '11500', answeredAt: '1700000000000',
    });
    const acct = await accountHash(c, id);
    expect([acct.balance, acct.reserved]).toEqual(['987655', '0']);
    // the owner coming back finds its call gone and cannot bill it again
    expect((await finalizeAt(c, id, a.callId, 99_999)).outcome).toBe('already_finalized');
    expect(await c.conn.redis.hLen(c.keys.calls(id))).toBe(0);
    expect(await c.conn.redis.zCard(c.keys.expiry(id))).toBe(0);
  });

  it('taxes a non-exempt account and not an exempt one, to the micro-dollar', async () => {
    // $0.012345/min on 6/6 with a $0.001 connect fee; 37 s of talk bill 42 s.
    // exact cost = 12345 * 42 / 60 + 1000 = 9641.5 -> cost 9642 (half up)
    // taxes 17.4% + 5% = 22.4% of the exact cost: 9641.5 * 0.224 = 2159.696 -> tax 2160; total 11802
    const rate = { prefix: '44', ratePerMinMicros: 12_345, firstIncrement: 6, nextIncrement: 6, connectFeeMicros: 1_000 };
    const taxes = [{ name: 'fusf', rate: 174_000 }, { name: 'state', rate: 50_000 }];
    const expected = { false: { cost: 9_642, tax: 2_160, total: 11_802 }, true: { cost: 9_642, tax: 0, total: 9_642 } };
    for (const taxExempt of [false, true]) {
      const id = await prepaid(ctx(), {}, 1_000_000);
      const price = priceTalk({ rate, talkMs: 36_200, taxExempt, taxes });
      expect({ cost: price.cost, tax: price.tax, total: price.total }).toEqual(expected[String(taxExempt) as 'true' | 'false']);
      expect(price.billedSec).toBe(42);
      const staticCdr = JSON.stringify({ accountId: id, taxExempt, prefix: '44', ratePerMin: 12_345, connectFee: 1_000, invitedAt: 1_000 });
      const a = await admit(ctx(), id, 20_000, uniq('call'), staticCdr);
      await ctx().engine.finalizeCall({
        accountId: id, callId: a.callId, total: price.total, cost: price.cost, tax: price.tax, billedSec: price.billedSec,
        talkMs: 36_200, answeredAt: 2_000, endedAt: 38_200, disposition: 'answered', reason: 'caller_bye', sipCode: 200,
      });
      const [entry] = await ctx().conn.redis.xRange(ctx().keys.cdrs(id), '-', '+');
      const cdr = cdrFromStreamEntry(entry!.message);
      expect(cdr.cost).toBe(9_642);
      expect(cdr.total).toBe(expected[String(taxExempt) as 'true' | 'false'].total);
      expect(cdr.tax).toBe(taxExempt ? null : 2_160);
      expect(toCsvRow(cdr)).toContain(taxExempt ? ',0.009642,,0.009642' : ',0.009642,0.002160,0.011802');
      expect((await accountHash(ctx(), id)).balance).toBe(String(1_000_000 - expected[String(taxExempt) as 'true' | 'false'].total));
    }
  });

  it('keeps a burn rate from real debits for estimated depletion', async () => {
    const id = await prepaid(ctx(), {}, 1_000_000);
    const a = await admit(ctx(), id, 60_000);
    await ctx().engine.tickCall({
      accountId: id, callId: a.callId, total: 30_000, cost: 30_000, tax: 0, billedSec: 30, talkMs: 30_000, answeredAt: 1, nextReservation: 60_000,
    });
    const state = decodeAccountHash(await ctx().conn.redis.hGetAll(ctx().keys.account(id)));
    // one debit of 30,000 micros into a 300 s average: 100 micros per second
    expect(state.burn).toBeCloseTo(100, 3);
    expect(state.burnAt).toBeGreaterThan(0);
    await finalizeAt(ctx(), id, a.callId, 30_000);
  });

  it('refuses a duplicate call id without touching the first call', async () => {
    const id = await prepaid(ctx(), {}, 1_000_000);
    const a = await admit(ctx(), id, 10_000);
    expect((await admit(ctx(), id, 10_000, a.callId)).outcome).toBe('duplicate_call');
    expect((await accountHash(ctx(), id)).reserved).toBe('10000');
  });
}, { billing: { leaseTtlMs: 400, tickIntervalMs: 200 } });
