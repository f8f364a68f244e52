/**
 * Traffic profiles end to end, on real drachtio-server and SIPp, with the thresholds scaled down so the runs
 * stay short: a short call is under 3 s, a window is judged from 6 answered calls.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NUMBERS, describeE2E, runSipp, startSipp, useE2E, waitFor, type SippResult } from './harness.js';
import { createEngine } from '../../src/redis/engine.js';
import { createTrafficService } from '../../src/traffic/service.js';

const MIN_ANSWERED = 6;
const env: Record<string, string> = {
  CALLGATE_TRAFFIC_SHORT_CALL_SECONDS: '3',
  CALLGATE_TRAFFIC_MIN_ANSWERED: String(MIN_ANSWERED),
  CALLGATE_TRAFFIC_EVALUATE_INTERVAL_MS: '200',
  CALLGATE_TRAFFIC_REFUSAL_FLUSH_MS: '200',
};

/** The webhook receiver: every event body POSTed to it. */
let hook: Server;
const received: Record<string, unknown>[] = [];
const eventsOf = (account: string) => received.filter((e) => e.account === account);

function reasonHeaders(run: SippResult): string[] {
  return run.logLines.map((l) => /reason=(.*)$/.exec(l)?.[1] ?? '').filter(Boolean);
}

describeE2E('e2e: traffic profiles raise alerts, suspend, and fraud rules refuse a prefix', () => {
  // registered before useE2E's: the receiver's address goes into the callgate's environment before it starts
  beforeAll(async () => {
    hook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    env.CALLGATE_WEBHOOKS = JSON.stringify([{ id: 'e2e-hook', url, secret: 'e2e-traffic-secret-0123456789' }]);
  });
  afterAll(async () => {
    await new Promise((resolve) => hook?.close(resolve));
  });
  const e2e = useE2E({ name: 'traffic', env });
  const service = () => {
    const engine = createEngine({ redis: e2e.conn.redis, keys: e2e.keys, switchId: 'e2e-admin', leaseTtlMs: e2e.config.billing.leaseTtlMs });
    return createTrafficService({ engine, config: { traffic: { ...e2e.config.traffic, minAnswered: MIN_ANSWERED } } });
  };

  it('a dialer-shaped pattern raises traffic_critical with the figures; a conversational one on another account raises nothing', async () => {
    const dialer = await e2e.createAccount({ funds: '50' });
    const talker = await e2e.createAccount({ funds: '50' });
    // the conversational account's ACD thresholds scaled down as shortCallSeconds is (60 s / 30 s -> 3 s / 2 s)
    await service().putSettings(talker.id, { overrides: { acd: { warning: 3, critical: 2 } } });

    // two refused attempts (no rate), flushed as refusal counts, then six 1 s calls
    const refused = await runSipp({ name: 'dialer-refused', scenario: 'uac-expect-403', target: e2e.target, service: dialer.dial(NUMBERS.unrated), calls: 2, timeoutMs: 15_000 });
    expect(refused.code, `sipp log: ${refused.logPath}`).toBe(0);
    await waitFor('the refusals counted in the day window', async () => (await service().getTraffic(dialer.id)).windows.day.attempts === 2, { timeoutMs: 5000 });
    const shorts = await runSipp({
      name: 'dialer-short', scenario: 'uac-answered', target: e2e.target, service: dialer.dial(NUMBERS.london), calls: MIN_ANSWERED, holdMs: 1000, rate: 10, timeoutMs: 30_000,
    });
    expect(shorts.successful, `sipp log: ${shorts.logPath}`).toBe(MIN_ANSWERED);
    const talk = await runSipp({
      name: 'talker', scenario: 'uac-answered', target: e2e.target, service: talker.dial(NUMBERS.london), calls: MIN_ANSWERED, holdMs: 5000, rate: 10, limit: MIN_ANSWERED, timeoutMs: 30_000,
    });
    expect(talk.successful, `sipp log: ${talk.logPath}`).toBe(MIN_ANSWERED);

    const alert = await waitFor('traffic_critical for short calls at the webhook', () =>
      eventsOf(dialer.id).find((e) => e.type === 'traffic_critical' && e.rule === 'short_call_ratio' && e.window === '15m'), { timeoutMs: 15_000 });
    // by hand: 8 attempts (2 refused + 6 answered), 6 answered all under 3 s: short 6/6 = 100.0%, ASR 6/8 = 75.0%
    expect(alert).toMatchObject({
      value: 100, threshold: 25, suspensionRecommended: true,
      figures: { attempts: 8, answered: 6, shortCalls: 6, shortCallPercent: 100, asrPercent: 75, nerPercent: 75 },
    });
    expect(alert.samples).toHaveLength(6);
    const acd = (alert.figures as { acdSeconds: number }).acdSeconds;
    expect(acd).toBeGreaterThanOrEqual(1);
    expect(acd).toBeLessThan(3);
    // the account is recommended for suspension, not suspended: that stays manual
    expect((await service().getTraffic(dialer.id)).suspensionRecommended).toMatchObject({ window: expect.any(String) });
    expect(await e2e.snapshot(dialer.id)).toMatchObject({ status: 'on' });

    // the talker's six 5 s calls were judged too (its window holds 6 answered): nothing crossed
    await waitFor('the talker judged', async () => (await service().getTraffic(talker.id)).rules.some((r) => r.judged), { timeoutMs: 10_000 });
    const t = await service().getTraffic(talker.id);
    expect(t.rules.filter((r) => r.judged).map((r) => r.level)).toEqual(t.rules.filter((r) => r.judged).map(() => 'ok'));
    expect(eventsOf(talker.id).filter((e) => String(e.type).startsWith('traffic_'))).toEqual([]);
  });

  it('an autoSuspend account goes OFF with msa_violation, and its live call gets a BYE', async () => {
    const acct = await e2e.createAccount({ funds: '50' });
    await service().putSettings(acct.id, { autoSuspend: true });
    const live = await startSipp({ name: 'suspend-live', scenario: 'uac-expect-bye', target: e2e.target, service: acct.dial(NUMBERS.london), timeoutMs: 40_000 });
    await waitFor('the long call up', async () => (await e2e.liveCalls(acct.id)) === 1, { timeoutMs: 10_000 });
    const shorts = await runSipp({
      name: 'suspend-short', scenario: 'uac-answered', target: e2e.target, service: acct.dial(NUMBERS.london), calls: MIN_ANSWERED, holdMs: 1000, rate: 10, timeoutMs: 30_000,
    });
    expect(shorts.successful, `sipp log: ${shorts.logPath}`).toBe(MIN_ANSWERED);
    const run = await live.done;
    expect(run.code, `the live call must get a BYE; sipp log: ${run.logPath}`).toBe(0);
    const [cdr] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
    expect(cdr).toMatchObject({ disposition: 'torn_down', reason: 'account_off' });
    expect(await e2e.snapshot(acct.id)).toMatchObject({ status: 'off', offReason: 'msa_violation' });
    expect(eventsOf(acct.id).find((e) => e.type === 'traffic_critical')).toBeDefined();
    await waitFor('status_changed to msa_violation at the webhook', () =>
      eventsOf(acct.id).find((e) => e.type === 'status_changed' && e.offReason === 'msa_violation'), { timeoutMs: 10_000 });
    await e2e.service.setStatus(acct.id, 'on'); // only an engineer lifts it (a payment does not: test/integration/traffic.test.ts)
  });

  it('a prefix rule at its critical level refuses the next INVITE to that prefix with 403 and a Reason; other prefixes pass', async () => {
    const acct = await e2e.createAccount({ funds: '100' });
    const guarded = await e2e.callgate!.metric('callgate_traffic_guarded_accounts');
    await service().putSettings(acct.id, { fraudRules: [{ name: 'uk-mobile-e2e', prefix: '4477', limits: { calls_per_day: { warning: 1, critical: 2 } } }] });
    await waitFor('the callgate holding the rule', async () => (await e2e.callgate!.metric('callgate_traffic_guarded_accounts')) > guarded, { timeoutMs: 5000 });

    const two = await runSipp({ name: 'fraud-two', scenario: 'uac-answered', target: e2e.target, service: acct.dial(NUMBERS.premium), calls: 2, holdMs: 200, timeoutMs: 20_000 });
    expect(two.successful, `sipp log: ${two.logPath}`).toBe(2);
    const third = await runSipp({ name: 'fraud-third', scenario: 'uac-expect-403', target: e2e.target, service: acct.dial(NUMBERS.premium), timeoutMs: 15_000 });
    expect(third.code, `sipp log: ${third.logPath}`).toBe(0);
    expect(reasonHeaders(third)).toEqual([expect.stringMatching(/cause=403;text="Destination blocked by a fraud rule: rule uk-mobile-e2e \(calls_per_day\) until \d{4}-\d\d-\d\dT00:00:00.000Z"/)]);
    const [cdr] = await e2e.cdrsOfRun(third.callIdPrefix, 1);
    expect(cdr).toMatchObject({ disposition: 'rejected', reason: 'fraud_blocked', sip_code: 403 });
    const other = await runSipp({ name: 'fraud-other', scenario: 'uac-answered', target: e2e.target, service: acct.dial(NUMBERS.london), holdMs: 200, timeoutMs: 20_000 });
    expect(other.successful, `sipp log: ${other.logPath}`).toBe(1);
    const crit = await waitFor('the fraud critical at the webhook', () =>
      eventsOf(acct.id).find((e) => e.type === 'traffic_critical' && e.window === 'fraud'), { timeoutMs: 10_000 });
    expect(crit).toMatchObject({ rule: 'uk-mobile-e2e', limit: 'calls_per_day', prefix: '4477', value: 2, threshold: 2 });
    expect(eventsOf(acct.id).filter((e) => e.type === 'traffic_warning' && e.window === 'fraud')).toHaveLength(1);

    // an engineer lifts the block: the prefix passes again
    expect(await service().liftBlocks(acct.id, '4477')).toEqual({ lifted: true });
    await waitFor('the block lifted on the callgate', async () =>
      !(await service().getTraffic(acct.id)).fraudBlocks.length, { timeoutMs: 5000 });
    const after = await runSipp({ name: 'fraud-lifted', scenario: 'uac-answered', target: e2e.target, service: acct.dial(NUMBERS.premium), holdMs: 200, timeoutMs: 20_000 });
    expect(after.successful, `sipp log: ${after.logPath}`).toBe(1);
  });
});
