import { basename, dirname } from 'node:path';
import { expect, it } from 'vitest';
import { NUMBERS, csvMicros, describeE2E, runSipp, useE2E } from './harness.js';

/**
 * Rate 44: $0.012345/min, 6/6, connect fee $0.001. A call held ~2 s bills one 6 s increment:
 *   exact cost = 12345 * 6 / 60 + 1000 = 1234.5 + 1000 = 2234.5 micro -> cost 2235 (half up)
 *   tax (fusf 17.4% + state 5% = 22.4%) from the EXACT cost: 2234.5 * 0.224 = 500.528 -> 501
 *   total = 2235 + 501 = 2736
 * (rounding the cost first would give 2235 * 0.224 = 500.64 -> 501 as well; the exact figure is what
 * src/rating/price.ts specifies, and what is asserted.)
 */
const EXPECTED = { billedSec: 6, cost: 2235, tax: 501, total: 2736 } as const;

describeE2E('e2e: answered calls are billed exactly', () => {
  const e2e = useE2E({ name: 'answered' });

  it('bills an answered call of a taxed account: cost, tax and total to the micro-dollar, in JSONL and CSV', async () => {
    const acct = await e2e.createAccount({ funds: '10', billingCountry: 'US', fusfOnFile: false });
    const run = await runSipp({
      name: 'answered-taxed', scenario: 'uac-answered', target: e2e.target, service: acct.dial(NUMBERS.london), holdMs: 2000, timeoutMs: 20_000,
    });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    const [cdr] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
    expect(cdr).toMatchObject({
      account_id: acct.id,
      switch_id: 'sw1',
      to: NUMBERS.london,
      source_ip: '127.0.0.1',
      disposition: 'answered',
      reason: 'caller_bye',
      sip_code: 200,
      prefix: '44',
      rate_per_min: 12345,
      connect_fee: 1000,
      billed_sec: EXPECTED.billedSec,
      cost: EXPECTED.cost,
      tax: EXPECTED.tax,
      total: EXPECTED.total,
    });
    // held 2 s: 2 or 3 whole seconds of talk, depending on how fast the BYE went through
    expect(cdr!.billsec).toBeGreaterThanOrEqual(2);
    expect(cdr!.billsec).toBeLessThanOrEqual(4);
    expect(cdr!.answered_at).not.toBeNull();
    // the switch's daily files: <cdrDir>/<UTC day the call ended>/<switchId>.jsonl (and .csv)
    expect(basename(cdr!.file)).toBe('sw1.jsonl');
    expect(basename(dirname(cdr!.file))).toBe(cdr!.ended_at.slice(0, 10));
    expect(await e2e.snapshot(acct.id)).toMatchObject({ balance: 10_000_000 - EXPECTED.total, reserved: 0, status: 'on' });

    const [row] = e2e.csvRowsOfRun(run.callIdPrefix);
    expect(row).toMatchObject({ disposition: 'answered', billed_sec: '6', rate_per_min: '0.012345', connect_fee: '0.001000' });
    expect(csvMicros(row!.cost)).toBe(EXPECTED.cost);
    expect(csvMicros(row!.tax)).toBe(EXPECTED.tax);
    expect(csvMicros(row!.total)).toBe(EXPECTED.total);
  });

  it('an exempt account (billing address outside the USA) is billed no tax: empty CSV tax column, no tax key in JSONL', async () => {
    const acct = await e2e.createAccount({ funds: '10', billingCountry: 'GB' });
    const run = await runSipp({
      name: 'answered-exempt', scenario: 'uac-answered', target: e2e.target, service: acct.dial(NUMBERS.london), holdMs: 2000, timeoutMs: 20_000,
    });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    const [cdr] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
    expect(cdr).toMatchObject({ account_id: acct.id, disposition: 'answered', billed_sec: 6, cost: EXPECTED.cost, total: EXPECTED.cost });
    expect(Object.keys(cdr!)).not.toContain('tax');

    const [row] = e2e.csvRowsOfRun(run.callIdPrefix);
    expect(row).toBeDefined();
    expect(row!.tax).toBe('');
    expect(csvMicros(row!.cost)).toBe(EXPECTED.cost);
    expect(csvMicros(row!.total)).toBe(EXPECTED.cost);
  });

  it('an account with the FUSF form on file is exempt too', async () => {
    const acct = await e2e.createAccount({ funds: '10', billingCountry: 'US', fusfOnFile: true });
    const run = await runSipp({
      name: 'answered-fusf', scenario: 'uac-answered', target: e2e.target, service: acct.dial(NUMBERS.london), holdMs: 1000, timeoutMs: 20_000,
    });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    const [cdr] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
    expect(cdr).toMatchObject({ account_id: acct.id, disposition: 'answered', cost: EXPECTED.cost, total: EXPECTED.cost });
    expect(Object.keys(cdr!)).not.toContain('tax');
  });
});
