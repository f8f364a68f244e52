/**
 * CallSession on a fake engine and a fake clock: what each tick and the finalize are billed, the instant a
 * call is torn down when its funds run out, one finalize whichever way the call ends, and finalize retries.
 * Time moves only when a test moves it; nothing here waits on the real clock.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { admittedCall } from '../../test/helpers/fixtures.js';
import { createFakeClock, type FakeClock } from '../../test/helpers/fake-clock.js';
import { loadConfig } from '../config/index.js';
import type { CallEnd, EndOutcome, HangupCause } from '../model/index.js';
import type { Engine, FinalizeRequest, FinalizeResult, TickRequest, TickResult } from '../redis/engine.js';
import { createCallRegistry } from './registry.js';
import { CallSession } from './session.js';

const TICK_MS = 25_000;
const LEASE_TTL_MS = 60_000;
const config = loadConfig({ env: { NODE_ENV: 'test' }, overrides: { billing: { tickIntervalMs: TICK_MS, leaseTtlMs: LEASE_TTL_MS } } });

// admittedCall is rated 20_000 micro-dollars a minute, billed 60/60, no connect fee, no taxes configured
const PER_MINUTE = 20_000;

type TickAnswer = (req: TickRequest) => TickResult | Promise<TickResult>;
type FinalizeAnswer = (req: FinalizeRequest, attempt: number) => FinalizeResult | Promise<FinalizeResult>;

const reserved = (held = 20_000): TickResult => ({ outcome: 'reserved', held, balance: 1_000_000, leaseExpiryMs: 0 });
const finalized = (): FinalizeResult => ({ outcome: 'finalized', cdrEntryId: '1-1', balance: 0 });

/** An account holding `budget` micro-dollars for this call: every tick reserves what is left, short once it is not enough. */
function budgetOf(budget: number): TickAnswer {
  return (req) => {
    const held = Math.max(0, Math.min(req.nextReservation, budget - req.total));
    return { outcome: held < req.nextReservation ? 'short' : 'reserved', held, balance: budget - req.total - held, leaseExpiryMs: 0 };
  };
}

interface Harness {
  clock: FakeClock;
  session: CallSession;
  registry: ReturnType<typeof createCallRegistry>;
  /** Every tick request, with the instant (ms since the clock was made) it was sent. */
  ticks: { at: number; req: TickRequest }[];
  /** Every finalize attempt, failed ones included. */
  attempts: { at: number; req: FinalizeRequest }[];
  hangups: { at: number; cause: HangupCause }[];
  ended: { end: CallEnd; outcome: EndOutcome }[];
  cdrEntries: string[];
  closed: number;
  journal: { recorded: FinalizeRequest[]; settled: string[] };
}

function startCall(
  { tick = () => reserved(), finalize = () => finalized(), stopSignal, call = admittedCall }:
    { tick?: TickAnswer; finalize?: FinalizeAnswer; stopSignal?: AbortSignal; call?: typeof admittedCall } = {},
): Harness {
  const clock = createFakeClock();
  const registry = createCallRegistry();
  const h = {
    clock, registry, ticks: [], attempts: [], hangups: [], ended: [], cdrEntries: [], closed: 0,
    journal: { recorded: [], settled: [] },
  } as unknown as Harness;
  const engine: Pick<Engine, 'tickCall' | 'finalizeCall'> = {
    tickCall: async (req) => {
      h.ticks.push({ at: clock.now(), req });
      return tick(req);
    },
    finalizeCall: async (req) => {
      h.attempts.push({ at: clock.now(), req });
      return finalize(req, h.attempts.length);
    },
  };
  h.session = new CallSession(call, {
    engine, config, clock, logger: pino({ level: 'silent' }), ...(stopSignal && { stopSignal }),
    hangup: (cause) => void h.hangups.push({ at: clock.now(), cause }),
    onFinalized: (_accountId, entryId) => void h.cdrEntries.push(entryId),
    onClosed: (s) => {
      h.closed++;
      registry.remove(s);
    },
    onEnded: (end, outcome) => void h.ended.push({ end, outcome }),
    journal: {
      record: async (req) => void h.journal.recorded.push(req),
      settled: async (callId) => void h.journal.settled.push(callId),
    },
  });
  registry.add(h.session);
  return h;
}

/** The finalize requests that landed. */
const landed = (h: Harness) => h.attempts.slice(h.attempts.length - h.cdrEntries.length);

/** Ends and ticks the session every other way too, and lets a long time pass: none of it may bill the call again. */
async function everythingElseHappens(h: Harness): Promise<void> {
  await h.session.end({ kind: 'bye', by: 'callee' });
  await h.session.teardown({ kind: 'funds' });
  await h.session.teardown({ kind: 'shutdown' });
  await h.session.tick();
  h.session.markAnswered();
  await h.registry.endAll({ kind: 'link_lost' });
  await h.clock.advance(10 * LEASE_TTL_MS);
}

describe('CallSession on a fake clock: paid time', () => {
  it('bills every tick and the finalize the talk time the clock measured, in whole increments', async () => {
    const h = startCall();
    await h.clock.advance(30_000); // ringing: one tick at 25 s holds the first increment, commits nothing
    h.session.markAnswered(); // the answer tick commits the first increment at once
    await h.clock.advance(90_000); // ticks at 50, 75 and 100 s, then the caller hangs up at 120 s: 90 s of talk
    await h.session.end({ kind: 'bye', by: 'caller' });

    const answeredAt = h.clock.wall() - 90_000;
    expect(h.ticks.map(({ at, req }) => ({ at, talkMs: req.talkMs, billedSec: req.billedSec, total: req.total, nextReservation: req.nextReservation }))).toEqual([
      { at: 25_000, talkMs: 0, billedSec: 0, total: 0, nextReservation: PER_MINUTE },
      { at: 30_000, talkMs: 1, billedSec: 60, total: PER_MINUTE, nextReservation: PER_MINUTE },
      { at: 50_000, talkMs: 20_000, billedSec: 60, total: PER_MINUTE, nextReservation: PER_MINUTE },
      { at: 75_000, talkMs: 45_000, billedSec: 60, total: PER_MINUTE, nextReservation: PER_MINUTE },
      { at: 100_000, talkMs: 70_000, billedSec: 120, total: 2 * PER_MINUTE, nextReservation: PER_MINUTE },
    ]);
    expect(h.ticks[0]!.req.answeredAt).toBe(0);
    expect(h.ticks.slice(1).every(({ req }) => req.answeredAt === answeredAt)).toBe(true);
    expect(h.attempts).toHaveLength(1);
    expect(h.attempts[0]).toEqual({
      at: 120_000,
      req: {
        accountId: 'acme', callId: 'c1', total: 2 * PER_MINUTE, cost: 2 * PER_MINUTE, tax: 0, billedSec: 120, talkMs: 90_000,
        answeredAt, endedAt: h.clock.wall(), disposition: 'answered', reason: 'caller_bye', sipCode: 200,
        prefix: '44', dialed: '442071234567',
      },
    });
    expect(h.cdrEntries).toEqual(['1-1']);
    expect(h.clock.pending()).toBe(0); // no tick is left running
  });

  it('bills an unanswered call nothing', async () => {
    const h = startCall();
    await h.clock.advance(40_000);
    await h.session.end({ kind: 'cancel' });
    expect(h.attempts[0]!.req).toMatchObject({ total: 0, billedSec: 0, talkMs: 0, answeredAt: 0, disposition: 'cancelled', sipCode: 487 });
  });

  it('goes on ticking through an engine that fails a tick: the next tick commits what the failed one would have', async () => {
    let failing = true;
    const h = startCall({ tick: () => (failing ? Promise.reject(new Error('Redis unreachable')) : reserved()) });
    h.session.markAnswered();
    await h.clock.advance(TICK_MS);
    failing = false;
    await h.clock.advance(TICK_MS + 20_000); // the tick at 50 s lands; the call hangs up at 70 s
    await h.session.end({ kind: 'bye', by: 'callee' });
    expect(h.ticks.map((t) => t.at)).toEqual([0, 25_000, 50_000]);
    expect(h.ticks[2]!.req).toMatchObject({ talkMs: 50_000, total: PER_MINUTE });
    expect(h.attempts[0]!.req).toMatchObject({ talkMs: 70_000, billedSec: 120, total: 2 * PER_MINUTE, reason: 'callee_bye' });
  });
});

describe('CallSession on a fake clock: maximum call duration', () => {
  it('tears the call down at its account maxCallSeconds of talk, with a Reason, and bills that time', async () => {
    const h = startCall({ call: { ...admittedCall, maxCallSeconds: 90 } });
    await h.clock.advance(5_000); // ringing does not count
    h.session.markAnswered();
    await h.clock.advance(90_000 - 1);
    expect(h.hangups).toEqual([]);
    await h.clock.advance(1);
    expect(h.hangups).toEqual([{ at: 95_000, cause: { cause: 403, text: 'Maximum call duration reached' } }]);
    expect(h.attempts).toHaveLength(1);
    expect(h.attempts[0]!.req).toMatchObject({ talkMs: 90_000, billedSec: 120, disposition: 'torn_down', reason: 'max_duration', sipCode: 200 });
    expect(h.clock.pending()).toBe(0);
  });
  it('leaves no timer behind when the call ends before its limit', async () => {
    const h = startCall({ call: { ...admittedCall, maxCallSeconds: 90 } });
    h.session.markAnswered();
    await h.clock.advance(30_000);
    await h.session.end({ kind: 'bye', by: 'caller' });
    expect(h.clock.pending()).toBe(0);
    await h.clock.advance(120_000);
    expect(h.hangups).toEqual([]);
  });
});

describe('CallSession on a fake clock: the teardown instant when funds run out', () => {
  it('tears the call down the moment its paid time ends, not at the next tick, and bills exactly that time', async () => {
    // two minutes' worth: the answer tick holds the second minute, and the tick at 75 s finds nothing more
    const h = startCall({ tick: budgetOf(2 * PER_MINUTE) });
    await h.clock.advance(10_000);
    h.session.markAnswered();
    await h.clock.advance(120_000 - 1); // ticks at 25 ... 125 s of the clock; the one at 75 s finds the account short
    expect(h.hangups).toEqual([]);
    expect(h.ticks.at(-1)!.req).toMatchObject({ talkMs: 115_000, total: 2 * PER_MINUTE });
    await h.clock.advance(1);
    // 120 s of talk end at 130 s of the clock; the next tick would have come at 150 s
    expect(h.hangups).toEqual([{ at: 130_000, cause: { cause: 402, text: 'Insufficient funds' } }]);
    expect(h.attempts).toHaveLength(1);
    expect(h.attempts[0]!.req).toMatchObject({
      talkMs: 120_000, billedSec: 120, total: 2 * PER_MINUTE, disposition: 'torn_down', reason: 'funds_exhausted', sipCode: 200,
    });
  });

  it('ends the call between ticks: its paid time is not a multiple of the tick interval', async () => {
    const h = startCall({ tick: budgetOf(PER_MINUTE) }); // one minute only: short from the answer tick on
    h.session.markAnswered();
    await h.clock.advance(60_000 - 1);
    expect(h.hangups).toEqual([]);
    await h.clock.advance(1);
    expect(h.hangups.map((x) => x.at)).toEqual([60_000]); // the tick after 50 s would have come at 75 s
    expect(h.attempts.map((a) => a.req.talkMs)).toEqual([60_000]);
    // no tick ever committed past the paid time
    expect(Math.max(...h.ticks.map((t) => t.req.talkMs))).toBeLessThanOrEqual(60_000);
  });

  it('keeps the call up when funds arrive before its paid time ends', async () => {
    let budget = PER_MINUTE;
    const h = startCall({ tick: (req) => budgetOf(budget)(req) });
    h.session.markAnswered();
    await h.clock.advance(30_000);
    budget = 10 * PER_MINUTE; // a payment lands; the change channel re-ticks the account's calls
    await h.registry.handleSignal({ kind: 'funds', accountId: 'acme' });
    await h.clock.advance(150_000);
    expect(h.hangups).toEqual([]);
    expect(h.session.ended).toBe(false);
    await h.session.end({ kind: 'bye', by: 'caller' });
    expect(h.attempts[0]!.req).toMatchObject({ talkMs: 180_000, billedSec: 180, total: 3 * PER_MINUTE });
  });

  it('lets an account the commit turned OFF for funds talk out the increment it paid for', async () => {
    // the answer tick (1 ms of talk) finds the account short; the next commit takes it OFF (depleted)
    const h = startCall({ tick: (req) => (req.talkMs > 1 ? { outcome: 'off', offReason: 'depleted', balance: 0 } : budgetOf(PER_MINUTE)(req)) });
    h.session.markAnswered();
    await h.clock.advance(TICK_MS); // this tick's commit leaves the account OFF (depleted)
    expect(h.hangups).toEqual([]);
    await h.clock.advance(60_000 - TICK_MS);
    expect(h.hangups).toEqual([{ at: 60_000, cause: { cause: 402, text: 'Insufficient funds' } }]);
    expect(h.attempts.map((a) => a.req)).toMatchObject([{ talkMs: 60_000, total: PER_MINUTE, reason: 'funds_exhausted' }]);
  });

  it('refuses a call still ringing when the account has nothing left, with 402 as its final response', async () => {
    const h = startCall({ tick: budgetOf(0) });
    await h.clock.advance(TICK_MS);
    expect(h.hangups).toEqual([{ at: TICK_MS, cause: { cause: 402, text: 'Insufficient funds' } }]);
    expect(h.attempts.map((a) => a.req)).toMatchObject([{ talkMs: 0, total: 0, disposition: 'torn_down', reason: 'funds_exhausted', sipCode: 402 }]);
  });
});

describe('CallSession on a fake clock: exactly one finalize on every path', () => {
  const paths: { name: string; drive: (h: Harness) => Promise<void>; tick?: TickAnswer; expected: Partial<FinalizeRequest> | null; hangup: number | null }[] = [
    {
      name: 'hangup (a BYE)',
      drive: async (h) => {
        await h.clock.advance(40_000);
        await h.session.end({ kind: 'bye', by: 'callee' });
      },
      expected: { disposition: 'answered', reason: 'callee_bye', sipCode: 200, talkMs: 40_000 },
      hangup: null,
    },
    {
      name: 'teardown for funds',
      tick: budgetOf(PER_MINUTE),
      drive: (h) => h.clock.advance(60_000),
      expected: { disposition: 'torn_down', reason: 'funds_exhausted', sipCode: 200, talkMs: 60_000 },
      hangup: 402,
    },
    {
      name: 'account OFF by an engineer',
      tick: (req) => (req.talkMs > 1 ? { outcome: 'off', offReason: 'manual', balance: 5_000_000 } : reserved()),
      drive: (h) => h.clock.advance(TICK_MS),
      expected: { disposition: 'torn_down', reason: 'account_off', sipCode: 200, talkMs: TICK_MS },
      hangup: 403,
    },
    {
      name: 'shutdown',
      drive: async (h) => {
        await h.clock.advance(10_000);
        await h.registry.hangUpAll({ kind: 'shutdown' });
      },
      expected: { disposition: 'answered', reason: 'shutdown', sipCode: 200, talkMs: 10_000 },
      hangup: 503,
    },
    {
      name: 'lease lost (a sweeper billed the call)',
      tick: (req) => (req.talkMs > 1 ? { outcome: 'gone' } : reserved()),
      drive: (h) => h.clock.advance(TICK_MS),
      expected: null, // the sweeper wrote its CDR: the session must not write a second
      hangup: 503,
    },
    {
      name: 'upstream failure',
      drive: async (h) => {
        await h.session.end({ kind: 'upstream_failure', sipCode: 486 });
      },
      expected: { disposition: 'busy', reason: 'busy', sipCode: 486 },
      hangup: null,
    },
    {
      name: 'endAll (the drachtio link is gone)',
      drive: async (h) => {
        await h.clock.advance(15_000);
        await h.registry.endAll({ kind: 'link_lost' });
      },
      expected: { disposition: 'answered', reason: 'link_lost', sipCode: 200, talkMs: 15_000 },
      hangup: null,
    },
  ];

  for (const path of paths) {
    it(path.name, async () => {
      const h = startCall(path.tick ? { tick: path.tick } : {});
      if (path.name !== 'upstream failure') h.session.markAnswered();
      await path.drive(h);
      expect(h.session.ended).toBe(true);
      await everythingElseHappens(h);

      expect(h.ended).toHaveLength(1);
      expect(h.closed).toBe(1);
      expect(h.registry.size()).toBe(0);
      expect(h.hangups.map((x) => x.cause.cause)).toEqual(path.hangup === null ? [] : [path.hangup]);
      if (path.expected) {
        expect(h.attempts).toHaveLength(1);
        expect(h.attempts[0]!.req).toMatchObject(path.expected);
        expect(h.cdrEntries).toEqual(['1-1']);
      } else {
        expect(h.attempts).toEqual([]);
        expect(h.ended[0]!.outcome).toMatchObject({ finalizes: false, disposition: 'orphaned' });
      }
      expect(h.clock.pending()).toBe(0);
    });
  }

  it('finalizes once when the caller hangs up while callgate tears the call down for funds', async () => {
    const h = startCall({ tick: budgetOf(PER_MINUTE) });
    h.session.markAnswered();
    await h.clock.advance(60_000 - 1);
    const bye = h.session.end({ kind: 'bye', by: 'caller' });
    await h.clock.advance(1);
    await bye;
    expect(h.attempts).toHaveLength(1);
    expect(h.attempts[0]!.req).toMatchObject({ reason: 'caller_bye', talkMs: 59_999 });
    expect(h.hangups).toEqual([]);
  });

  it('finalizes once, and does not tear down, when a tick in flight answers after the BYE', async () => {
    let answerTick: (r: TickResult) => void = () => {};
    const h = startCall({ tick: (req) => (req.talkMs > 1 ? new Promise((resolve) => (answerTick = resolve)) : reserved()) });
    h.session.markAnswered();
    await h.clock.advance(TICK_MS); // the tick is sent and Redis has not answered yet
    await h.session.end({ kind: 'bye', by: 'caller' });
    answerTick({ outcome: 'off', offReason: 'manual', balance: 0 });
    await h.clock.advance(1);
    expect(h.hangups).toEqual([]);
    expect(h.attempts).toHaveLength(1);
    expect(h.ended.map((e) => e.end.kind)).toEqual(['bye']);
  });
});

describe('CallSession on a fake clock: finalize retries', () => {
  it('retries a finalize the engine fails transiently until it lands, journaling it once meanwhile', async () => {
    const h = startCall({ finalize: (_req, attempt) => (attempt <= 2 ? Promise.reject(new Error('Redis unreachable')) : finalized()) });
    h.session.markAnswered();
    await h.clock.advance(30_000);
    let done = false;
    const ending = h.session.end({ kind: 'bye', by: 'caller' }).then(() => void (done = true));
    await h.clock.advance(0);
    expect(h.attempts.map((a) => a.at)).toEqual([30_000]);
    expect(h.journal.recorded).toHaveLength(1);
    expect(h.journal.recorded[0]).toBe(h.attempts[0]!.req);
    expect(done).toBe(false);
    expect(h.closed).toBe(0); // the call stays in the registry until its finalize lands

    // a second end while retrying is the same end
    const again = h.session.end({ kind: 'shutdown' });
    await h.clock.advance(200 + 400); // the default retry delay, doubled
    await Promise.all([ending, again]);
    expect(h.attempts.map((a) => a.at)).toEqual([30_000, 30_200, 30_600]);
    expect(h.attempts.every((a) => a.req === h.attempts[0]!.req)).toBe(true); // the same request each time
    expect(h.attempts[0]!.req).toMatchObject({ talkMs: 30_000, reason: 'caller_bye', endedAt: h.clock.wall() - 600 });
    expect(h.cdrEntries).toEqual(['1-1']);
    expect(h.journal.recorded).toHaveLength(1);
    expect(h.journal.settled).toEqual(['c1']);
    expect(h.ended).toHaveLength(1);
    expect(h.closed).toBe(1);
  });

  it('lands a retried finalize the engine reports already done (it reached Redis before the error) without a second CDR', async () => {
    const h = startCall({
      finalize: (_req, attempt) => (attempt === 1 ? Promise.reject(new Error('connection reset')) : { outcome: 'already_finalized' }),
    });
    h.session.markAnswered();
    const ending = h.session.end({ kind: 'bye', by: 'caller' });
    await h.clock.advance(200);
    await ending;
    expect(h.attempts).toHaveLength(2);
    expect(h.cdrEntries).toEqual([]);
    expect(h.journal.settled).toEqual(['c1']);
    expect(h.closed).toBe(1);
  });

  it('makes shutdown wait for the retried finalize to land', async () => {
    const h = startCall({ finalize: (_req, attempt) => (attempt <= 3 ? Promise.reject(new Error('Redis unreachable')) : finalized()) });
    h.session.markAnswered();
    let shutDown = false;
    const shutdown = h.registry.hangUpAll({ kind: 'shutdown' }).then(() => void (shutDown = true));
    await h.clock.advance(200 + 400);
    expect(shutDown).toBe(false);
    await h.clock.advance(800);
    await shutdown;
    expect(h.attempts.map((a) => a.at)).toEqual([0, 200, 600, 1_400]);
    expect(h.cdrEntries).toEqual(['1-1']);
    expect(h.hangups).toHaveLength(1);
  });
  it('stops retrying a journaled finalize when the process stops, leaving it to the next start', async () => {
    const stopping = new AbortController();
    const h = startCall({ finalize: () => Promise.reject(new Error('Redis unreachable')), stopSignal: stopping.signal });
    h.session.markAnswered();
    await h.clock.advance(10_000);
    let done = false;
    const ending = h.session.end({ kind: 'bye', by: 'caller' }).then(() => void (done = true));
    await h.clock.advance(200 + 400);
    expect(h.attempts).toHaveLength(3);
    expect(done).toBe(false);
    stopping.abort(); // mid-sleep: the wait ends at once, no further attempt
    await ending;
    expect(h.session.whenFinalized()).toBe(h.session.end({ kind: 'shutdown' }));
    expect(h.attempts).toHaveLength(3);
    expect(h.journal.recorded).toHaveLength(1);
    expect(h.journal.settled).toEqual([]);
    expect(h.closed).toBe(1);
    await h.clock.advance(60_000);
    expect(h.attempts).toHaveLength(3);
  });

  it('tries once more, then leaves it to the journal, when a call ends after the stop', async () => {
    const stopping = new AbortController();
    stopping.abort();
    const h = startCall({ finalize: () => Promise.reject(new Error('Redis unreachable')), stopSignal: stopping.signal });
    h.session.markAnswered();
    await h.registry.hangUpAll({ kind: 'shutdown' });
    expect(h.attempts).toHaveLength(1);
    expect(h.journal.recorded.map((r) => r.reason)).toEqual(['shutdown']);
    expect(h.closed).toBe(1);
  });
});
