/**
 * The Lua scripts and the TypeScript codecs each know the wire formats (docs/design.md, section 4). This
 * suite runs the real scripts on a real Redis (single node and Cluster), reads back what they wrote, raw,
 * and decodes it with the TypeScript owner of each format, so that neither side can change a format alone.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnRedis, type TestContext } from '../helpers/context.js';
import { admittedCall } from '../helpers/fixtures.js';
import { createAccountService, type AccountInput } from '../../src/accounts/index.js';
import { cdrFromStreamEntry } from '../../src/cdr/builder.js';
import { eventFromEntry, streamFields } from '../../src/notify/events.js';
import { decodeAccountHash } from '../../src/redis/codecs/account-hash.js';
import { decodeCallRecord, decodeSeed, encodeSeed } from '../../src/redis/codecs/call-record.js';
import { CHANGE_KINDS, decodeChange, type ChangeKind, type ChangeMessage } from '../../src/redis/codecs/change-message.js';
import { createEngine } from '../../src/redis/engine.js';
import type { AdmittedSeed } from '../../src/model/index.js';

let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;

const LOW = 5_000_000;
const limits = { type: 'prepaid', creditLimit: 0, channels: 10, cps: 1000, burst: 1000, lowBalanceThreshold: LOW } as const;

/** The change channel as any other instance sees it: a raw subscriber connection, every message kept. */
interface ChangeTap {
  /** Every message received, decoded; the raw text of any the codec refused. */
  decoded: ChangeMessage[];
  refused: string[];
  /** The kinds received for one id, in order. */
  kindsOf(id: string): ChangeKind[];
  /** Resolves once `count` messages for `id` have arrived; rejects at once on a message the codec refuses. */
  until(id: string, count: number, timeoutMs?: number): Promise<ChangeKind[]>;
  close(): Promise<void>;
}

interface SubscriberConnection {
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  on(event: 'error', listener: (err: Error) => void): unknown;
  close(): Promise<unknown>;
}

async function tapChanges(ctx: TestContext): Promise<ChangeTap> {
  // a duplicate of a cluster client is a cluster client: it subscribes on one node and sees every node's PUBLISH
  const sub = (ctx.conn.redis as unknown as { duplicate(): SubscriberConnection }).duplicate();
  sub.on('error', () => {});
  await sub.connect();
  const decoded: ChangeMessage[] = [];
  const refused: string[] = [];
  const waiters = new Set<() => void>();
  const kindsOf = (id: string) => decoded.filter((m) => m.id === id).map((m) => m.kind);
  await sub.subscribe(ctx.keys.changes, (text) => {
    const message = decodeChange(text);
    if (message) decoded.push(message);
    else refused.push(text);
    for (const wake of waiters) wake();
  });
  return {
    decoded,
    refused,
    kindsOf,
    until(id, count, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const fail = (why: string) => {
          waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`${why}: change messages for ${id} so far [${kindsOf(id).join(', ')}]`));
        };
        const check = () => {
          if (refused.length > 0) return fail(`the change-message codec refused ${JSON.stringify(refused)}`);
          if (kindsOf(id).length < count) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(kindsOf(id));
        };
        const timer = setTimeout(() => fail(`expected ${count} messages within ${timeoutMs} ms`), timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => sub.close().then(() => undefined),
  };
}

async function accountHashOf(ctx: TestContext, id: string) {
  return decodeAccountHash(await ctx.conn.redis.hGetAll(ctx.keys.account(id)));
}

async function rawCallRecord(ctx: TestContext, id: string, callId: string): Promise<string | null> {
  const value = await ctx.conn.redis.hGet(ctx.keys.calls(id), callId);
  return value === null || value === undefined ? null : String(value);
}

/** Every entry of an account's events stream as its webhook body. */
async function eventBodies(ctx: TestContext, id: string): Promise<Record<string, unknown>[]> {
  const entries = await ctx.conn.redis.xRange(ctx.keys.events(id), '-', '+');
  return entries.map((e) => {
    const event = eventFromEntry(id, e.id, streamFields(e.message));
    const body = JSON.parse(event.body) as Record<string, unknown>;
    expect(event).toMatchObject({ id: e.id, type: body.type, account: id });
    expect(body.id).toBe(e.id);
    return body;
  });
}

async function fundedAccount(ctx: TestContext, funds: number): Promise<string> {
  const id = uniq('wire');
  const put = await ctx.engine.putAccount(id, limits, { name: 'Wire Test' }, 'create');
  expect(put).toMatchObject({ outcome: 'ok', created: true, status: 'off', offReason: 'depleted' });
  if (funds > 0) expect((await ctx.engine.applyFunds(id, uniq('pay'), funds, 0)).outcome).toBe('applied');
  return id;
}

function seedFor(accountId: string): AdmittedSeed {
  return { ...admittedCall.seed, accountId, sipCallId: uniq('sip'), invitedAt: Date.now(), from: '15550000001|x', to: '442071234567' };
}

describeOnRedis('wire formats written by the Lua scripts decode with the TypeScript codecs', (ctx) => {
  let tap: ChangeTap;
  beforeAll(async () => {
    tap = await tapChanges(ctx());
  });
  afterAll(async () => {
    await tap?.close();
  });

  it('account hash: a new account, a payment, a live limit change', async () => {
    const c = ctx();
    const id = uniq('acct');
    await c.engine.putAccount(id, limits, { name: 'ACME', billingCountry: 'US' }, 'create');
    expect(await accountHashOf(c, id)).toMatchObject({
      ...limits, status: 'off', offReason: 'depleted', balance: 0, reserved: 0, burn: 0, burnAt: 0,
      fields: { name: 'ACME', billingCountry: 'US' },
    });

    await c.engine.applyFunds(id, uniq('pay'), 7_000_000, 0);
    expect(await accountHashOf(c, id)).toMatchObject({ status: 'on', offReason: '', balance: 7_000_000, reserved: 0 });

    await c.engine.setLimits(id, { channels: 3, cps: 7, burst: 9 });
    expect(await accountHashOf(c, id)).toMatchObject({ ...limits, channels: 3, cps: 7, burst: 9, status: 'on', balance: 7_000_000 });

    // the account view script returns the same hash, field by field
    const view = await c.engine.readAccountView(id, 10);
    if (view.outcome !== 'ok') throw new Error(`account view: ${view.outcome}`);
    expect(decodeAccountHash(view.hash)).toEqual(await accountHashOf(c, id));
    expect(await tap.until(id, 2)).toEqual(['event', 'funds']);
  });

  it('account hash: a postpaid account reaching its credit limit goes OFF/credit_limit', async () => {
    const c = ctx();
    const id = uniq('post');
    await c.engine.putAccount(id, { ...limits, type: 'postpaid', creditLimit: 1_000_000, lowBalanceThreshold: 0 }, {}, 'create');
    expect(await accountHashOf(c, id)).toMatchObject({ type: 'postpaid', creditLimit: 1_000_000, status: 'on', offReason: '', balance: 0 });
    const callId = uniq('call');
    expect((await c.engine.admitCall({ accountId: id, callId, reservation: 1_000_000, seed: encodeSeed(seedFor(id)) })).outcome).toBe('admitted');
    expect(await accountHashOf(c, id)).toMatchObject({ status: 'on', balance: 0, reserved: 1_000_000 });
    await c.engine.finalizeCall({
      accountId: id, callId, total: 1_000_000, cost: 1_000_000, tax: 0, billedSec: 60, talkMs: 60_000, answeredAt: 1, endedAt: 2,
      disposition: 'answered', reason: 'caller_bye', sipCode: 200,
    });
    expect(await accountHashOf(c, id)).toMatchObject({ status: 'off', offReason: 'credit_limit', balance: -1_000_000, reserved: 0 });
    expect((await eventBodies(c, id)).map((b) => [b.type, b.offReason, b.previous])).toEqual([['status_changed', 'credit_limit', 'on/']]);
    expect(await tap.until(id, 2)).toEqual(['event', 'off']);
  });

  it('live-call record: admit, tick and finalize of one call, each decoded as written, with its CDR entry', async () => {
    const c = ctx();
    const id = await fundedAccount(c, 10_000_000);
    const callId = uniq('call');
    const seed = seedFor(id);
    const admitted = await c.engine.admitCall({ accountId: id, callId, reservation: 60_000, seed: encodeSeed(seed) });
    if (admitted.outcome !== 'admitted') throw new Error(`admit: ${admitted.outcome}`);
    expect(admitted.leaseExpiryMs).toBe(admitted.redisNowMs + c.config.billing.leaseTtlMs);

    const raw = await rawCallRecord(c, id, callId);
    expect(raw).not.toBeNull();
    expect(decodeCallRecord(callId, raw!)).toEqual({
      callId,
      switchId: c.config.switchId,
      reserved: 60_000,
      committed: 0,
      cost: 0,
      tax: 0,
      billedSec: 0,
      talkMs: 0,
      lastBeatAt: admitted.redisNowMs,
      answeredAt: null,
      static: {
        sipCallId: seed.sipCallId, from: seed.from, to: seed.to, srcIp: seed.srcIp, invitedAt: seed.invitedAt,
        prefix: seed.prefix, ratePerMin: seed.ratePerMin, connectFee: seed.connectFee,
      },
    });
    // the seed is stored verbatim: every field of it, not only those a live view shows
    expect(decodeSeed(raw!.slice(raw!.indexOf('\n') + 1))).toEqual(seed);
    expect(await c.conn.redis.zScore(c.keys.leases(id, c.config.switchId), callId)).toBe(admitted.leaseExpiryMs);
    expect(await c.conn.redis.zScore(c.keys.expiry(id), callId)).toBe(admitted.leaseExpiryMs);
    expect(await accountHashOf(c, id)).toMatchObject({ status: 'on', balance: 10_000_000, reserved: 60_000 });

    // a tick commits 6.1 $ and holds the next unit: the balance falls below the low-balance threshold
    const answeredAt = seed.invitedAt + 1500;
    const tick = await c.engine.tickCall({
      accountId: id, callId, total: 6_100_000, cost: 6_000_000, tax: 100_000, billedSec: 300, talkMs: 299_500, answeredAt,
      nextReservation: 70_000,
    });
    if (tick.outcome !== 'reserved') throw new Error(`tick: ${tick.outcome}`);
    expect(tick).toMatchObject({ held: 70_000, balance: 3_900_000 });
    const ticked = decodeCallRecord(callId, (await rawCallRecord(c, id, callId))!);
    expect(ticked).toEqual({
      ...decodeCallRecord(callId, raw!),
      reserved: 70_000,
      committed: 6_100_000,
      cost: 6_000_000,
      tax: 100_000,
      billedSec: 300,
      talkMs: 299_500,
      lastBeatAt: tick.leaseExpiryMs - c.config.billing.leaseTtlMs,
      answeredAt,
    });
    expect(ticked.lastBeatAt).toBeGreaterThanOrEqual(admitted.redisNowMs);
    const afterTick = await accountHashOf(c, id);
    expect(afterTick).toMatchObject({ status: 'on', offReason: '', balance: 3_900_000, reserved: 70_000, burnAt: ticked.lastBeatAt });
    expect(afterTick.burn).toBeGreaterThan(0);

    // finalize settles 10.2 $: the balance goes negative, the account OFF, and the teardown is an event
    const endedAt = answeredAt + 510_000;
    const fin = await c.engine.finalizeCall({
      accountId: id, callId, total: 10_200_000, cost: 10_000_000, tax: 200_000, billedSec: 510, talkMs: 509_400, answeredAt, endedAt,
      disposition: 'torn_down', reason: 'funds_exhausted', sipCode: 200,
    });
    if (fin.outcome !== 'finalized') throw new Error(`finalize: ${fin.outcome}`);
    expect(fin.balance).toBe(-200_000);
    expect(await rawCallRecord(c, id, callId)).toBeNull();
    expect(await accountHashOf(c, id)).toMatchObject({ status: 'off', offReason: 'depleted', balance: -200_000, reserved: 0 });

    const [entry] = await c.conn.redis.xRange(c.keys.cdrs(id), fin.cdrEntryId, fin.cdrEntryId);
    expect(cdrFromStreamEntry(streamFields(entry!.message), { entryId: fin.cdrEntryId, accountId: id })).toEqual({
      callId, sipCallId: seed.sipCallId, accountId: id, switchId: c.config.switchId, from: seed.from, to: seed.to, srcIp: seed.srcIp,
      invitedAt: seed.invitedAt, answeredAt, endedAt, durationMs: endedAt - seed.invitedAt, billsec: 510, billedSec: 510, sipCode: 200,
      disposition: 'torn_down', reason: 'funds_exhausted', prefix: seed.prefix, ratePerMin: seed.ratePerMin, connectFee: seed.connectFee,
      firstIncrement: seed.firstIncrement, nextIncrement: seed.nextIncrement,
      cost: 10_000_000, tax: 200_000, total: 10_200_000,
    });

    // event stream: the payment's status change, low balance at the tick, then OFF and the teardown
    const bodies = await eventBodies(c, id);
    expect(bodies.map((b) => b.type)).toEqual(['status_changed', 'low_balance', 'status_changed', 'call_torn_down']);
    for (const b of bodies) {
      expect(b).toMatchObject({ account: id });
      expect(typeof b.at).toBe('number');
      expect(typeof b.balance).toBe('number');
    }
    expect(bodies[0]).toMatchObject({ status: 'on', offReason: '', previous: 'off/depleted', balance: 10_000_000 });
    expect(bodies[1]).toMatchObject({ status: 'on', offReason: '', threshold: LOW, balance: 3_900_000, at: ticked.lastBeatAt });
    expect(bodies[2]).toMatchObject({ status: 'off', offReason: 'depleted', previous: 'on/', balance: -200_000 });
    expect(bodies[3]).toMatchObject({
      status: 'off', offReason: 'depleted', balance: -200_000, callId, switchId: c.config.switchId, reason: 'funds_exhausted',
      sipCode: 200, talkMs: 509_400, billedSec: 510, total: 10_200_000,
    });
    expect(bodies[3]!.at).toBe(bodies[2]!.at);

    // change channel: payment (event, funds), tick (event), finalize (event, off, event)
    expect(await tap.until(id, 6)).toEqual(['event', 'funds', 'event', 'event', 'off', 'event']);
  });

  it('account state: each call script writes back, as they were, the parts it does not use; a 7-field state comes back with 9', async () => {
    const c = ctx();
    const id = await fundedAccount(c, 10_000_000);
    const rawState = async () => String(await c.conn.redis.hGet(c.keys.account(id), 'state')).split('|');
    // a state written before the burn rate existed: status|offReason|balance|reserved|tokens|tokensAt|lowArmed
    await c.conn.redis.hSet(c.keys.account(id), 'state', 'on||10000000|0|||1');
    const first = uniq('call');
    expect((await c.engine.admitCall({ accountId: id, callId: first, reservation: 60_000, seed: encodeSeed(seedFor(id)) })).outcome).toBe('admitted');
    const admitted = await rawState();
    expect(admitted).toHaveLength(9);
    expect(admitted.slice(6)).toEqual(['1', '0.000', '0']);
    expect(await accountHashOf(c, id)).toMatchObject({ status: 'on', balance: 10_000_000, reserved: 60_000, burn: 0, burnAt: 0 });

    // tick and finalize never touch the CPS bucket (tokens|tokensAt)
    await c.engine.tickCall({
      accountId: id, callId: first, total: 1_000_000, cost: 1_000_000, tax: 0, billedSec: 60, talkMs: 60_000, answeredAt: 1, nextReservation: 70_000,
    });
    const ticked = await rawState();
    expect(ticked.slice(4, 6)).toEqual(admitted.slice(4, 6));
    expect(Number(ticked[7])).toBeGreaterThan(0);

    // admit never touches the low-balance flag nor the burn rate (lowArmed|burn|burnAt)
    const second = uniq('call');
    expect((await c.engine.admitCall({ accountId: id, callId: second, reservation: 60_000, seed: encodeSeed(seedFor(id)) })).outcome).toBe('admitted');
    const admittedAgain = await rawState();
    expect(admittedAgain.slice(6)).toEqual(ticked.slice(6));
    expect(admittedAgain.slice(0, 4)).toEqual(['on', '', '9000000', '130000']);

    for (const callId of [first, second]) {
      const fin = await c.engine.finalizeCall({
        accountId: id, callId, total: 1_000_000, cost: 1_000_000, tax: 0, billedSec: 60, talkMs: 60_000, answeredAt: 1, endedAt: 2,
        disposition: 'answered', reason: 'caller_bye', sipCode: 200,
      });
      expect(fin.outcome).toBe('finalized');
      expect((await rawState()).slice(4, 6)).toEqual(admittedAgain.slice(4, 6));
    }
    expect(await accountHashOf(c, id)).toMatchObject({ status: 'on', balance: 8_000_000, reserved: 0 });
  });

  it('a swept call: the orphaned CDR entry and the account hash after the sweep', async () => {
    const c = ctx();
    const id = await fundedAccount(c, 1_000_000);
    const shortLease = createEngine({ redis: c.conn.redis, keys: c.keys, switchId: 'dead-switch', leaseTtlMs: 1 });
    const callId = uniq('orphan');
    const seed = seedFor(id);
    const admitted = await shortLease.admitCall({ accountId: id, callId, reservation: 50_000, seed: encodeSeed(seed) });
    expect(admitted.outcome).toBe('admitted');
    expect(decodeCallRecord(callId, (await rawCallRecord(c, id, callId))!)).toMatchObject({ switchId: 'dead-switch', reserved: 50_000 });

    // the lease expires one Redis millisecond later: sweep until the script sees it expired
    let swept = await c.engine.sweepAccount(id);
    for (let i = 0; swept.swept.length === 0 && i < 100; i++) swept = await c.engine.sweepAccount(id);
    expect(swept.swept.map((s) => s.callId)).toEqual([callId]);
    const cdrEntryId = swept.swept[0]!.cdrEntryId;

    const [entry] = await c.conn.redis.xRange(c.keys.cdrs(id), cdrEntryId, cdrEntryId);
    const fields = streamFields(entry!.message);
    expect(fields.writer).toBe(c.config.switchId);
    expect(cdrFromStreamEntry(fields, { entryId: cdrEntryId, accountId: id })).toMatchObject({
      callId, sipCallId: seed.sipCallId, switchId: 'dead-switch', disposition: 'orphaned', reason: 'lease_expired', sipCode: 0,
      answeredAt: null, cost: 0, total: 0, prefix: seed.prefix,
    });
    expect(await accountHashOf(c, id)).toMatchObject({ status: 'on', balance: 1_000_000, reserved: 0 });
    expect(await tap.until(id, 2)).toEqual(['event', 'funds']);
  });

  it('a manual OFF and back ON: status events, the note, and an off message', async () => {
    const c = ctx();
    const id = await fundedAccount(c, 9_000_000);
    expect((await c.engine.setStatus(id, 'off', 'fraud check')).outcome).toBe('ok');
    const off = await accountHashOf(c, id);
    expect(off).toMatchObject({ status: 'off', offReason: 'manual', balance: 9_000_000, fields: { statusNote: 'fraud check' } });
    expect(Number(off.fields.statusChangedAt)).toBeGreaterThan(0);
    expect((await c.engine.setStatus(id, 'on')).outcome).toBe('ok');
    expect(await accountHashOf(c, id)).toMatchObject({ status: 'on', offReason: '', fields: { statusNote: '' } });

    const bodies = await eventBodies(c, id);
    expect(bodies.slice(1)).toMatchObject([
      { type: 'status_changed', status: 'off', offReason: 'manual', previous: 'on/', balance: 9_000_000 },
      { type: 'status_changed', status: 'on', offReason: '', previous: 'off/manual', balance: 9_000_000 },
    ]);
    expect(await tap.until(id, 5)).toEqual(['event', 'funds', 'event', 'off', 'event']);
  });

  it('catalog and deck messages from the account service', async () => {
    const c = ctx();
    const svc = createAccountService({ redis: c.conn.redis, keys: c.keys, engine: c.engine, config: c.config });
    const deckId = uniq('deck');
    await svc.loadRateDeck(deckId, 'prefix,rate_per_min,first_increment,next_increment,connect_fee\n44,0.02,60,60,\n');
    const id = uniq('cat');
    const input: AccountInput = { type: 'prepaid', channels: '2', cps: '1', billingCountry: 'US', deckId, ips: ['192.0.2.7'] };
    await svc.putAccount(id, input, { mode: 'create' });
    expect(await tap.until(deckId, 1)).toEqual(['deck']);
    expect(await tap.until(id, 1)).toEqual(['catalog']);
  });

  it('traffic messages: settings written, a fraud block set and lifted', async () => {
    const c = ctx();
    const id = await fundedAccount(c, 1_000_000);
    expect(await c.engine.putTrafficSettings(id, JSON.stringify({ profile: 'dialer' }))).toBe(true);
    expect(await c.engine.writeFraudAlert({
      accountId: id, rule: 'r1', limit: 'calls_per_minute', level: 'critical', prefix: '4490', value: 3, threshold: 3, untilMs: Date.now() + 60_000, snoozeMs: 1000,
    })).toEqual({ alerted: true, blocked: true });
    expect(await c.engine.liftFraudBlocks(id, '')).toBe(true);
    const fraud = (await eventBodies(c, id)).find((b) => b.type === 'traffic_critical');
    expect(fraud).toMatchObject({ window: 'fraud', rule: 'r1', limit: 'calls_per_minute', prefix: '4490', value: 3, threshold: 3, blockedUntil: expect.any(Number) });
    expect(await tap.until(id, 6)).toEqual(['event', 'funds', 'traffic', 'traffic', 'event', 'traffic']);
  });

  it('every message on the change channel decoded, and every kind was seen', () => {
    expect(tap.refused).toEqual([]);
    expect(new Set(tap.decoded.map((m) => m.kind))).toEqual(new Set(CHANGE_KINDS));
  });
});
