import { setTimeout as sleep } from 'node:timers/promises';
import { basename } from 'node:path';
import { expect, it } from 'vitest';
import { NUMBERS, TIMING, describeE2E, startDrachtio, startSipp, useE2E, waitFor, type Callgate, type E2E, type SippRun, type TestAccount } from './harness.js';

/** A long call through `owner`, answered and ticked at least once, so that it is billable when its owner dies. */
async function longCallThrough(e2e: E2E, owner: Callgate, acct: TestAccount): Promise<SippRun> {
  const long = await startSipp({
    name: `crash-long-${owner.switchId}`, scenario: 'uac-long', target: e2e.target, service: acct.dial(NUMBERS.london), holdMs: 30_000, timeoutMs: 40_000,
  });
  await waitFor(`an answered call owned by ${owner.switchId}`, async () => {
    const [call] = await e2e.callRecords(acct.id);
    return call !== undefined && call.sw === owner.switchId && call.answeredAt > 0 && call.committed > 0;
  }, { timeoutMs: 10_000 });
  await sleep(TIMING.tickIntervalMs * 2); // the scenario: the call talks on for two more ticks before its owner dies
  return long;
}

/** SIGKILLs the owner; returns when it died, the call's record as it left it, and the lease expiry (Redis TIME ms). */
async function killOwner(e2e: E2E, owner: Callgate, acct: TestAccount) {
  const killedAt = Date.now();
  await owner.kill();
  const [atDeath] = await e2e.callRecords(acct.id);
  expect(atDeath, 'the call record outlives its owner until the lease expires').toBeDefined();
  const leaseExpiry = Number(await e2e.conn.redis.zScore(e2e.keys.expiry(acct.id), atDeath!.callId));
  // the last heartbeat was before the kill: the lease cannot reach further than one TTL past it
  expect(leaseExpiry).toBeLessThanOrEqual(killedAt + TIMING.leaseTtlMs + 50);
  return { killedAt, atDeath: atDeath!, leaseExpiry };
}

/** Exactly one CDR for the run's call in every file of every switch: orphaned, billed what the dead owner committed. */
async function expectOneOrphanedCdr(e2e: E2E, long: SippRun, o: { accountId: string; owner: string; sweeper: string; committed: number }) {
  const [cdr] = await e2e.cdrsOfRun(long.callIdPrefix, 1);
  await sleep(1000); // a window, not a wait: a second CDR, if one were coming, would be written by now
  expect(e2e.cdrs((c) => c.sip_call_id.startsWith(long.callIdPrefix))).toHaveLength(1);
  expect(e2e.csvRowsOfRun(long.callIdPrefix)).toHaveLength(1);
  expect(cdr).toMatchObject({
    account_id: o.accountId, switch_id: o.owner, disposition: 'orphaned', reason: 'lease_expired', sip_code: 200, total: o.committed,
  });
  expect(cdr!.answered_at).not.toBeNull();
  // written by the instance that swept it, to its own day file
  expect(basename(cdr!.file)).toBe(`${o.sweeper}.jsonl`);
  // the CDR stream is drained: the sweeper's writer acknowledged the entry once it was durable
  await waitFor('the CDR stream to drain', async () => (await e2e.conn.redis.xLen(e2e.keys.cdrs(o.accountId))) === 0, { timeoutMs: 5000 });
}

describeE2E('e2e: an instance dies with a call up', () => {
  // no callgate of its own: each test starts the instances it needs, and stops them, so that no sweeper of
  // one test is left running into the next
  const e2e = useE2E({ name: 'crash', callgate: false });

  it('a peer instance sweeps the orphaned call once its lease expires: channel freed, exactly one orphaned CDR', async () => {
    // A takes the call on this block's drachtio; B is a peer on its own drachtio (another switch), so its
    // sweeper is already running when A dies and the lease bound is measured from the kill itself
    const drachtioB = await startDrachtio('crash-peer');
    const a = await e2e.startCallgate({ switchId: 'swA' });
    const b = await e2e.startCallgate({ switchId: 'swB', drachtio: drachtioB });
    let long: SippRun | undefined;
    try {
      const acct = await e2e.createAccount({ funds: '10' });
      long = await longCallThrough(e2e, a, acct);
      const { killedAt, atDeath, leaseExpiry } = await killOwner(e2e, a, acct);

      const sweptAt = await waitFor('the calls hash to empty', async () => ((await e2e.liveCalls(acct.id)) === 0 ? Date.now() : undefined), {
        timeoutMs: 15_000, intervalMs: 25,
      });
      // invariant 2: the channel is free within the lease TTL (+ one sweep, + margin) of the owner's death ...
      expect(sweptAt - killedAt).toBeLessThanOrEqual(TIMING.leaseTtlMs + TIMING.sweepIntervalMs + 1500);
      expect(sweptAt - leaseExpiry).toBeLessThanOrEqual(TIMING.sweepIntervalMs + 1000);
      // ... and not before its lease expired: a live lease is never swept
      expect(sweptAt).toBeGreaterThanOrEqual(leaseExpiry - 20);
      expect(await e2e.leaseCount(acct.id)).toBe(0);

      await expectOneOrphanedCdr(e2e, long, { accountId: acct.id, owner: 'swA', sweeper: 'swB', committed: atDeath.committed });
      expect(await e2e.snapshot(acct.id)).toMatchObject({ balance: 10_000_000 - atDeath.committed, reserved: 0, status: 'on' });
    } finally {
      // A's B2BUA legs died with A: the caller would wait out its whole hold time for nothing
      await long?.kill();
      await a.kill();
      await b.stop();
      await drachtioB.stop();
    }
  });

  it('an instance started after the owner died sweeps what it left: channel freed, exactly one orphaned CDR', async () => {
    const a = await e2e.startCallgate({ switchId: 'swC' });
    let b: Callgate | undefined;
    let long: SippRun | undefined;
    try {
      const acct = await e2e.createAccount({ funds: '10' });
      long = await longCallThrough(e2e, a, acct);
      const { atDeath, leaseExpiry } = await killOwner(e2e, a, acct);
      await sleep(TIMING.leaseTtlMs + TIMING.sweepIntervalMs); // a window, not a wait: the lease expires, and no one sweeps
      expect(await e2e.liveCalls(acct.id), 'nothing sweeps while no instance runs').toBe(1);

      // the replacement takes over the same drachtio; nothing else is running that could sweep
      b = await e2e.startCallgate({ switchId: 'swD' });
      const readyAt = Date.now();
      const sweptAt = await waitFor('the calls hash to empty', async () => ((await e2e.liveCalls(acct.id)) === 0 ? Date.now() : undefined), {
        timeoutMs: 15_000, intervalMs: 25,
      });
      // swept within one sweep interval (+ margin) of the later of: the lease expiring, the instance being up
      expect(sweptAt - Math.max(leaseExpiry, readyAt)).toBeLessThanOrEqual(TIMING.sweepIntervalMs + 1500);
      expect(sweptAt).toBeGreaterThanOrEqual(leaseExpiry - 20);
      expect(await e2e.leaseCount(acct.id)).toBe(0);

      await expectOneOrphanedCdr(e2e, long, { accountId: acct.id, owner: 'swC', sweeper: 'swD', committed: atDeath.committed });
      expect(await e2e.snapshot(acct.id)).toMatchObject({ balance: 10_000_000 - atDeath.committed, reserved: 0, status: 'on' });
    } finally {
      await long?.kill();
      await a.kill();
      await b?.stop();
    }
  });
});
