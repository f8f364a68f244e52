import { expect, it } from 'vitest';
import { NUMBERS, describeE2E, runSipp, startSipp, useE2E, waitFor } from './harness.js';

describeE2E('e2e: SIGTERM drains the switch', () => {
  const e2e = useE2E({ name: 'drain', callgate: false });

  it('refuses new INVITEs with 503 while live calls go on, then ends them at the drain timeout with one CDR each', async () => {
    const drainMs = 3000;
    const gate = await e2e.startCallgate({ switchId: 'swDrain', env: { CALLGATE_DRAIN_TIMEOUT_MS: String(drainMs) } });
    const acct = await e2e.createAccount({ funds: '10' });
    // a call that would outlive the drain: the network (callgate) must end it, with a BYE
    const live = await startSipp({
      name: 'drain-live', scenario: 'uac-expect-bye', target: e2e.target, service: acct.dial(NUMBERS.london), timeoutMs: 30_000,
    });
    await waitFor('the call to be answered', async () => {
      const [call] = await e2e.callRecords(acct.id);
      return call !== undefined && call.answeredAt > 0;
    }, { timeoutMs: 10_000 });

    const termAt = Date.now();
    gate.child.proc.kill('SIGTERM');
    // callgate logs `draining` as it starts refusing: from then on a new INVITE must get 503
    await gate.child.waitForOutput(/"msg":"draining"/, 5_000);
    const refused = await runSipp({
      name: 'drain-refused', scenario: 'uac-expect-503', target: e2e.target, service: acct.dial(NUMBERS.london), timeoutMs: 15_000,
    });
    expect(refused.code, `sipp log: ${refused.logPath}`).toBe(0);

    const ended = await live.done;
    expect(ended.code, `sipp log: ${ended.logPath}`).toBe(0);
    const byeAfter = Date.now() - termAt;
    expect(byeAfter).toBeGreaterThanOrEqual(drainMs - 500);
    expect(ended.logLines.join('\n')).toMatch(/cause=503/);
    const exit = await gate.child.exited;
    expect(exit.code).toBe(0);

    const [cdr, ...more] = await e2e.cdrsOfRun(live.callIdPrefix, 1);
    expect(more).toHaveLength(0);
    expect(cdr).toMatchObject({ account_id: acct.id, disposition: 'answered', reason: 'shutdown', sip_code: 200 });
    expect(cdr!.total).toBeGreaterThan(0);
    const [rejected] = await e2e.cdrsOfRun(refused.callIdPrefix, 1);
    expect(rejected).toMatchObject({ disposition: 'rejected', reason: 'unavailable', sip_code: 503 });
  });
});
