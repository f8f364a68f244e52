import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { NUMBERS, describeE2E, runSipp, startSipp, useE2E, waitFor } from './harness.js';

describeE2E('e2e: the overload guard sheds new INVITEs, never a live call', () => {
  const e2e = useE2E({ name: 'overload', callgate: false });

  it('while forced severe, answers new INVITEs 503 with the overload Reason and a Retry-After; a call admitted before ends normally', async () => {
    // the test-only hook: the guard's level, read from this file at each new INVITE
    const levelFile = join(mkdtempSync(join(tmpdir(), 'callgate-overload-')), 'level');
    writeFileSync(levelFile, '0');
    // the route stays on: this test is of callgate's own 503 (the next one, of the route taken off)
    const callgate = await e2e.startCallgate({
      switchId: 'swOverload', env: { CALLGATE_OVERLOAD_ENABLED: 'true', CALLGATE_TEST_OVERLOAD_LEVEL_FILE: levelFile, CALLGATE_OVERLOAD_UNROUTE_HOLD_MS: '0' },
    });
    const acct = await e2e.createAccount({ funds: '10' });

    const live = await startSipp({
      name: 'overload-live', scenario: 'uac-answered', target: e2e.target, service: acct.dial(NUMBERS.london), holdMs: 4000, timeoutMs: 30_000,
    });
    await waitFor('the live call to be answered', async () => {
      const [call] = await e2e.callRecords(acct.id);
      return call !== undefined && call.answeredAt > 0;
    }, { timeoutMs: 10_000 });

    writeFileSync(levelFile, '1');
    const shed = await runSipp({
      name: 'overload-shed', scenario: 'uac-expect-503-retry-after', target: e2e.target, service: acct.dial(NUMBERS.london), calls: 3, timeoutMs: 15_000,
    });
    expect(shed.code, `sipp log: ${shed.logPath}`).toBe(0);
    expect(shed.logLines).toHaveLength(3);
    for (const line of shed.logLines) {
      expect(line).toMatch(/reason=SIP;cause=503;text="Overloaded: call shed, try again later"/);
      const retry = Number(/retry_after=(\d+)/.exec(line)?.[1]);
      expect(retry).toBeGreaterThanOrEqual(2);
      expect(retry).toBeLessThanOrEqual(10);
    }

    // the call admitted before the overload goes on, and ends as any call does: the caller's BYE, its one CDR
    const ended = await live.done;
    expect(ended.code, `sipp log: ${ended.logPath}`).toBe(0);
    const [cdr, ...more] = await e2e.cdrsOfRun(live.callIdPrefix, 1);
    expect(more).toHaveLength(0);
    expect(cdr).toMatchObject({ account_id: acct.id, disposition: 'answered', reason: 'caller_bye', sip_code: 200 });
    expect(cdr!.total).toBeGreaterThan(0);
    const refused = await e2e.cdrsOfRun(shed.callIdPrefix, 3);
    for (const r of refused) expect(r).toMatchObject({ disposition: 'rejected', reason: 'overloaded', sip_code: 503, total: 0 });

    // the load gone, new calls are admitted again
    writeFileSync(levelFile, '0');
    const after = await runSipp({
      name: 'overload-after', scenario: 'uac-answered', target: e2e.target, service: acct.dial(NUMBERS.london), holdMs: 500, timeoutMs: 20_000,
    });
    expect(after.code, `sipp log: ${after.logPath}`).toBe(0);
    await callgate.stop(); // drachtio-server would share the next test's INVITEs with it
  });

  it('at the severe level takes the INVITE route off drachtio-server, which answers 503 itself, a live call untouched; puts it back when the load falls', async () => {
    const levelFile = join(mkdtempSync(join(tmpdir(), 'callgate-overload-')), 'level');
    writeFileSync(levelFile, '0');
    const callgate = await e2e.startCallgate({
      switchId: 'swUnroute', env: { CALLGATE_OVERLOAD_ENABLED: 'true', CALLGATE_TEST_OVERLOAD_LEVEL_FILE: levelFile, CALLGATE_OVERLOAD_UNROUTE_HOLD_MS: '1500' },
    });
    const acct = await e2e.createAccount({ funds: '10' });
    const live = await startSipp({
      name: 'unroute-live', scenario: 'uac-answered', target: e2e.target, service: acct.dial(NUMBERS.london), holdMs: 5000, timeoutMs: 30_000,
    });
    await waitFor('the live call to be answered', async () => {
      const [call] = await e2e.callRecords(acct.id);
      return call !== undefined && call.answeredAt > 0;
    }, { timeoutMs: 10_000 });

    writeFileSync(levelFile, '1');
    await waitFor('the INVITE route to come off', async () => (await callgate.metric('callgate_invite_route_off')) === 1, { timeoutMs: 5000 });
    const shed = await runSipp({
      name: 'unroute-shed', scenario: 'uac-load', target: e2e.target, calls: 3, rate: 10, timeoutMs: 15_000,
      injection: `SEQUENTIAL\n${acct.dial(NUMBERS.london)};15551230000\n`,
    });
    expect(shed.code, `sipp log: ${shed.logPath}`).toBe(0);
    expect(Number(shed.stats['refused_503(C)'])).toBe(3);
    // drachtio-server's own 503: no Reason (callgate's always has one), and callgate never saw these INVITEs
    for (const line of shed.logLines) expect(line).toMatch(/event=refused code=503 reason=$/);

    // the live call's BYE reaches callgate through its dialog: it ends as any call does, with its one CDR
    const ended = await live.done;
    expect(ended.code, `sipp log: ${ended.logPath}`).toBe(0);
    const [cdr, ...more] = await e2e.cdrsOfRun(live.callIdPrefix, 1);
    expect(more).toHaveLength(0);
    expect(cdr).toMatchObject({ account_id: acct.id, disposition: 'answered', reason: 'caller_bye', sip_code: 200 });

    writeFileSync(levelFile, '0');
    await waitFor('the INVITE route to come back', async () => (await callgate.metric('callgate_invite_route_off')) === 0, { timeoutMs: 10_000 });
    expect(await callgate.metric('callgate_invite_route_off_seconds_total')).toBeGreaterThanOrEqual(1.5);
    const after = await runSipp({
      name: 'unroute-after', scenario: 'uac-answered', target: e2e.target, service: acct.dial(NUMBERS.london), holdMs: 500, timeoutMs: 20_000,
    });
    expect(after.code, `sipp log: ${after.logPath}`).toBe(0);
  });
});
