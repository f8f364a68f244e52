/**
 * The Redis Cluster master that holds an account's slot dies (SIGKILL) under a steady admit+finalize load,
 * and its replica is promoted after cluster-node-timeout. Engine level, through callgate's own client
 * (src/redis/client.ts); the SIP side plays no part here.
 *
 * Measured and printed on one line (copied into docs/reliability.md):
 *   pause_ms          longest gap between two consecutive successful admits
 *   failed_admits     admit calls that rejected with an error (their outcome is unknown to the caller)
 *   lost              failed admits that wrote nothing: harmless, the INVITE was refused
 *   orphaned          failed admits that did write a call: the caller never learns of it, so its lease must
 *                     run out and the sweeper must close it with exactly one `orphaned` CDR
 *   doubled           call ids with more than one CDR (must be 0)
 *   acked_lost        admits acknowledged to the caller whose call the promoted replica never saw
 *                     (asynchronous replication), found as admitted calls without any CDR
 * Proven: channels never exceed the limit, admission resumes by itself, money is conserved, one CDR per call,
 * no live lease left.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { clusterNodes, keySlot, ownerOf, redisCli, startRedisCluster, type NodeLine, type RedisCluster } from '../helpers/redis-servers.js';
import { loadConfig } from '../../src/config/index.js';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { createKeys } from '../../src/redis/keys.js';
import { createEngine, type Engine, type FinalizeRequest } from '../../src/redis/engine.js';
import { createSweeper } from '../../src/calls/sweeper.js';
import { decodeAccountHash } from '../../src/redis/codecs/account-hash.js';

const logger = pino({ level: 'silent' });

const ACCOUNT = 'acme';
const CHANNELS = 20;
const WORKERS = 8;
const LONG_CALLS = 14; // with up to one short call per worker on top, the channel limit binds in steady state
const FUNDS = 1_000_000_000; // $1,000
const RESERVATION = 10_000;
const CALL_TOTAL = 1_000; // what each short call is billed at finalize
const LEASE_TTL_MS = 10_000; // longer than the failover pause, so live calls keep their lease through it
const TICK_MS = 500;
const WARMUP_MS = 2_000;
const AFTER_RESUME_MS = 3_000;
const GIVE_UP_AFTER_KILL_MS = 25_000;

async function waitForReplicas(cluster: RedisCluster, timeoutMs = 20_000): Promise<NodeLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const views = await Promise.all(cluster.nodes.map((n) => clusterNodes(n.port)));
    const settled = views.every(
      (v) => v.filter((n) => n.flags.includes('master')).length === 3 && v.filter((n) => n.flags.includes('slave')).length === 3,
    );
    if (settled) {
      const replicas = views[0]!.filter((n) => n.flags.includes('slave'));
      const links = await Promise.all(replicas.map((r) => redisCli(r.port, 'INFO', 'replication')));
      if (links.every((t) => t.includes('master_link_status:up'))) return views[0]!;
    }
    if (Date.now() > deadline) throw new Error(`replicas not attached within ${timeoutMs} ms`);
    await sleep(100);
  }
}

describe('fault: Redis Cluster master failover under load', () => {
  let cluster: RedisCluster;
  let conn: RedisConnection | undefined;
  let cleanupConn: RedisConnection | undefined;

  beforeAll(async () => {
    cluster = await startRedisCluster(3, 1);
  });
  afterAll(async () => {
    await conn?.close();
    await cleanupConn?.close();
    await cluster?.stop();
  });

  it('keeps the channel limit, resumes admission by itself after the promotion, and loses no money', { timeout: 75_000 }, async () => {
    // The harness returns at cluster_state:ok, which comes before every replica is attached and synced: wait
    // until every node sees 3 masters with one replica each and every replica's link to its master is up,
    // or there would be nothing to fail over to.
    const topology = await waitForReplicas(cluster);
    expect(topology.filter((n) => n.flags.includes('master'))).toHaveLength(3);
    expect(topology.filter((n) => n.flags.includes('slave'))).toHaveLength(3);

    const config = loadConfig({
      env: { NODE_ENV: 'test' },
      overrides: {
        switchId: 'sw1',
        redis: { url: 'redis://127.0.0.1:1', clusterNodes: cluster.rootNodes, keyPrefix: 'cf:', commandTimeoutMs: 250, operationTimeoutMs: 1_000 },
        billing: { tickIntervalMs: TICK_MS, leaseTtlMs: LEASE_TTL_MS, reservationSeconds: 60 },
      },
    });
    conn = await connectRedis(config);
    const keys = createKeys(config.redis.keyPrefix);
    const engine = createEngine({ redis: conn.redis, keys, switchId: config.switchId, leaseTtlMs: LEASE_TTL_MS });

    const put = await engine.putAccount(
      ACCOUNT,
      { type: 'prepaid', creditLimit: 0, channels: CHANNELS, cps: 100_000, burst: 100_000, lowBalanceThreshold: 0 },
      {},
      'create',
    );
    expect(put.outcome).toBe('ok');
    expect((await engine.applyFunds(ACCOUNT, 'seed', FUNDS, 1_000_000)).outcome).toBe('applied');

    // the master serving the account's slot, and the one that should take over
    const slot = await keySlot(cluster.nodes[0]!.port, keys.account(ACCOUNT));
    const victimLine = ownerOf(topology, slot)!;
    const victim = cluster.nodes.find((n) => n.port === victimLine.port)!;
    const survivor = cluster.nodes.find((n) => n.port !== victim.port)!;
    expect(topology.filter((n) => n.flags.includes('slave') && n.masterId === victimLine.id)).toHaveLength(1);

    const t0 = performance.now();
    const now = () => performance.now() - t0;
    let stopLoad = false;
    let killAt = Number.POSITIVE_INFINITY;
    let promotedAt = Number.POSITIVE_INFINITY;
    const admitTimes: number[] = []; // reply times of successful admits
    const admitted = new Set<string>();
    const failed: { callId: string; at: number; error: string }[] = [];
    const unexpected: string[] = [];
    const unsettled: FinalizeRequest[] = []; // admitted calls whose finalize never landed before the load stopped
    let finalizeErrors = 0;
    let channelRefusals = 0;

    const finalizeRequest = (callId: string, total: number): FinalizeRequest => ({
      accountId: ACCOUNT, callId, total, cost: total, tax: 0, billedSec: 1, talkMs: 1_000, answeredAt: Date.now() - 1_000, endedAt: Date.now(),
      disposition: 'answered', reason: 'caller_bye', sipCode: 200,
    });

    /** As a call session does: a finalize is retried until it lands (finalize is idempotent per call id). */
    async function finalizeUntilLands(e: Pick<Engine, 'finalizeCall'>, req: FinalizeRequest, deadline: () => number): Promise<boolean> {
      for (;;) {
        try {
          await e.finalizeCall(req);
          return true;
        } catch {
          finalizeErrors++;
          if (now() > deadline()) return false;
          await sleep(100);
        }
      }
    }

    async function admit(callId: string) {
      return engine.admitCall({ accountId: ACCOUNT, callId, reservation: RESERVATION, seed: JSON.stringify({ accountId: ACCOUNT, to: '4420' }) });
    }

    const calls = new Set<Promise<void>>();
    async function worker(seed: number): Promise<void> {
      let n = seed;
      while (!stopLoad) {
        const callId = randomUUID();
        let r: Awaited<ReturnType<typeof admit>>;
        try {
          r = await admit(callId);
        } catch (err) {
          const e = err as Error;
          failed.push({ callId, at: now(), error: e.constructor === Error ? `Error(${e.message.slice(0, 40)})` : e.constructor.name });
          await sleep(20);
          continue;
        }
        if (r.outcome === 'admitted') {
          admitTimes.push(now());
          admitted.add(callId);
          n = (n * 7 + 3) % 5;
          await sleep(2 + n);
          const req = finalizeRequest(callId, CALL_TOTAL);
          try {
            await engine.finalizeCall(req);
          } catch {
            // as a session does, the call keeps retrying its finalize on its own while this worker takes the
            // next INVITE: calls stuck this way during the failover fill the channels up to the limit
            finalizeErrors++;
            const call = finalizeUntilLands(engine, req, () => killAt + GIVE_UP_AFTER_KILL_MS).then((landed) => {
              if (!landed) unsettled.push(req);
            });
            calls.add(call);
            void call.finally(() => calls.delete(call));
          }
        } else if (r.outcome === 'channel_limit') {
          channelRefusals++;
          await sleep(5);
        } else {
          unexpected.push(r.outcome);
          await sleep(5);
        }
      }
    }

    // long calls held up to the end, ticking as sessions do; they keep part of the channels busy
    const longCalls: { callId: string; committed: number }[] = [];
    for (let i = 0; i < LONG_CALLS; i++) {
      const callId = randomUUID();
      const r = await admit(callId);
      expect(r.outcome).toBe('admitted');
      admitted.add(callId);
      longCalls.push({ callId, committed: 0 });
    }
    let tickErrors = 0;
    const ticker = (async () => {
      while (!stopLoad) {
        await sleep(TICK_MS);
        await Promise.all(
          longCalls.map(async (c) => {
            const total = c.committed + 500;
            try {
              const r = await engine.tickCall({
                accountId: ACCOUNT, callId: c.callId, total, cost: total, tax: 0, billedSec: 1, talkMs: 1_000, answeredAt: Date.now(), nextReservation: RESERVATION,
              });
              if (r.outcome === 'reserved') c.committed = total;
              else unexpected.push(`tick:${r.outcome}`);
            } catch {
              tickErrors++;
            }
          }),
        );
      }
    })();

    // the channel invariant, sampled all along: live leases (expiry in the future) and live call records
    let maxLeases = 0;
    let maxRecords = 0;
    let samples = 0;
    const sampler = (async () => {
      while (!stopLoad) {
        try {
          const [leases, records] = await Promise.all([
            conn!.redis.zCount(keys.leases(ACCOUNT, config.switchId), Date.now(), '+inf'),
            conn!.redis.hLen(keys.calls(ACCOUNT)),
          ]);
          maxLeases = Math.max(maxLeases, Number(leases));
          maxRecords = Math.max(maxRecords, Number(records));
          samples++;
        } catch {
          // the slot is unreachable during the failover
        }
        await sleep(25);
      }
    })();

    const workers = Array.from({ length: WORKERS }, (_, i) => worker(i));

    await sleep(WARMUP_MS); // the scenario: load runs a while before the master is killed
    expect(admitTimes.length).toBeGreaterThan(0);
    killAt = now();
    await victim.stop('SIGKILL', { keepData: true });

    // watch the promotion from a surviving node
    const watcher = (async () => {
      while (now() < killAt + GIVE_UP_AFTER_KILL_MS) {
        try {
          const owner = ownerOf(await clusterNodes(survivor.port), slot);
          if (owner && owner.port !== victim.port) {
            promotedAt = now();
            return owner;
          }
        } catch {
          // ask again
        }
        await sleep(50);
      }
      return undefined;
    })();

    // load goes on until admission has been back for a while, or we give up on it
    let resumedAt = Number.POSITIVE_INFINITY;
    while (now() < killAt + GIVE_UP_AFTER_KILL_MS) {
      // the first admit that succeeded after the promotion (before it the slot has no master at all)
      const firstAfter = admitTimes.find((t) => t > promotedAt);
      if (firstAfter !== undefined) {
        resumedAt = firstAfter;
        if (now() > resumedAt + AFTER_RESUME_MS) break;
      }
      await sleep(100);
    }
    const newOwner = await watcher;
    stopLoad = true;
    const stoppedAt = now();
    await Promise.all([...workers, ticker, sampler]);
    await Promise.all([...calls]);

    // the longest stretch without a successful admit, an unfinished one at the end included
    const sorted = [...admitTimes, stoppedAt].sort((a, b) => a - b);
    let pauseMs = 0;
    for (let i = 1; i < sorted.length; i++) pauseMs = Math.max(pauseMs, sorted[i]! - sorted[i - 1]!);
    const clientRecovered = resumedAt !== Number.POSITIVE_INFINITY;

    // Cleanup and accounting go through the product client when it recovered, else through a fresh one
    // (another instance, as it were): either way every call must end with exactly one CDR.
    let verify = conn;
    let verifyEngine = engine;
    if (!clientRecovered) {
      cleanupConn = await connectRedis(config);
      verify = cleanupConn;
      verifyEngine = createEngine({ redis: cleanupConn.redis, keys, switchId: config.switchId, leaseTtlMs: LEASE_TTL_MS });
    }
    const cleanupDeadline = now() + 10_000;
    for (const req of unsettled) expect(await finalizeUntilLands(verifyEngine, req, () => cleanupDeadline)).toBe(true);
    for (const c of longCalls) {
      expect(await finalizeUntilLands(verifyEngine, finalizeRequest(c.callId, c.committed + 500), () => cleanupDeadline)).toBe(true);
    }

    // failed admits: did they write a call after all?
    const orphanIds: string[] = [];
    const lostIds: string[] = [];
    for (const f of failed) {
      const exists = Number(await verify.redis.hExists(keys.calls(ACCOUNT), f.callId)) === 1;
      (exists ? orphanIds : lostIds).push(f.callId);
    }
    // what is left live now can only be those orphans; the sweeper closes them once their lease has run out
    const swept: string[] = [];
    const sweeper = createSweeper({
      redis: verify.redis, keys, engine: verifyEngine, logger, accountIds: () => [ACCOUNT], intervalMs: 200,
      resumeGraceMs: LEASE_TTL_MS, onSwept: (_a, ids) => swept.push(...ids),
    });
    const sweepDeadline = now() + LEASE_TTL_MS + 5_000;
    while (now() < sweepDeadline) {
      await sweeper.sweepOnce().catch(() => 0);
      if (Number(await verify.redis.hLen(keys.calls(ACCOUNT))) === 0) break;
      await sleep(200);
    }
    await sweeper.stop();

    const cdrs = (await verify.redis.xRange(keys.cdrs(ACCOUNT), '-', '+')).map((e) => e.message as Record<string, string>);
    const perCall = new Map<string, Record<string, string>[]>();
    for (const c of cdrs) perCall.set(c.callId!, [...(perCall.get(c.callId!) ?? []), c]);
    const doubled = [...perCall.values()].filter((l) => l.length > 1).length;
    const ackedLost = [...admitted].filter((id) => !perCall.has(id));
    const acct = decodeAccountHash((await verify.redis.hGetAll(keys.account(ACCOUNT))) as Record<string, string>);
    const billed = cdrs.reduce((s, c) => s + Number(c.total), 0);
    const liveLeases = Number(await verify.redis.zCount(keys.leases(ACCOUNT, config.switchId), Date.now(), '+inf'));
    const staleLeases = Number(await verify.redis.zCard(keys.leases(ACCOUNT, config.switchId)));

    const errorKinds = [...new Set(failed.map((f) => f.error))].map((k) => `${k}:${failed.filter((f) => f.error === k).length}`).join(',');
    console.log(
      `[cluster-failover] pause_ms=${Math.round(pauseMs)} failed_admits=${failed.length} lost=${lostIds.length} orphaned=${orphanIds.length}` +
        ` doubled=${doubled} acked_lost=${ackedLost.length} admits=${admitted.size}` +
        ` promoted_after_kill_ms=${Math.round(promotedAt - killAt)} resumed_after_kill_ms=${Math.round(resumedAt - killAt)}` +
        ` client_recovered=${clientRecovered} max_leases=${maxLeases}/${CHANNELS} max_records=${maxRecords} samples=${samples}` +
        ` finalize_retries=${finalizeErrors} tick_errors=${tickErrors} channel_refusals=${channelRefusals}` +
        ` stale_lease_members=${staleLeases} errors=${errorKinds || 'none'}`,
    );

    // the promotion happened, and admission came back by itself through the same client, within a bound
    expect(newOwner).toBeDefined();
    expect.soft(clientRecovered, 'callgate\'s cluster client never admitted again after the promotion').toBe(true);
    expect.soft(pauseMs).toBeLessThan(30_000);
    // channels: never above the limit, in any sample
    expect(samples).toBeGreaterThan(20);
    expect(maxLeases).toBeLessThanOrEqual(CHANNELS);
    expect(unexpected).toEqual([]);
    // every call ended with exactly one CDR: admitted ones as answered, orphans of failed admits as orphaned
    expect(doubled).toBe(0);
    expect(ackedLost).toEqual([]);
    for (const id of admitted) expect(perCall.get(id)?.map((c) => c.disposition)).toEqual(['answered']);
    for (const id of orphanIds) {
      expect(perCall.get(id)?.map((c) => [c.disposition, c.total])).toEqual([['orphaned', '0']]);
    }
    for (const id of lostIds) expect(perCall.has(id)).toBe(false);
    expect(swept).toHaveLength(orphanIds.length);
    expect(cdrs).toHaveLength(admitted.size + orphanIds.length);
    // money: what left the balance is exactly what the CDRs bill; nothing held, nothing live
    expect(FUNDS - acct.balance).toBe(billed);
    expect(acct.reserved).toBe(0);
    expect(Number(await verify.redis.hLen(keys.calls(ACCOUNT)))).toBe(0);
    expect(Number(await verify.redis.zCard(keys.expiry(ACCOUNT)))).toBe(0);
    expect(liveLeases).toBe(0);
  });
});
