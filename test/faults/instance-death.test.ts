/**
 * An instance dies (SIGKILL) with answered calls up (DESIGN.md invariants 2 and 5, and "an orphaned call is
 * billed what was committed at its last tick"). Instance A runs as a child process
 * (test/faults/fixtures/instance-a.ts): the real admission, bridge and call sessions with the SIP side faked,
 * against the test Redis. Instance B is this test process and runs the sweeper.
 *
 * Proven: every channel is freed within lease TTL + sweep interval (+ a margin); each call gets exactly one
 * CDR, `orphaned`, billing exactly what its last tick committed, and is counted once in the account's traffic
 * figures; money is conserved; no live lease is left.
 * Restarting A (journal replay, as `callgate serve` does first) bills nothing twice, also when the journal
 * holds a finalize for a call the sweeper has already closed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/index.js';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { createKeys } from '../../src/redis/keys.js';
import { createEngine } from '../../src/redis/engine.js';
import { createAccountService } from '../../src/accounts/service.js';
import { createSweeper } from '../../src/calls/sweeper.js';
import { createUsageJournal } from '../../src/calls/journal.js';
import { decodeAccountHash } from '../../src/redis/codecs/account-hash.js';
import { decodeCallRecord, type CallRecord } from '../../src/redis/codecs/call-record.js';
import { createTrafficService } from '../../src/traffic/service.js';

const logger = pino({ level: 'silent' });
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/instance-a.ts', import.meta.url));

const CALLS = 5;
const TICK_MS = 200;
const LEASE_TTL_MS = 1_000;
const SWEEP_INTERVAL_MS = 200;
const FREE_MARGIN_MS = 500;
const FUNDS = 100_000_000; // $100
const ACCOUNT = 'acme';
const ACCOUNT_IP = '10.1.1.1';
const SWITCH_A = 'swA';
const SWITCH_B = 'swB';

interface Instance {
  child: ChildProcess;
  lines: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout line starting with `prefix`. */
  line(prefix: string, timeoutMs?: number): Promise<string>;
}

function startInstanceA(mode: 'serve' | 'replay', env: Record<string, string>): Instance {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, mode], {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  return {
    child, lines, stderr, exited,
    async line(prefix, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find((l) => l.startsWith(prefix));
        if (found) return found;
        if (gone || Date.now() > deadline) {
          throw new Error(`instance A (${mode}) printed no ${prefix} line${gone ? ' and exited' : ''}:\n${lines.join('\n')}\n${stderr.join('')}`);
        }
        await sleep(20);
      }
    },
  };
}


describe('fault: an instance dies with answered calls up', () => {
  const journalDir = mkdtempSync(join(tmpdir(), 'callgate-death-'));
  const prefix = `death${randomBytes(3).toString('hex')}:`;
  const running: Instance[] = [];
  let conn: RedisConnection | undefined;

  afterAll(async () => {
    for (const i of running) if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGKILL');
    await conn?.close();
    rmSync(journalDir, { recursive: true, force: true });
  });

  it('frees every channel within the lease TTL, bills each call its last tick once, and a restart bills nothing twice', { timeout: 60_000 }, async () => {
    const config = loadConfig({
      env: { NODE_ENV: 'test' },
      overrides: {
        switchId: SWITCH_B,
        redis: { url: inject('redisUrl'), clusterNodes: [], keyPrefix: prefix },
        billing: { tickIntervalMs: TICK_MS, leaseTtlMs: LEASE_TTL_MS, reservationSeconds: 2 },
      },
    });
    conn = await connectRedis(config);
    const { redis } = conn;
    const keys = createKeys(prefix);
    const engine = createEngine({ redis, keys, switchId: SWITCH_B, leaseTtlMs: LEASE_TTL_MS, traffic: { shortCallSeconds: 6, maxSamples: 20 } });
    const accounts = createAccountService({ redis, keys, engine, config });
    // $0.60 a minute on 1/1 increments: 10,000 micro-dollars a billed second, so one tick after the answer
    // has already committed money
    await accounts.loadRateDeck('d1', 'prefix,rate_per_min,first_increment,next_increment\n44,0.60,1,1\n');
    await accounts.putAccount(ACCOUNT, { type: 'prepaid', channels: 10, cps: 100, billingCountry: 'GB', deckId: 'd1', ips: [ACCOUNT_IP] }, { mode: 'create' });
    await accounts.applyFunds(ACCOUNT, '100', 'seed');
    const cdrCount = async () => Number(await redis.xLen(keys.cdrs(ACCOUNT)));
    const balance = async () => decodeAccountHash((await redis.hGetAll(keys.account(ACCOUNT))) as Record<string, string>);

    // instance B sweeps all along: it must leave A's calls alone while A renews their leases
    const swept: string[] = [];
    const sweeper = createSweeper({
      redis, keys, engine, logger, accountIds: () => [ACCOUNT], intervalMs: SWEEP_INTERVAL_MS, resumeGraceMs: LEASE_TTL_MS,
      onSwept: (_a, ids) => swept.push(...ids),
    });
    sweeper.start();

    const aEnv = {
      CG_REDIS_URL: inject('redisUrl'), CG_KEY_PREFIX: prefix, CG_SWITCH_ID: SWITCH_A, CG_JOURNAL_DIR: journalDir, CG_ACCOUNT_IP: ACCOUNT_IP,
      CG_CALLS: String(CALLS), CG_TICK_MS: String(TICK_MS), CG_LEASE_TTL_MS: String(LEASE_TTL_MS),
    };
    const a = startInstanceA('serve', aEnv);
    running.push(a);
    const callIds = (await a.line('READY ')).split(' ').slice(1);
    expect(callIds).toHaveLength(CALLS);
    await sleep(LEASE_TTL_MS + 2 * SWEEP_INTERVAL_MS); // A keeps its calls alive past one lease TTL
    expect(swept).toEqual([]);
    expect(Number(await redis.zCount(keys.leases(ACCOUNT, SWITCH_A), Date.now(), '+inf'))).toBe(CALLS);

    // A dies without a word: no BYE, no finalize
    a.child.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');
    const killedAt = Date.now();
    // what each call's last tick committed; A can no longer change it, and its leases run for up to one TTL
    const lastTick = new Map<string, CallRecord>();
    const records = (await redis.hGetAll(keys.calls(ACCOUNT))) as Record<string, string>;
    for (const id of callIds) {
      expect(records[id], `call ${id} was swept before its lease could have expired`).toBeDefined();
      lastTick.set(id, decodeCallRecord(id, records[id]!));
    }

    // every channel is freed, by B's sweeper, within lease TTL + sweep interval (+ margin)
    let freedAfterMs = Number.POSITIVE_INFINITY;
    while (Date.now() - killedAt < LEASE_TTL_MS + SWEEP_INTERVAL_MS + FREE_MARGIN_MS + 3_000) {
      const [live, records, acct] = await Promise.all([
        redis.zCount(keys.leases(ACCOUNT, SWITCH_A), Date.now(), '+inf'),
        redis.hLen(keys.calls(ACCOUNT)),
        balance(),
      ]);
      if (Number(live) === 0 && Number(records) === 0 && acct.reserved === 0) {
        freedAfterMs = Date.now() - killedAt;
        break;
      }
      await sleep(20);
    }
    await sweeper.stop();

    const cdrs = (await redis.xRange(keys.cdrs(ACCOUNT), '-', '+')).map((e) => e.message as Record<string, string>);
    const acct = await balance();
    const billed = cdrs.reduce((s, c) => s + Number(c.total), 0);
    const staleLeases = Number(await redis.zCard(keys.leases(ACCOUNT, SWITCH_A)));
    console.log(
      `[instance-death] freed_after_kill_ms=${freedAfterMs} bound_ms=${LEASE_TTL_MS + SWEEP_INTERVAL_MS + FREE_MARGIN_MS}` +
        ` calls=${CALLS} orphaned_cdrs=${cdrs.filter((c) => c.disposition === 'orphaned').length}` +
        ` billed_micros=${billed} per_call=${cdrs.map((c) => c.total).join(',')} stale_lease_members=${staleLeases}`,
    );

    expect(freedAfterMs).toBeLessThanOrEqual(LEASE_TTL_MS + SWEEP_INTERVAL_MS + FREE_MARGIN_MS);
    expect(swept).toHaveLength(CALLS);
    // exactly one CDR per call, orphaned, billed exactly what the last tick committed (and that is money)
    expect(cdrs.map((c) => c.callId).sort()).toEqual([...callIds].sort());
    for (const c of cdrs) {
      const tick = lastTick.get(c.callId!)!;
      expect(c.disposition).toBe('orphaned');
      expect(c.reason).toBe('lease_expired');
      expect(c.switchId).toBe(SWITCH_A);
      expect(c.writer).toBe(SWITCH_B);
      expect(c.sipCode).toBe('200');
      expect(Number(c.total)).toBe(tick.committed);
      expect(Number(c.total)).toBeGreaterThan(0);
      expect(Number(c.cost)).toBe(tick.cost);
      expect(Number(c.billedSec)).toBe(tick.billedSec);
      expect(Number(c.talkMs)).toBe(tick.talkMs);
      expect(Number(c.answeredAt)).toBe(tick.answeredAt ?? 0);
      expect(Number(c.total)).toBe(Number(c.billedSec) * 10_000);
    }
    // money is conserved and nothing is held or live
    expect(FUNDS - acct.balance).toBe(billed);
    expect(acct.reserved).toBe(0);
    expect(Number(await redis.hLen(keys.calls(ACCOUNT)))).toBe(0);
    expect(Number(await redis.zCard(keys.expiry(ACCOUNT)))).toBe(0);
    expect(Number(await redis.zCount(keys.leases(ACCOUNT, SWITCH_A), Date.now(), '+inf'))).toBe(0);

    // the account's traffic figures count each orphaned call once, as the sweeper billed it
    const traffic = await createTrafficService({ engine, config }).getTraffic(ACCOUNT);
    const ticks = [...lastTick.values()];
    expect(traffic.windows.day).toMatchObject({
      attempts: CALLS, answered: CALLS, billedSeconds: ticks.reduce((s, t) => s + t.billedSec, 0),
    });
    expect(traffic.windows.day.prefixes['44']).toMatchObject({ attempts: CALLS, answered: CALLS });

    // A restarts: its journal replay (nothing was journaled) bills nothing
    const restarted = startInstanceA('replay', aEnv);
    running.push(restarted);
    expect(await restarted.line('REPLAYED ')).toBe('REPLAYED []');
    expect((await restarted.exited).code).toBe(0);
    expect((await balance()).balance).toBe(acct.balance);
    expect(await cdrCount()).toBe(CALLS);

    // A had journaled a finalize before it died (its Redis commands failing), for a call the sweeper has
    // since closed as orphaned: the replay finds it already finalized and changes nothing
    const late = callIds[0]!;
    const journal = createUsageJournal({ dir: journalDir, switchId: SWITCH_A, logger });
    await journal.record({
      accountId: ACCOUNT, callId: late, total: lastTick.get(late)!.committed + 50_000, cost: lastTick.get(late)!.committed + 50_000, tax: 0,
      billedSec: lastTick.get(late)!.billedSec + 5, talkMs: lastTick.get(late)!.talkMs + 5_000, answeredAt: lastTick.get(late)!.answeredAt ?? 0,
      endedAt: Date.now(), disposition: 'answered', reason: 'caller_bye', sipCode: 200,
    });
    await journal.close();
    expect(await journal.pending()).toHaveLength(1);
    const replayed = startInstanceA('replay', aEnv);
    running.push(replayed);
    expect(await replayed.line('REPLAYED ')).toBe('REPLAYED []');
    expect(replayed.lines).toContain(`OUTCOME ${late} already_finalized`);
    expect((await replayed.exited).code).toBe(0);
    expect((await balance()).balance).toBe(acct.balance);
    expect((await balance()).reserved).toBe(0);
    expect(await cdrCount()).toBe(CALLS);
    // the replay compacted the journal: the settled finalize is not replayed again
    expect(await journal.pending()).toEqual([]);
  });
});
