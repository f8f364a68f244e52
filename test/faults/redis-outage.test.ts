/**
 * Redis goes away under load and comes back (DESIGN.md invariant 6), at engine level with the SIP side
 * faked: every INVITE is answered within the bound (503), live calls go on, a call that ends during the
 * outage is journaled and settled when Redis returns, no live call is swept as orphaned for the outage,
 * and money is conserved to the micro-dollar with no lease left.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { startRedisServer, type RedisServer } from '../helpers/redis-servers.js';
import { FakeRequest, FakeResponse, answerAfter, createFakeSrf } from '../helpers/fake-sip.js';
import { waitFor } from '../helpers/wait.js';
import { loadConfig } from '../../src/config/index.js';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { createKeys } from '../../src/redis/keys.js';
import { createEngine } from '../../src/redis/engine.js';
import { createAccountService } from '../../src/accounts/service.js';
import { createDirectory } from '../../src/admission/directory.js';
import { createAdmission } from '../../src/admission/admit.js';
import { createCallRegistry } from '../../src/calls/registry.js';
import { createSweeper } from '../../src/calls/sweeper.js';
import { createUsageJournal } from '../../src/calls/journal.js';
import { createBridge } from '../../src/sip/bridge.js';
import type { SrfRequest, SrfResponse } from '../../src/sip/srf-augment.js';
import { decodeAccountHash } from '../../src/redis/codecs/account-hash.js';

const logger = pino({ level: 'silent' });

describe('fault: Redis outage under load', () => {
  let server: RedisServer;
  let conn: RedisConnection;
  const dir = mkdtempSync(join(tmpdir(), 'callgate-outage-'));

  beforeAll(async () => {
    server = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'always']);
  });
  afterAll(async () => {
    await conn?.close();
    await server?.stop();
  });

  it('answers every INVITE within the bound, keeps calls up and bills the outage once Redis is back', { timeout: 60_000 }, async () => {
    const config = loadConfig({
      env: { NODE_ENV: 'test' },
      overrides: {
        redis: { url: server.url, keyPrefix: 'outage:', commandTimeoutMs: 200, operationTimeoutMs: 300 },
        billing: { tickIntervalMs: 150, leaseTtlMs: 800, reservationSeconds: 2 },
      },
    });
    conn = await connectRedis(config);
    const keys = createKeys(config.redis.keyPrefix);
    const engine = createEngine({ redis: conn.redis, keys, switchId: config.switchId, leaseTtlMs: config.billing.leaseTtlMs });
    const accounts = createAccountService({ redis: conn.redis, keys, engine, config });
    await accounts.loadRateDeck('d1', 'prefix,rate_per_min,first_increment,next_increment\n44,0.60,1,1\n');
    await accounts.putAccount('acme', { type: 'prepaid', channels: 50, cps: 1000, billingCountry: 'GB', deckId: 'd1', ips: ['10.1.1.1'] }, { mode: 'create' });
    const funds = 100_000_000;
    await accounts.applyFunds('acme', '100', 'seed');

    const directory = createDirectory({ redis: conn.redis, keys, logger, trustedPeers: [] });
    await directory.start();
    const admitInvite = createAdmission({ config, directory, engine, logger });
    const registry = createCallRegistry();
    const journal = createUsageJournal({ dir, switchId: config.switchId, logger });
    const swept: string[] = [];
    const sweeper = createSweeper({
      redis: conn.redis, keys, engine, logger, accountIds: () => directory.accountIds(), intervalMs: 100,
      resumeGraceMs: config.billing.leaseTtlMs, onSwept: (_a, ids) => swept.push(...ids),
    });
    sweeper.start();
    const fake = createFakeSrf();
    const finalized: string[] = [];
    const bridge = createBridge({
      srf: fake.srf, routeUris: ['sip:switch'], registry, logger,
      session: { engine, config, logger, journal, retryDelayMs: 50, onFinalized: (_a, id) => finalized.push(id) },
    });
    const invite = () =>
      admitInvite({ sipCallId: 'x', sourceIp: '10.1.1.1', ruriUser: '4420', fromUser: 'a', toUser: '4420', receivedAt: Date.now() });

    // three answered calls
    fake.play(answerAfter(1));
    for (let i = 0; i < 3; i++) {
      const d = await invite();
      if (!d.admitted) throw new Error(d.rejection.reason);
      const req = new FakeRequest();
      req.locals.callgate = d.call;
      await bridge(req as unknown as SrfRequest, new FakeResponse() as unknown as SrfResponse);
    }
    expect(registry.size()).toBe(3);
    await sleep(400); // the scenario: the calls talk, and tick, for a while before the outage

    // outage
    const outageStarted = Date.now();
    await server.stop('SIGTERM', { keepData: true });
    const answers = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const t0 = Date.now();
        const d = await invite();
        return { ms: Date.now() - t0, reason: d.admitted ? 'admitted' : d.rejection.reason, status: d.admitted ? 0 : d.rejection.sipStatus };
      }),
    );
    expect(answers.every((a) => a.reason === 'unavailable' && a.status === 503)).toBe(true);
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(config.redis.commandTimeoutMs + 1_000);

    // the caller of call 1 hangs up during the outage: its finalize is journaled durably
    fake.legs[0]!.uas.emit('destroy');
    await waitFor('the failed finalize to be journaled', () => existsSync(journal.path) && readFileSync(journal.path, 'utf8').includes('"op":"finalize"'), {
      timeoutMs: config.redis.operationTimeoutMs + 5_000,
    });
    const journalText = readFileSync(journal.path, 'utf8');
    expect(journalText).toContain('"op":"finalize"');
    await sleep(1_200); // the scenario: longer than a lease TTL: every lease is past its expiry in Redis terms
    expect(registry.all().filter((c) => !c.ended)).toHaveLength(2); // the other calls are still up
    const outageMs = Date.now() - outageStarted;

    // Redis returns with its data (append-only file), on the same port
    server = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'always'], server.port, server.dir);
    await waitFor('the journaled finalize to land', () => finalized.length >= 1, { timeoutMs: 10_000 });
    expect(finalized).toHaveLength(1);
    await sleep(config.billing.leaseTtlMs + 500); // a window, not a wait: the sweeper's grace passes while owners renew
    expect(swept).toEqual([]);
    for (const legs of fake.legs.slice(1)) legs.uac.emit('destroy');
    await waitFor('the other two calls to be finalized', () => finalized.length >= 3, { timeoutMs: 10_000 });
    expect(finalized).toHaveLength(3);

    // admission works again
    const after = await invite();
    expect(after.admitted).toBe(true);
    if (after.admitted) {
      await engine.finalizeCall({
        accountId: 'acme', callId: after.call.callId, total: 0, cost: 0, tax: 0, billedSec: 0, talkMs: 0, answeredAt: 0, endedAt: Date.now(),
        disposition: 'cancelled', reason: 'test', sipCode: 487,
      });
    }

    const cdrs = (await conn.redis.xRange(keys.cdrs('acme'), '-', '+')).map((e) => e.message);
    const calls = cdrs.filter((c) => c.disposition === 'answered');
    expect(calls).toHaveLength(3);
    // the calls that lived through the outage were billed their whole talk, the outage included
    const survivors = calls.filter((c) => c.reason === 'callee_bye');
    expect(survivors).toHaveLength(2);
    for (const c of survivors) expect(Number(c.talkMs)).toBeGreaterThan(outageMs);
    // and everything at the exact price ($0.60/min on 1/1 = 10,000 micros a billed second)
    for (const c of calls) expect(Number(c.total)).toBe(Number(c.billedSec) * 10_000);
    const acct = decodeAccountHash(await conn.redis.hGetAll(keys.account('acme')));
    const billed = cdrs.reduce((s, c) => s + Number(c.total), 0);
    expect(funds - acct.balance).toBe(billed);
    expect(acct.reserved).toBe(0);
    expect(await conn.redis.hLen(keys.calls('acme'))).toBe(0);
    expect(await conn.redis.zCard(keys.expiry('acme'))).toBe(0);
    // the journal holds nothing pending once everything landed
    expect(existsSync(journal.path)).toBe(true);
    expect(await journal.pending()).toEqual([]);

    await sweeper.stop();
    await directory.stop();
    await journal.close();
  });
});
