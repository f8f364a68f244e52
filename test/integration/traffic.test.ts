/**
 * Traffic profiles on real Redis and on the Cluster: figures kept by finalize and by the refusal batches of
 * two switches add up to the sum, exactly once; the monitor alerts once per crossing and suspends an
 * autoSuspend account; fraud rules count, block and lift.
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { expect, it } from 'vitest';
import { describeOnRedis, type TestContext } from '../helpers/context.js';
import { admittedCall } from '../helpers/fixtures.js';
import { eventFromEntry, streamFields } from '../../src/notify/events.js';
import { encodeSeed } from '../../src/redis/codecs/call-record.js';
import { createEngine, type Engine } from '../../src/redis/engine.js';
import type { Disposition } from '../../src/model/index.js';
import { createTrafficMonitor } from '../../src/traffic/monitor.js';
import { createRefusalCounter } from '../../src/traffic/refusals.js';
import { createTrafficService } from '../../src/traffic/service.js';
import { createTrafficGuard, guardOfHash, activeBlock } from '../../src/traffic/guard.js';

const logger = pino({ level: 'silent' });
const limits = { type: 'prepaid', creditLimit: 0, channels: 50, cps: 1000, burst: 1000, lowBalanceThreshold: 0 } as const;
const uniq = (p: string) => `${p}-${randomUUID().slice(0, 8)}`;

function switchEngine(c: TestContext, switchId: string, leaseTtlMs = c.config.billing.leaseTtlMs): Engine {
  return createEngine({ redis: c.conn.redis, keys: c.keys, switchId, leaseTtlMs, traffic: { shortCallSeconds: 6, maxSamples: 20 } });
}

async function fundedAccount(c: TestContext): Promise<string> {
  const id = uniq('tr');
  expect((await c.engine.putAccount(id, limits, { name: 'Traffic' }, 'create')).outcome).toBe('ok');
  expect((await c.engine.applyFunds(id, uniq('pay'), 100_000_000, 0)).outcome).toBe('applied');
  return id;
}

interface CallShape {
  talkMs: number;
  disposition?: Disposition;
  to?: string;
  prefix?: string;
  watch?: string;
}

/** One call through an engine: admit, then finalize as the session would. */
async function call(engine: Engine, accountId: string, shape: CallShape): Promise<{ callId: string; fraud?: unknown }> {
  const callId = uniq('call');
  const to = shape.to ?? '442071234567';
  const seed = encodeSeed({ ...admittedCall.seed, accountId, sipCallId: uniq('sip'), invitedAt: Date.now(), to, prefix: shape.prefix ?? '44' });
  const r = await engine.admitCall({ accountId, callId, reservation: 60_000, seed, ...(shape.watch ? { watch: { prefix: shape.watch, number: to } } : {}) });
  expect(r.outcome).toBe('admitted');
  const answered = shape.talkMs > 0;
  const now = Date.now();
  const r2 = await engine.finalizeCall({
    accountId, callId, total: answered ? 20_000 : 0, cost: answered ? 20_000 : 0, tax: 0, billedSec: answered ? 60 : 0, talkMs: shape.talkMs,
    answeredAt: answered ? now - shape.talkMs : 0, endedAt: now, disposition: shape.disposition ?? (answered ? 'answered' : 'busy'),
    reason: answered ? 'caller_bye' : 'busy', sipCode: answered ? 200 : 486, prefix: shape.prefix ?? '44', dialed: to,
    ...(shape.watch ? { watchedPrefix: shape.watch } : {}),
  });
  expect(r2.outcome).toBe('finalized');
  return { callId, ...(r.outcome === 'admitted' && r.fraud ? { fraud: r.fraud } : {}) };
}

async function events(c: TestContext, id: string): Promise<Record<string, unknown>[]> {
  const entries = await c.conn.redis.xRange(c.keys.events(id), '-', '+');
  return entries.map((e) => JSON.parse(eventFromEntry(id, e.id, streamFields(e.message)).body) as Record<string, unknown>);
}

describeOnRedis('traffic profiles', (ctx) => {
  it('two switches feed one account: the figures are the sum of both, refusals included, each call once', async () => {
    const c = ctx();
    const a = switchEngine(c, 'sw-a');
    const b = switchEngine(c, 'sw-b');
    const id = await fundedAccount(c);
    // switch A: 2 s and 3 s (short), 90 s; switch B: busy, 120 s to another number
    await call(a, id, { talkMs: 2_000, to: '441111' });
    await call(a, id, { talkMs: 3_000, to: '441111' });
    const last = await call(a, id, { talkMs: 90_000, to: '442222' });
    await call(b, id, { talkMs: 0, to: '443333' });
    await call(b, id, { talkMs: 120_000, to: '444444', prefix: '4444' });
    // a finalize replayed from the journal after a restart is already done: counted once
    const replay = await a.finalizeCall({
      accountId: id, callId: last.callId, total: 20_000, cost: 20_000, tax: 0, billedSec: 60, talkMs: 90_000, answeredAt: 1, endedAt: Date.now(),
      disposition: 'answered', reason: 'caller_bye', sipCode: 200, prefix: '44', dialed: '442222',
    });
    expect(replay.outcome).toBe('already_finalized');
    // 4 refusals, counted in switch B and flushed in one batch
    const counter = createRefusalCounter({ write: (batch) => b.recordRefusals(batch), logger, flushMs: 1000 });
    for (const n of ['445555', '445555', '441111', '446666']) counter.refused(id, '44', n);
    await counter.flush();
    expect(counter.pending()).toBe(0);

    const service = createTrafficService({ engine: a, config: { traffic: { ...c.config.traffic, minAnswered: 100 } } });
    const t = await service.getTraffic(id);
    for (const w of ['15m', '1h', 'day'] as const) {
      // attempts 3 + 2 + 4 = 9; answered 4; talk 2 + 3 + 90 + 120 = 215 s; ACD 53.75 s; NER (4 + busy) / 9
      expect(t.windows[w]).toMatchObject({
        attempts: 9, answered: 4, userEnds: 5, talkSeconds: 215, billedSeconds: 240, shortCalls: 2, zeroSecondCalls: 0,
        distinctNumbers: 6, repeatDials: 3, asrPercent: 44.4, nerPercent: 55.6, acdSeconds: 53.8, shortCallPercent: 50, zeroSecondPercent: 0,
      });
      expect(t.windows[w].prefixes['44']).toMatchObject({ attempts: 8, answered: 3, shortCalls: 2 });
      expect(t.windows[w].prefixes['4444']).toMatchObject({ attempts: 1, answered: 1, distinctNumbers: 1 });
    }
    expect(t.rules.every((r) => !r.judged)).toBe(true); // 4 answered calls, under minAnswered
  });

  it('a dead switch\'s live calls, swept by the others, are counted once each (and its finished calls stay counted)', async () => {
    const c = ctx();
    const a = switchEngine(c, 'sw-a');
    const dead = switchEngine(c, 'sw-dead', 300);
    const b = switchEngine(c, 'sw-b');
    const id = await fundedAccount(c);
    await call(a, id, { talkMs: 90_000, to: '441111' });
    await call(dead, id, { talkMs: 2_000, to: '442222' });
    // two calls live on the switch that dies: one answered (4 s of talk committed by its last tick), one ringing
    const live = async (to: string, prefix: string) => {
      const callId = uniq('live');
      const seed = encodeSeed({ ...admittedCall.seed, accountId: id, sipCallId: uniq('sip'), invitedAt: Date.now(), to, prefix });
      expect((await dead.admitCall({ accountId: id, callId, reservation: 60_000, seed })).outcome).toBe('admitted');
      return callId;
    };
    const talking = await live('443333', '44');
    const ringing = await live('493333', '49');
    await dead.tickCall({ accountId: id, callId: talking, total: 5_000, cost: 5_000, tax: 0, billedSec: 6, talkMs: 4_000, answeredAt: Date.now() - 4_000, nextReservation: 60_000 });
    await new Promise((r) => setTimeout(r, 350)); // sw-dead stops renewing
    const sweeps = await Promise.all([a.sweepAccount(id), b.sweepAccount(id), a.sweepAccount(id)]);
    expect(sweeps.flatMap((s) => s.swept).map((s) => s.callId).sort()).toEqual([talking, ringing].sort());

    const t = await createTrafficService({ engine: a, config: { traffic: { ...c.config.traffic, minAnswered: 100 } } }).getTraffic(id);
    for (const w of ['15m', '1h', 'day'] as const) {
      // a: 90 s; dead: 2 s (short) finished, 4 s (short) and a ringing attempt swept: 4 attempts, 3 answered, 96 s
      expect(t.windows[w]).toMatchObject({ attempts: 4, answered: 3, talkSeconds: 96, shortCalls: 2, distinctNumbers: 4, repeatDials: 0 });
      expect(t.windows[w].prefixes['44']).toMatchObject({ attempts: 3, answered: 3, shortCalls: 2 });
      expect(t.windows[w].prefixes['49']).toMatchObject({ attempts: 1, answered: 0, userEnds: 0 });
    }
    expect(await c.conn.redis.lRange(c.keys.trafficSamples(id), 0, -1)).toContain(talking);
    // a later sweep finds nothing and counts nothing
    expect((await b.sweepAccount(id)).swept).toHaveLength(0);
    expect((await createTrafficService({ engine: b, config: { traffic: c.config.traffic } }).getTraffic(id)).windows.day.attempts).toBe(4);
  });

  it('the monitor alerts once per crossing, with samples and the figures; autoSuspend turns the account OFF (msa_violation)', async () => {
    const c = ctx();
    const engine = switchEngine(c, 'sw-a');
    const id = await fundedAccount(c);
    const quiet = await fundedAccount(c);
    const service = createTrafficService({ engine, config: { traffic: { ...c.config.traffic, minAnswered: 4 } } });
    await service.putSettings(id, { autoSuspend: true });
    const alerts: string[] = [];
    const monitor = createTrafficMonitor({
      engine, logger, config: { minAnswered: 4, snoozeMs: 3_600_000, evaluateIntervalMs: 1000, maxSamples: 20 },
      onAlert: (rule, level, suspended) => alerts.push(`${rule}/${level}${suspended ? '/suspended' : ''}`),
    });
    // dialer shape: four 1-2 s calls and one busy: short 4/4 = 100%, ACD 1.5 s, ASR 80%
    const shorts: string[] = [];
    for (const talkMs of [1_000, 2_000, 1_000, 2_000]) shorts.push((await call(engine, id, { talkMs })).callId);
    await call(engine, id, { talkMs: 0 });
    // conversational shape on another account: four 3-minute calls
    for (let i = 0; i < 4; i++) await call(engine, quiet, { talkMs: 180_000 });
    monitor.touch(id);
    monitor.touch(quiet);
    await monitor.evaluate();
    // one window suspends the account; the other windows' criticals are raised too, each once
    expect(alerts.filter((a) => a.startsWith('short_call_ratio/critical'))).toHaveLength(3);
    expect(alerts.some((a) => a.endsWith('/suspended'))).toBe(true);
    const critical = (await events(c, id)).filter((e) => e.type === 'traffic_critical');
    const short = critical.find((e) => e.rule === 'short_call_ratio' && e.window === '15m')!;
    expect(short).toMatchObject({ value: 100, threshold: 25, suspensionRecommended: true, figures: { attempts: 5, answered: 4, shortCalls: 4, acdSeconds: 1.5, asrPercent: 80 } });
    expect([...(short.samples as string[])].sort()).toEqual([...shorts].sort());
    expect(await events(c, quiet)).toEqual(expect.not.arrayContaining([expect.objectContaining({ type: expect.stringMatching(/^traffic_/) })]));

    const hash = await c.conn.redis.hGetAll(c.keys.account(id));
    expect(hash.state?.split('|').slice(0, 2)).toEqual(['off', 'msa_violation']);
    expect((await engine.admitCall({ accountId: id, callId: uniq('c'), reservation: 1, seed: encodeSeed(admittedCall.seed) })).outcome).toBe('off');
    // a payment does not lift an msa_violation OFF: only an engineer does
    expect((await engine.applyFunds(id, uniq('pay'), 5_000_000, 0)).outcome).toBe('applied');
    expect((await c.conn.redis.hGet(c.keys.account(id), 'state'))?.split('|').slice(0, 2)).toEqual(['off', 'msa_violation']);
    const t = await service.getTraffic(id);
    expect(t.suspensionRecommended).toMatchObject({ rule: expect.any(String), window: expect.any(String) });

    // the same crossing, judged again (by any instance): no second alert
    const before = alerts.length;
    monitor.touch(id);
    await monitor.evaluate();
    expect(alerts.length).toBe(before);
    expect(await service.clearRecommendation(id)).toEqual({ cleared: true });
    expect((await service.getTraffic(id)).suspensionRecommended).toBeNull();
  });

  it('fraud rules: counts per prefix at admission, a critical blocks the prefix for every instance, an engineer lifts it', async () => {
    const c = ctx();
    const engine = switchEngine(c, 'sw-a');
    const id = await fundedAccount(c);
    const service = createTrafficService({ engine, config: c.config });
    await service.putSettings(id, { fraudRules: [{ name: 'uk-premium', prefix: '4490', limits: { calls_per_minute: { warning: 2, critical: 3 }, repeat_dials: { critical: 5 } } }] });
    const guard = createTrafficGuard({ engine, logger, snoozeMs: 3_600_000 });
    guard.update(id, await c.conn.redis.hGetAll(c.keys.account(id)));
    const rule = guard.watchFor(id, '449011112222')!;
    expect(rule.name).toBe('uk-premium');
    expect(guard.watchFor(id, '442071234567')).toBeUndefined();

    const counts = [];
    for (let i = 0; i < 3; i++) {
      const r = await call(engine, id, { talkMs: 5_000, to: '449011112222', prefix: '4490', watch: '4490' });
      counts.push(r.fraud);
      guard.admitted(id, rule, r.fraud as never);
    }
    expect(counts).toEqual([
      { callsPerMinute: 1, callsPerDay: 1, repeatDials: 1, concurrent: 1 },
      { callsPerMinute: 2, callsPerDay: 2, repeatDials: 2, concurrent: 1 }, // the first call finalized: it left the live count
      { callsPerMinute: 3, callsPerDay: 3, repeatDials: 3, concurrent: 1 },
    ]);
    // this instance holds the block at once
    expect(guard.blockFor(id, '449011112222')).toMatchObject({ rule: 'uk-premium', limit: 'calls_per_minute', prefix: '4490' });
    expect(guard.blockFor(id, '442071234567')).toBeUndefined();
    // and another instance reads it from the account hash once the write lands
    await expect.poll(async () => (await c.conn.redis.hGet(c.keys.account(id), 'fraudBlocks')) ?? '').toContain('uk-premium');
    const other = guardOfHash(await c.conn.redis.hGetAll(c.keys.account(id)));
    expect(activeBlock(other.blocks, '44901', Date.now())).toMatchObject({ rule: 'uk-premium', limit: 'calls_per_minute' });
    await expect.poll(async () => (await events(c, id)).filter((e) => e.window === 'fraud').map((e) => `${e.type}/${e.limit}`)).toEqual([
      'traffic_warning/calls_per_minute', 'traffic_critical/calls_per_minute',
    ]);
    const crit = (await events(c, id)).find((e) => e.type === 'traffic_critical')!;
    expect(crit).toMatchObject({ rule: 'uk-premium', prefix: '4490', value: 3, threshold: 3, blockedUntil: expect.any(Number) });

    expect(await engine.liftFraudBlocks(id, '4490')).toBe(true);
    expect(await engine.liftFraudBlocks(id, '4490')).toBe(false);
    expect(await c.conn.redis.hGet(c.keys.account(id), 'fraudBlocks')).toBeNull();
    // lifted by an engineer: the prefix is not blocked again today, on any instance
    expect(await engine.writeFraudAlert({
      accountId: id, rule: 'uk-premium', limit: 'calls_per_minute', level: 'critical', prefix: '4490', value: 4, threshold: 3, untilMs: Date.now() + 60_000, snoozeMs: 1,
    })).toMatchObject({ blocked: false });
    const fresh = createTrafficGuard({ engine, logger, snoozeMs: 3_600_000 });
    fresh.update(id, await c.conn.redis.hGetAll(c.keys.account(id)));
    fresh.admitted(id, rule, { callsPerMinute: 9, callsPerDay: 9, repeatDials: 9, concurrent: 1 });
    expect(fresh.blockFor(id, '449011112222')).toBeUndefined();
    expect(await engine.liftFraudBlocks(uniq('nobody'), '')).toBeNull();
  });

  it('refuses bad settings with every problem, and writes nothing', async () => {
    const c = ctx();
    const id = await fundedAccount(c);
    const service = createTrafficService({ engine: c.engine, config: c.config });
    const before = await c.conn.redis.hGetAll(c.keys.account(id));
    await expect(service.putSettings(id, { profile: 'nope', fraudRules: [{ name: 'x', prefix: '+44', limits: {} }] })).rejects.toMatchObject({
      problems: [expect.stringMatching(/^profile/), expect.stringMatching(/prefix/), expect.stringMatching(/limits/)],
    });
    await expect(service.putSettings(uniq('ghost'), { profile: 'dialer' })).rejects.toThrow(/does not exist/);
    expect(await c.conn.redis.hGetAll(c.keys.account(id))).toEqual(before);
  });
});
