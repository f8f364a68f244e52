import { expect, it } from 'vitest';
import { NUMBERS, TIMING, describeE2E, runSipp, sippDurationMs, useE2E, type CdrLine, type E2E, type SippResult } from './harness.js';

/**
 * Rate 4478: $30/min billed per second (1/1), no connect fee: 500,000 micro-dollars a second. Rate 4479: the
 * same $30/min in 6/6 increments, $3.00 an increment. The accounts are exempt (billed in GB), so no tax.
 * With a 6 s reservation unit one reservation is $3.00 either way.
 */
const PER_SECOND = 500_000;
const RESERVATION = TIMING.reservationSeconds * PER_SECOND;
/** How late after the end of the paid time the BYE may come: one tick, plus scheduling and SIP transit. */
const LATE_MARGIN_MS = TIMING.tickIntervalMs + 750;
/** Clock granularity between the CDR's answered_at and ended_at (both are callgate's wall clock). */
const EARLY_MARGIN_MS = 50;

/** Samples the balance until stopped: the lowest figure seen proves the overdraft bound during the call. */
function watchBalance(e2e: E2E, id: string) {
  let lowest = Number.POSITIVE_INFINITY;
  let running = true;
  const loop = (async () => {
    while (running) {
      lowest = Math.min(lowest, (await e2e.snapshot(id)).balance);
      await new Promise((r) => setTimeout(r, 25)); // the sampling period, not a wait
    }
  })();
  return {
    async stop(): Promise<number> {
      running = false;
      await loop;
      return lowest;
    },
  };
}

/** One call that waits for the network's BYE; returns the run, its CDR and the lowest balance seen meanwhile. */
async function callUntilBye(e2e: E2E, name: string, accountId: string, service: string): Promise<{ run: SippResult; cdr: CdrLine; lowest: number }> {
  const watch = watchBalance(e2e, accountId);
  let run: SippResult;
  let lowest: number;
  try {
    run = await runSipp({ name, scenario: 'uac-expect-bye', target: e2e.target, service, timeoutMs: 25_000 });
  } finally {
    lowest = await watch.stop();
  }
  expect(run.code, `the network must hang up with a BYE; sipp log: ${run.logPath}`).toBe(0);
  const [cdr] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
  return { run, cdr: cdr!, lowest };
}

/** Talk time as callgate recorded it (answer to teardown), and as the caller saw it (its 200 to the BYE). */
function talkTimes(run: SippResult, cdr: CdrLine): { byCdr: number; byCaller: number } {
  return {
    byCdr: Date.parse(cdr.ended_at) - Date.parse(cdr.answered_at!),
    byCaller: sippDurationMs(run.stats['ResponseTimeteardown(C)']),
  };
}

describeE2E('e2e: a prepaid call is torn down when its money runs out', () => {
  const e2e = useE2E({ name: 'teardown' });

  it('tears the call down with a 402 BYE when its paid time ends, and bills exactly the paid time', async () => {
    // $4.20 pays for 8 s ($4.00); the 9th second costs $0.50, more than the $0.20 left
    const paidMs = 8000;
    const acct = await e2e.createAccount({ funds: '4.20', billingCountry: 'GB' });
    const { run, cdr, lowest } = await callUntilBye(e2e, 'teardown-paid-time', acct.id, acct.dial(NUMBERS.perSecond));

    expect(run.logLines.find((l) => l.includes('event=bye'))).toMatch(/reason=SIP;cause=402;text="Insufficient funds"/);
    expect(cdr).toMatchObject({
      account_id: acct.id, disposition: 'torn_down', reason: 'funds_exhausted', sip_code: 200, billed_sec: 8, cost: 8 * PER_SECOND, total: 8 * PER_SECOND,
    });
    const talk = talkTimes(run, cdr);
    expect(talk.byCdr, 'callgate: answer to teardown').toBeGreaterThanOrEqual(paidMs - EARLY_MARGIN_MS);
    expect(talk.byCdr, 'callgate: answer to teardown').toBeLessThanOrEqual(paidMs + LATE_MARGIN_MS);
    expect(talk.byCaller, 'caller: 200 to BYE').toBeGreaterThanOrEqual(paidMs - 250);
    expect(talk.byCaller, 'caller: 200 to BYE').toBeLessThanOrEqual(paidMs + LATE_MARGIN_MS);

    // invariant 3: the balance never went below minus one reservation unit (here it never went below 0)
    expect(lowest).toBeGreaterThanOrEqual(-RESERVATION);
    // $0.20 left: not exhausted, so the account stays ON; a new call is refused for funds at admission instead
    expect(await e2e.snapshot(acct.id)).toMatchObject({ balance: 200_000, reserved: 0, status: 'on' });
  });

  it('when the call uses the balance up exactly, it ends by its paid time and the account is off/depleted', async () => {
    // $4.00 pays for exactly 8 s
    const paidMs = 8000;
    const acct = await e2e.createAccount({ funds: '4.00', billingCountry: 'GB' });
    const { run, cdr, lowest } = await callUntilBye(e2e, 'teardown-exhausted', acct.id, acct.dial(NUMBERS.perSecond));

    expect(run.logLines.find((l) => l.includes('event=bye'))).toMatch(/reason=SIP;cause=402;text="Insufficient funds"/);
    expect(cdr).toMatchObject({ account_id: acct.id, disposition: 'torn_down', reason: 'funds_exhausted', billed_sec: 8, total: 8 * PER_SECOND });
    // no later than one tick after the paid time (that the call is not cut BEFORE it is the skipped BUG test below)
    const talk = talkTimes(run, cdr);
    expect(talk.byCdr).toBeLessThanOrEqual(paidMs + LATE_MARGIN_MS);
    expect(talk.byCaller).toBeLessThanOrEqual(paidMs + LATE_MARGIN_MS);

    expect(lowest).toBeGreaterThanOrEqual(-RESERVATION);
    const after = await e2e.snapshot(acct.id);
    expect(after.balance).toBeGreaterThanOrEqual(-RESERVATION);
    expect(after).toMatchObject({ balance: 0, reserved: 0, status: 'off', offReason: 'depleted' });
  });

  // A commit that empties the balance turns the account off/depleted, but the increment it paid for is the
  // customer's: the call ends when that paid time ends (here 12 s on 6/6), not at the commit.
  it('is not cut before the end of an increment it has paid for, when that increment empties the balance', async () => {
    const paidMs = 12_000;
    const acct = await e2e.createAccount({ funds: '6.00', billingCountry: 'GB' });
    const { cdr, run } = await callUntilBye(e2e, 'teardown-increment', acct.id, acct.dial(NUMBERS.sixBySix));
    expect(cdr).toMatchObject({ disposition: 'torn_down', reason: 'funds_exhausted', billed_sec: 12, total: 12 * PER_SECOND });
    const talk = talkTimes(run, cdr);
    expect(talk.byCdr).toBeGreaterThanOrEqual(paidMs - EARLY_MARGIN_MS);
    expect(talk.byCdr).toBeLessThanOrEqual(paidMs + LATE_MARGIN_MS);
    expect(await e2e.snapshot(acct.id)).toMatchObject({ balance: 0, status: 'off', offReason: 'depleted' });
  });
});
