import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { describeOnRedis, type TestContext } from '../helpers/context.js';
import { createOverflowGuard, overflowOf } from '../../src/notify/overflow.js';
import { NOTIFY_GROUP } from '../../src/notify/outbox.js';

const quiet = pino({ level: 'silent' });

/** A prepaid account whose every status change appends one event to its stream. */
async function accountWithEvents(c: TestContext, events: number): Promise<string> {
  const id = `ovf-${randomBytes(4).toString('hex')}`;
  await c.engine.putAccount(id, { type: 'prepaid', creditLimit: 0, channels: 1, cps: 1, burst: 1, lowBalanceThreshold: 0 });
  let length = Number(await c.conn.redis.xLen(c.keys.events(id)));
  for (let i = 0; length < events; i++) {
    const batch = Math.min(200, events - length);
    // an engineer's OFF, then ON, and so on: each change appends one status_changed event
    for (let j = 0; j < batch; j++) await c.engine.setStatus(id, (i * 200 + j) % 2 === 0 ? 'off' : 'on', 'toggle');
    length = Number(await c.conn.redis.xLen(c.keys.events(id)));
  }
  expect(length).toBe(events);
  return id;
}

const deadLettersOf = async (c: TestContext, id: string) =>
  (await c.conn.redis.xRange(c.keys.deadLetters, '-', '+')).filter((e) => e.message.account === id);

describe('overflowOf', () => {
  it('is what a stream holds beyond the bound, never negative', () => {
    expect(overflowOf(0, 100)).toBe(0);
    expect(overflowOf(100, 100)).toBe(0);
    expect(overflowOf(103, 100)).toBe(3);
  });
});

describeOnRedis('undelivered events are kept, and only their bound moves them, to the dead letters', (ctx) => {
  it('writes events without trimming: 10,300 undelivered events are all still there', async () => {
    // the former MAXLEN ~ 10000 would have dropped the oldest hundreds by now
    const c = ctx();
    const id = await accountWithEvents(c, 10_300);
    expect(Number(await c.conn.redis.xLen(c.keys.events(id)))).toBe(10_300);
  }, 120_000);

  it('moves the oldest beyond the bound, with their ids and bodies, and leaves the rest in order', async () => {
    const c = ctx();
    const id = await accountWithEvents(c, 8);
    const all = await c.conn.redis.xRange(c.keys.events(id), '-', '+');
    const moved: [string, number][] = [];
    const guard = createOverflowGuard({
      redis: c.conn.redis, keys: c.keys, logger: quiet, accountIds: () => [id], maxPerAccount: 5, intervalMs: 60_000,
      instanceId: `t-${randomBytes(3).toString('hex')}`, onMoved: (a, n) => moved.push([a, n]),
    });
    await c.conn.redis.del(c.keys.eventOverflowLease);
    expect(await guard.runOnce()).toBe(3);
    expect(moved).toEqual([[id, 3]]);
    const left = await c.conn.redis.xRange(c.keys.events(id), '-', '+');
    expect(left.map((e) => e.id)).toEqual(all.slice(3).map((e) => e.id));
    const dead = await deadLettersOf(c, id);
    expect(dead.map((e) => e.message.event)).toEqual(all.slice(0, 3).map((e) => e.id));
    for (const [i, d] of dead.entries()) {
      expect(d.message).toMatchObject({ reason: 'overflow', type: 'status_changed', account: id });
      expect(JSON.parse(d.message.body!)).toMatchObject({ id: all[i]!.id, type: 'status_changed', account: id });
    }
  });

  it('settles entries a dispatcher held pending, and a second instance in the same round moves nothing twice', async () => {
    const c = ctx();
    const id = await accountWithEvents(c, 7);
    const stream = c.keys.events(id);
    await c.conn.redis.xGroupCreate(stream, NOTIFY_GROUP, '0', { MKSTREAM: true });
    await c.conn.redis.xReadGroup(NOTIFY_GROUP, 'reader', { key: stream, id: '>' }, { COUNT: 7 });
    const guard = (instanceId: string) => createOverflowGuard({
      redis: c.conn.redis, keys: c.keys, logger: quiet, accountIds: () => [id], maxPerAccount: 5, intervalMs: 60_000, instanceId,
    });
    await c.conn.redis.del(c.keys.eventOverflowLease);
    const [a, b] = await Promise.all([guard('one').runOnce(), guard('two').runOnce()]);
    expect(a + b).toBe(2);
    expect(await deadLettersOf(c, id)).toHaveLength(2);
    const pending = await c.conn.redis.xPending(stream, NOTIFY_GROUP);
    expect(Number(pending.pending)).toBe(5);
  });

  it('leaves an account within its bound untouched', async () => {
    const c = ctx();
    const id = await accountWithEvents(c, 4);
    await c.conn.redis.del(c.keys.eventOverflowLease);
    const guard = createOverflowGuard({
      redis: c.conn.redis, keys: c.keys, logger: quiet, accountIds: () => [id], maxPerAccount: 5, intervalMs: 60_000, instanceId: 'x',
    });
    expect(await guard.runOnce()).toBe(0);
    expect(Number(await c.conn.redis.xLen(c.keys.events(id)))).toBe(4);
    expect(await deadLettersOf(c, id)).toHaveLength(0);
  });
});
