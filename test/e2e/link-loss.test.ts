/**
 * drachtio link loss: callgate's TCP link to drachtio-server drops mid-call (drachtio-server issue #432:
 * the caller's BYE can then never reach the app, and no `destroy` fires). A TCP proxy in this file sits
 * between callgate and drachtio's admin port; the test cuts it while a long call is up, refuses new
 * connections for a few seconds, then accepts again.
 *
 * Proven: callgate finalizes the call itself (one CDR, reason link_lost, money conserved, calls hash empty),
 * no lease is left behind, and callgate reconnects by itself once the link is back (a new call is admitted
 * and answered). The SIP legs themselves stay up in drachtio and SIPp: nothing can hang them up once the
 * link is gone, so the test ends the SIPp run itself.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { NUMBERS, TIMING, describeE2E, runSipp, startSipp, useE2E, waitFor, type Callgate, type SippRun } from './harness.js';

/** How long the proxy refuses connections after the cut (CALLGATE_LINK_LOSS_REFUSE_MS to measure longer outages). */
const REFUSE_MS = Number(process.env.CALLGATE_LINK_LOSS_REFUSE_MS ?? 3000);

/**
 * A loopback TCP proxy to drachtio's admin port that can be cut: every connection through it is destroyed
 * and the port refuses connections (ECONNREFUSED) until `accept()`.
 */
class LinkProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Epoch ms of every connection accepted from callgate. */
  readonly accepted: number[] = [];

  private constructor(readonly port: number, private readonly targetPort: number) {}

  static async start(targetPort: number): Promise<LinkProxy> {
    const probe = createServer();
    const port = await new Promise<number>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port));
    });
    await new Promise<void>((done) => probe.close(() => done()));
    const proxy = new LinkProxy(port, targetPort);
    await proxy.accept();
    return proxy;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  /** Listens (again) on the same port. */
  async accept(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => this.relay(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  private relay(client: Socket): void {
    this.accepted.push(Date.now());
    const upstream = connect({ host: '127.0.0.1', port: this.targetPort });
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => {}); // a reset is what a cut is: each side is destroyed below
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Destroys every connection through the proxy and stops listening: new connections are refused. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((done) => server.close(() => done())) : Promise.resolve();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  stop(): Promise<void> {
    return this.cut();
  }
}

/** How many times callgate has logged a (re)connection to drachtio-server so far. */
const connections = (cg: Callgate) => (cg.child.output.match(/connected to drachtio-server/g) ?? []).length;

describeE2E('e2e: callgate loses its link to drachtio-server mid-call', () => {
  const e2e = useE2E({ name: 'link-loss', callgate: false });

  it('finalizes the call as link_lost, leaks no lease, and reconnects by itself once the link is back', { timeout: 90_000 + REFUSE_MS * 2 }, async () => {
    const proxy = e2e.own(await LinkProxy.start(e2e.drachtio.adminPort));
    const cg = await e2e.startCallgate({ switchId: 'swL', drachtio: { ...e2e.drachtio, adminPort: proxy.port } });
    let long: SippRun | undefined;
    try {
      expect(proxy.accepted, 'callgate reaches drachtio through the proxy').toHaveLength(1);
      const acct = await e2e.createAccount({ funds: '10' });
      const leaseKey = e2e.keys.leases(acct.id, 'swL');

      long = await startSipp({
        name: 'link-loss-long', scenario: 'uac-long', target: e2e.target, service: acct.dial(NUMBERS.london), holdMs: 60_000, timeoutMs: 75_000,
      });
      await waitFor('the long call answered and ticked through callgate', async () => {
        const [call] = await e2e.callRecords(acct.id);
        return call !== undefined && call.sw === 'swL' && call.answeredAt > 0 && call.committed > 0;
      }, { timeoutMs: 10_000 });
      await sleep(TIMING.tickIntervalMs * 2); // the scenario: the call talks on for two more ticks before the cut
      expect(await e2e.conn.redis.zCard(leaseKey), 'the call holds one lease on swL').toBe(1);

      // ------------------------------------------------------------------------------- the cut
      const cutAt = Date.now();
      await proxy.cut();
      const finalizedAt = await waitFor('the calls hash to empty', async () => ((await e2e.liveCalls(acct.id)) === 0 ? Date.now() : undefined), {
        timeoutMs: TIMING.leaseTtlMs + TIMING.sweepIntervalMs + 5000, intervalMs: 10,
      });
      const [cdr] = await e2e.cdrsOfRun(long.callIdPrefix, 1);
      console.log(`[link-loss] cut -> call finalized: ${finalizedAt - cutAt} ms (CDR reason ${cdr!.reason}, total ${cdr!.total} micro-dollars)`);

      // invariant 2: no lease is left, whoever ended the call
      expect(await e2e.conn.redis.zCard(leaseKey), 'lease left on swL').toBe(0);
      expect(await e2e.leaseCount(acct.id), 'expiry entry left').toBe(0);
      if (cdr!.reason === 'lease_expired') {
        // callgate did not finalize: the lease at least had to expire within its TTL and be swept
        expect(finalizedAt - cutAt).toBeLessThanOrEqual(TIMING.leaseTtlMs + TIMING.sweepIntervalMs + 1500);
      }
      // callgate itself finalized the call at once (not a sweep after the lease TTL): exactly one CDR, link_lost
      expect(cdr).toMatchObject({ account_id: acct.id, switch_id: 'swL', disposition: 'answered', reason: 'link_lost', sip_code: 200 });
      expect(cdr!.answered_at).not.toBeNull();
      expect(finalizedAt - cutAt, 'finalized well before the lease could expire').toBeLessThan(TIMING.leaseTtlMs);
      await sleep(1000); // a window, not a wait: a second CDR (a sweep, a late BYE) would be written by now
      expect(e2e.cdrs((c) => c.sip_call_id.startsWith(long!.callIdPrefix)), 'exactly one CDR for the call').toHaveLength(1);
      expect((await e2e.snapshot(acct.id)).reserved).toBe(0);

      // the call leg itself is beyond reach: drachtio and SIPp still hold it. End the SIPp run here.
      expect(cg.child.running, 'callgate survived the cut').toBe(true);
      await long.kill();
      long = undefined;

      // ------------------------------------------------------------------- refuse, then accept
      await sleep(Math.max(0, cutAt + REFUSE_MS - Date.now())); // the scenario: the proxy refuses for REFUSE_MS
      expect(connections(cg), 'no connection while the proxy refuses').toBe(1);
      const reacceptAt = Date.now();
      await proxy.accept();
      const reconnectedAt = await waitFor('callgate to reconnect to drachtio-server', () => (connections(cg) >= 2 ? Date.now() : undefined), {
        timeoutMs: 30_000 + REFUSE_MS, intervalMs: 10,
      });
      console.log(
        `[link-loss] proxy accepts again after ${reacceptAt - cutAt} ms refused -> callgate reconnected: ${reconnectedAt - reacceptAt} ms ` +
          `(TCP connection at +${(proxy.accepted.at(-1) ?? reconnectedAt) - reacceptAt} ms)`,
      );

      // a new call through callgate is admitted and answered: the app is registered for INVITEs again
      const after = await runSipp({
        name: 'link-loss-after', scenario: 'uac-answered', target: e2e.target, service: acct.dial(NUMBERS.london), holdMs: 1000, timeoutMs: 20_000,
      });
      expect(after.code, `a call after the reconnect; sipp log: ${after.logPath}`).toBe(0);
      const [next] = await e2e.cdrsOfRun(after.callIdPrefix, 1);
      expect(next).toMatchObject({ account_id: acct.id, switch_id: 'swL', disposition: 'answered', reason: 'caller_bye' });
    } finally {
      await long?.kill();
      await cg.stop();
    }
  });
});
