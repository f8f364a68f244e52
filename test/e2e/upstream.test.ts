import { expect, it } from 'vitest';
import { NUMBERS, describeE2E, runSipp, useE2E } from './harness.js';

describeE2E('e2e: the caller cancels while the switch rings', () => {
  const e2e = useE2E({ name: 'upstream-ring', uas: 'uas-ring' });

  it('CANCEL before the answer: the caller gets 487, the CDR says cancelled and nothing is charged', async () => {
    const acct = await e2e.createAccount({ funds: '10' });
    const run = await runSipp({
      name: 'cancel', scenario: 'uac-cancel', target: e2e.target, service: acct.dial(NUMBERS.london), timeoutMs: 20_000,
    });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    const [cdr, ...more] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
    expect(more).toHaveLength(0);
    expect(cdr).toMatchObject({
      account_id: acct.id, disposition: 'cancelled', reason: 'caller_cancel', sip_code: 487, answered_at: null,
      billsec: 0, billed_sec: 0, cost: 0, tax: 0, total: 0,
    });
    expect(await e2e.snapshot(acct.id)).toMatchObject({ balance: 10_000_000, reserved: 0, status: 'on' });
  });
});

describeE2E('e2e: the callee is busy', () => {
  const e2e = useE2E({ name: 'upstream-busy', uas: 'uas-busy' });

  it('a 486 from the switch goes back to the caller; the CDR says busy and nothing is charged', async () => {
    const acct = await e2e.createAccount({ funds: '10' });
    const run = await runSipp({
      name: 'busy', scenario: 'uac-expect-486', target: e2e.target, service: acct.dial(NUMBERS.london), timeoutMs: 20_000,
    });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    const [cdr, ...more] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
    expect(more).toHaveLength(0);
    expect(cdr).toMatchObject({
      account_id: acct.id, disposition: 'busy', reason: 'busy', sip_code: 486, answered_at: null, billed_sec: 0, cost: 0, tax: 0, total: 0,
    });
    expect(await e2e.snapshot(acct.id)).toMatchObject({ balance: 10_000_000, reserved: 0, status: 'on' });
  });
});
