/**
 * The call session behind the B2BUA bridge, driven by fake dialogs (the SIP side) against the real engine
 * on a real Redis. Every way a call can end must end in exactly one finalize and one CDR.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import { describeOnRedis, type TestContext } from '../helpers/context.js';
import { FakeRequest, FakeResponse, answerAfter, createFakeSrf, failWith, type Behaviour } from '../helpers/fake-sip.js';
import { waitFor } from '../helpers/wait.js';
import { createAdmission, type AdmittedCall } from '../../src/admission/admit.js';
import type { CatalogEntry } from '../../src/admission/directory.js';
import { createCallRegistry } from '../../src/calls/registry.js';
import { createBridge } from '../../src/sip/bridge.js';
import type { SrfRequest, SrfResponse } from '../../src/sip/srf-augment.js';
import { buildRateDeck } from '../../src/rating/deck.js';
import { decodeAccountHash } from '../../src/redis/codecs/account-hash.js';

const logger = pino({ level: 'silent' });
const deck = buildRateDeck('d', [{ prefix: '44', ratePerMinMicros: 600_000, firstIncrement: 1, nextIncrement: 1, connectFeeMicros: 0 }]);

let seq = 0;

async function setup(ctx: TestContext, fundsMicros: number, routes = ['sip:sw-a:5060']) {
  const id = `sess${++seq}${Math.random().toString(36).slice(2, 7)}`;
  await ctx.engine.putAccount(id, { type: 'prepaid', creditLimit: 0, channels: 10, cps: 100, burst: 100, lowBalanceThreshold: 0 });
  if (fundsMicros > 0) await ctx.engine.applyFunds(id, 'seed', fundsMicros, 0);
  const account: CatalogEntry = { id, type: 'prepaid', ips: ['10.0.0.1'], techPrefix: null, deckId: 'd', taxExempt: true };
  const admit = createAdmission({
    config: ctx.config, engine: ctx.engine, logger,
    directory: { identify: () => ({ ok: true, account, destination: '4420', via: 'ip' }), rateFor: (_a, dest) => deck.lookup(dest) },
  });
  const registry = createCallRegistry();
  const finalizes: string[] = [];
  const engine = {
    ...ctx.engine,
    finalizeCall: async (req: Parameters<typeof ctx.engine.finalizeCall>[0]) => {
      const r = await ctx.engine.finalizeCall(req);
      finalizes.push(req.disposition);
      return r;
    },
  };
  const fake = createFakeSrf();
  const { srf, routeCalls } = fake;
  const bridge = createBridge({
    srf, routeUris: routes, registry, logger,
    session: { engine, config: ctx.config, logger, onFinalized: () => {} },
  });

  async function place(behaviour: Behaviour | Behaviour[]) {
    fake.play(behaviour);
    const decision = await admit({
      sipCallId: `sip-${seq}`, sourceIp: '10.0.0.1', ruriUser: '4420', fromUser: 'alice', toUser: '4420', receivedAt: Date.now(),
    });
    if (!decision.admitted) throw new Error(`not admitted: ${decision.rejection.reason}`);
    const req = new FakeRequest();
    req.locals.callgate = decision.call;
    const res = new FakeResponse();
    const done = bridge(req as unknown as SrfRequest, res as unknown as SrfResponse);
    return { call: decision.call as AdmittedCall, req, res, done };
  }

  async function cdrs() {
    const entries = await ctx.conn.redis.xRange(ctx.keys.cdrs(id), '-', '+');
    return entries.map((e) => e.message);
  }

  async function until(check: () => boolean | Promise<boolean>, ms = 5000) {
    await waitFor(String(check), async () => await check(), { timeoutMs: ms, intervalMs: 10 });
  }

  async function expectSettled() {
    expect(await ctx.conn.redis.hLen(ctx.keys.calls(id))).toBe(0);
    const acct = decodeAccountHash(await ctx.conn.redis.hGetAll(ctx.keys.account(id)));
    expect(acct.reserved).toBe(0);
    const billed = (await cdrs()).reduce((s, c) => s + Number(c.total), 0);
    expect(fundsMicros - acct.balance).toBe(billed);
    expect(registry.size()).toBe(0);
  }

  const legs = () => {
    const last = fake.legs.at(-1);
    if (!last) throw new Error('no call was bridged');
    return last;
  };
  return { id, registry, finalizes, routeCalls, place, cdrs, until, expectSettled, legs };
}

describeOnRedis('call session: every path ends in exactly one finalize', (ctx) => {
  beforeAll(() => {
    expect(ctx().config.billing.tickIntervalMs).toBe(100);
  });

  it('caller BYE: hangs up the callee and finalizes once', async () => {
    const t = await setup(ctx(), 10_000_000);
    const { done } = await t.place(answerAfter(5));
    await done;
    expect(t.registry.all()[0]!.answered).toBe(true);
    await sleep(250); // the scenario: the call talks for a couple of ticks, which commit cost in real time
    const { uas, uac } = t.legs();
    uas.emit('destroy');
    uas.emit('destroy');
    await t.until(() => t.finalizes.length > 0);
    await t.until(() => t.registry.size() === 0); // closed: its one finalize has landed
    expect(uac.destroyed).toHaveLength(2);
    expect(t.finalizes).toEqual(['answered']);
    const [cdr] = await t.cdrs();
    expect(cdr).toMatchObject({ disposition: 'answered', reason: 'caller_bye' });
    expect(Number(cdr!.total)).toBeGreaterThanOrEqual(2_500); // >= 250 ms of talk at $0.60/min, 1 s increments
    await t.expectSettled();
  });

  it('callee BYE: hangs up the caller and finalizes once', async () => {
    const t = await setup(ctx(), 10_000_000);
    await (await t.place(answerAfter(5))).done;
    const { uas, uac } = t.legs();
    uac.emit('destroy');
    await t.until(() => t.finalizes.length > 0);
    expect(uas.destroyed).toHaveLength(1);
    expect((await t.cdrs())[0]).toMatchObject({ disposition: 'answered', reason: 'callee_bye' });
    await t.expectSettled();
  });

  it('CANCEL before answer: 487, cancelled, nothing billed', async () => {
    const t = await setup(ctx(), 10_000_000);
    const p = await t.place(async (req) => {
      await sleep(20); // the scenario: the callee rings a while before the caller gives up
      req.emit('cancel');
      throw Object.assign(new Error('487'), { status: 487 });
    });
    await p.done;
    expect(t.finalizes).toEqual(['cancelled']);
    expect((await t.cdrs())[0]).toMatchObject({ disposition: 'cancelled', total: '0', sipCode: '487' });
    await t.expectSettled();
  });

  it('upstream busy: 486 goes back to the caller, no next route, nothing billed', async () => {
    const t = await setup(ctx(), 10_000_000, ['sip:a', 'sip:b']);
    const p = await t.place(failWith(486));
    await p.done;
    expect(p.res.sent).toEqual([486]);
    expect(t.routeCalls).toHaveLength(1);
    expect((await t.cdrs())[0]).toMatchObject({ disposition: 'busy', total: '0', sipCode: '486' });
    await t.expectSettled();
  });

  it('upstream 5xx and timeout move on to the next route; the last failure is passed back', async () => {
    const t = await setup(ctx(), 10_000_000, ['sip:a', 'sip:b', 'sip:c']);
    const p = await t.place([failWith(503), failWith(408), failWith(502)]);
    await p.done;
    expect(t.routeCalls.map((u) => u.split('@')[1])).toEqual(['a', 'b', 'c']);
    expect(p.res.sent).toEqual([502]);
    expect(t.finalizes).toEqual(['failed']);
    await t.expectSettled();
  });

  it('a 5xx on the first route and an answer on the second: one call, one finalize', async () => {
    const t = await setup(ctx(), 10_000_000, ['sip:a', 'sip:b']);
    await (await t.place([failWith(503), answerAfter(5)])).done;
    expect(t.routeCalls).toHaveLength(2);
    t.legs().uas.emit('destroy');
    await t.until(() => t.finalizes.length > 0);
    expect(t.finalizes).toEqual(['answered']);
    await t.expectSettled();
  });

  it('funds run out mid-call: BYE both legs with a Reason at the end of paid time, billed what was paid', async () => {
    // $0.60/min = 10,000 micros per second: 35,000 micros pay for 3 s of talk
    const t = await setup(ctx(), 35_000);
    const started = Date.now();
    await (await t.place(answerAfter(5))).done;
    const { uas, uac } = t.legs();
    await t.until(() => t.finalizes.length > 0, 10_000);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(2_900);
    expect(elapsed).toBeLessThan(3_000 + 2 * 100 + 500); // within a tick (plus scheduling margin) of paid time
    expect(uas.destroyed[0]?.headers?.Reason).toMatch(/cause=402/);
    expect(uac.destroyed[0]?.headers?.Reason).toMatch(/cause=402/);
    const [cdr] = await t.cdrs();
    expect(cdr).toMatchObject({ disposition: 'torn_down', reason: 'funds_exhausted', total: '30000', billedSec: '3' });
    const acct = decodeAccountHash(await ctx().conn.redis.hGetAll(ctx().keys.account(t.id)));
    expect(acct.balance).toBe(5_000);
    const events = (await ctx().conn.redis.xRange(ctx().keys.events(t.id), '-', '+')).map((e) => e.message);
    expect(events.filter((e) => e.type === 'call_torn_down')).toEqual([
      expect.objectContaining({ account: t.id, reason: 'funds_exhausted', billedSec: '3', total: '30000' }),
    ]);
    await t.expectSettled();
  });

  it('account turned OFF elsewhere: the signal tears the call down at once', async () => {
    const t = await setup(ctx(), 10_000_000);
    await (await t.place(answerAfter(5))).done;
    const { uas } = t.legs();
    await ctx().engine.setStatus(t.id, 'off', 'test');
    await t.registry.handleSignal({ kind: 'off', accountId: t.id });
    await t.until(() => t.finalizes.length > 0);
    expect(uas.destroyed[0]?.headers?.Reason).toMatch(/cause=403/);
    expect((await t.cdrs())[0]).toMatchObject({ disposition: 'torn_down', reason: 'account_off' });
    await t.expectSettled();
  });

  it('drachtio link lost: calls are finalized without signalling, and a late BYE changes nothing', async () => {
    const t = await setup(ctx(), 10_000_000);
    await (await t.place(answerAfter(5))).done;
    const { uas, uac } = t.legs();
    await t.registry.endAll({ kind: 'link_lost' });
    uas.emit('destroy');
    await sleep(50); // a window, not a wait: a second finalize for the late BYE would have come by now
    expect(t.finalizes).toEqual(['answered']);
    expect((await t.cdrs())[0]).toMatchObject({ reason: 'link_lost' });
    expect(uac.destroyed.length).toBeLessThanOrEqual(1);
    await t.expectSettled();
  });

  it('shutdown: hangs up both legs and finalizes once', async () => {
    const t = await setup(ctx(), 10_000_000);
    await (await t.place(answerAfter(5))).done;
    const { uas, uac } = t.legs();
    await t.registry.hangUpAll({ kind: 'shutdown' });
    expect(uas.destroyed).toHaveLength(1);
    expect(uac.destroyed).toHaveLength(1);
    expect(t.finalizes).toEqual(['answered']);
    expect((await t.cdrs())[0]).toMatchObject({ reason: 'shutdown' });
    await t.expectSettled();
  });
}, { billing: { tickIntervalMs: 100, leaseTtlMs: 1000, reservationSeconds: 1 } });

