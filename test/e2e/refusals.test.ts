import { expect, it } from 'vitest';
import { NUMBERS, describeE2E, runSipp, startSipp, useE2E, waitFor, type CdrLine, type E2E, type SippResult } from './harness.js';

/** The one rejected-attempt CDR of a SIPp run, checked for what every refusal shares. */
async function rejectionCdr(e2e: E2E, run: SippResult, expected: { reason: string; sipCode: number; accountId: string | null }): Promise<CdrLine> {
  const [cdr, ...more] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
  expect(more).toHaveLength(0);
  expect(cdr).toMatchObject({
    disposition: 'rejected',
    reason: expected.reason,
    sip_code: expected.sipCode,
    account_id: expected.accountId,
    switch_id: 'sw1',
    answered_at: null,
    billsec: 0,
    billed_sec: 0,
    cost: 0,
    total: 0,
  });
  expect(Object.keys(cdr!)).not.toContain('tax');
  const rows = e2e.csvRowsOfRun(run.callIdPrefix);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ disposition: 'rejected', reason: expected.reason, sip_code: String(expected.sipCode), tax: '', total: '0.000000' });
  return cdr!;
}

/** The RFC 3326 Reason header the caller got, as the scenario logged it. */
function reasonHeaders(run: SippResult): string[] {
  return run.logLines.map((l) => /reason=(.*)$/.exec(l)?.[1] ?? '').filter(Boolean);
}

describeE2E('e2e: every refusal gets its SIP code, a Reason header and a rejected CDR', () => {
  const e2e = useE2E({ name: 'refusals' });

  it('403 for an unknown source address', async () => {
    await e2e.createAccount({ funds: '10' }); // an account exists, on 127.0.0.1 only
    const run = await runSipp({
      name: 'unknown-source', scenario: 'uac-expect-403', target: e2e.target, localIp: '127.0.0.2', service: NUMBERS.london, timeoutMs: 15_000,
    });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    expect(reasonHeaders(run)).toEqual([expect.stringMatching(/cause=403;text="Unknown source or account"/)]);
    const cdr = await rejectionCdr(e2e, run, { reason: 'unknown_account', sipCode: 403, accountId: null });
    expect(cdr.source_ip).toBe('127.0.0.2');
  });

  it('403 when the dialed destination has no rate in the account deck', async () => {
    const acct = await e2e.createAccount({ funds: '10' });
    const run = await runSipp({
      name: 'no-rate', scenario: 'uac-expect-403', target: e2e.target, service: acct.dial(NUMBERS.unrated), timeoutMs: 15_000,
    });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    expect(reasonHeaders(run)).toEqual([expect.stringMatching(/cause=403;text="No rate for the dialed destination"/)]);
    await rejectionCdr(e2e, run, { reason: 'no_rate', sipCode: 403, accountId: acct.id });
  });

  it('403 when an engineer switched the account OFF (manual)', async () => {
    const acct = await e2e.createAccount({ funds: '10' });
    await e2e.service.setStatus(acct.id, 'off', 'e2e: MSA violation');
    const run = await runSipp({
      name: 'manual-off', scenario: 'uac-expect-403', target: e2e.target, service: acct.dial(NUMBERS.london), timeoutMs: 15_000,
    });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    expect(reasonHeaders(run)).toEqual([expect.stringMatching(/cause=403;text="Account suspended"/)]);
    await rejectionCdr(e2e, run, { reason: 'off_manual', sipCode: 403, accountId: acct.id });
  });

  it('402 when available funds are below the first reservation', async () => {
    // $1.50 turns the account ON (the re-enable minimum is $1.00), but 6 s at $20/min is $2.00 + 22.4% tax
    const acct = await e2e.createAccount({ funds: '1.50' });
    expect(await e2e.snapshot(acct.id)).toMatchObject({ status: 'on', balance: 1_500_000 });
    const run = await runSipp({
      name: 'insufficient-funds', scenario: 'uac-expect-402', target: e2e.target, service: acct.dial(NUMBERS.premium), timeoutMs: 15_000,
    });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    expect(reasonHeaders(run)).toEqual([expect.stringMatching(/cause=402;text="Insufficient funds"/)]);
    await rejectionCdr(e2e, run, { reason: 'insufficient_funds', sipCode: 402, accountId: acct.id });
    expect(await e2e.snapshot(acct.id)).toMatchObject({ status: 'on', balance: 1_500_000, reserved: 0 });
  });

  it('402 when the account is OFF for funds (a prepaid account never funded is off/depleted)', async () => {
    const acct = await e2e.createAccount({});
    expect(await e2e.snapshot(acct.id)).toMatchObject({ status: 'off', offReason: 'depleted' });
    const run = await runSipp({
      name: 'off-funds', scenario: 'uac-expect-402', target: e2e.target, service: acct.dial(NUMBERS.london), timeoutMs: 15_000,
    });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    expect(reasonHeaders(run)).toEqual([expect.stringMatching(/cause=402;text="Account disabled for funds"/)]);
    await rejectionCdr(e2e, run, { reason: 'off_funds', sipCode: 402, accountId: acct.id });
  });

  it('503 with Retry-After when the account sends calls faster than its CPS (cps 1, burst 1: 1 of 3 admitted)', async () => {
    const acct = await e2e.createAccount({ funds: '10', cps: 1, burst: 1 });
    // three INVITEs 100 ms apart: the bucket holds one token and refills at 1/s, so only the first passes
    const run = await runSipp({
      name: 'cps', scenario: 'uac-load', target: e2e.target, calls: 3, rate: 10, limit: 3, holdMs: 500, timeoutMs: 20_000,
      injection: `SEQUENTIAL\n${acct.dial(NUMBERS.london)};cps-caller;\n`,
    });
    // refusals are expected: judge the run on its counts, not on the exit code
    expect(run.stats['answered(C)'], `sipp log: ${run.logPath}`).toBe('1');
    expect(run.stats['refused_503(C)']).toBe('2');
    expect(run.stats['refused_402(C)']).toBe('0');
    expect(run.stats['refused_403(C)']).toBe('0');
    const refusals = run.messages.split(/^-{20,}.*$/m).filter((m) => /^SIP\/2\.0 503 /m.test(m));
    expect(refusals).toHaveLength(2);
    for (const m of refusals) {
      expect(m).toMatch(/^Retry-After:\s*[1-9]\d*\s*$/im);
      expect(m).toMatch(/^Reason:.*cause=503;text="Call rate limit exceeded"/im);
    }

    const cdrs = await e2e.cdrsOfRun(run.callIdPrefix, 3);
    expect(cdrs.map((c) => c.disposition).sort()).toEqual(['answered', 'rejected', 'rejected']);
    for (const c of cdrs.filter((x) => x.disposition === 'rejected')) {
      expect(c).toMatchObject({ reason: 'cps_exceeded', sip_code: 503, account_id: acct.id, total: 0 });
    }
  });

  it('503 when the account already holds its channel limit on this switch (2 live calls, the 3rd refused)', async () => {
    const acct = await e2e.createAccount({ funds: '10', channels: 2 });
    const long = await startSipp({
      name: 'channels-long', scenario: 'uac-long', target: e2e.target, service: acct.dial(NUMBERS.london), calls: 2, limit: 2, rate: 20,
      holdMs: 5000, timeoutMs: 20_000,
    });
    // both calls admitted and answered: two leases, two live calls with an answer time
    await waitFor('2 answered live calls', async () => {
      const calls = await e2e.callRecords(acct.id);
      return calls.length === 2 && calls.every((c) => c.answeredAt > 0);
    }, { timeoutMs: 10_000 });

    const third = await runSipp({
      name: 'channels-third', scenario: 'uac-expect-503', target: e2e.target, service: acct.dial(NUMBERS.london), timeoutMs: 15_000,
    });
    expect(third.code, `sipp log: ${third.logPath}`).toBe(0);
    expect(reasonHeaders(third)).toEqual([expect.stringMatching(/cause=503;text="Channel limit reached on this switch"/)]);
    await rejectionCdr(e2e, third, { reason: 'channel_limit', sipCode: 503, accountId: acct.id });

    const held = await long.done;
    expect(held.code, `sipp log: ${held.logPath}`).toBe(0);
    expect(held.successful).toBe(2);
    const cdrs = await e2e.cdrsOfRun(long.callIdPrefix, 2);
    expect(cdrs.map((c) => c.disposition)).toEqual(['answered', 'answered']);
  });
});
