/**
 * Shutdown during a Redis outage (issue 12, item 7), through the core (createCallgate) with only the SIP
 * side faked: one call ends by BYE while Redis is down and one is still up at the drain deadline. drain()
 * and stop() return although no finalize can land; both finalizes are in the usage journal; a new start
 * on the same journal bills each exactly once when Redis is back.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { startRedisServer, type RedisServer } from '../helpers/redis-servers.js';
import { FakeRequest, FakeResponse, answerAfter, createFakeSrf } from '../helpers/fake-sip.js';
import { waitFor } from '../helpers/wait.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { createKeys } from '../../src/redis/keys.js';
import { createEngine } from '../../src/redis/engine.js';
import { createAccountService } from '../../src/accounts/service.js';
import { createUsageJournal } from '../../src/calls/journal.js';
import { createCallgate } from '../../src/sip/callgate.js';
import type { SrfRequest, SrfResponse } from '../../src/sip/srf-augment.js';
import { decodeAccountHash } from '../../src/redis/codecs/account-hash.js';

const logger = pino({ level: 'silent' });
const AOF = ['--appendonly', 'yes', '--appendfsync', 'always'];

/** An INVITE as the admission middleware reads it. */
class FakeInvite extends FakeRequest {
  uri = 'sip:4420@callgate';
  source_address = '10.1.1.1';
  constructor(private readonly callId: string) {
    super();
  }
  get(name: string): string | undefined {
    return name === 'Call-ID' ? this.callId : undefined;
  }
  has(): boolean {
    return false;
  }
  getParsedHeader() {
    return { uri: 'sip:alice@10.1.1.1' };
  }
}

/** Every CDR line in the daily JSONL files under `dir`. */
function jsonlCdrs(dir: string): { call_id: string; total: number; reason: string }[] {
  const out: { call_id: string; total: number; reason: string }[] = [];
  for (const day of readdirSync(dir, { withFileTypes: true })) {
    if (!day.isDirectory() || day.name === 'journal') continue;
    for (const f of readdirSync(join(dir, day.name))) {
      if (!f.endsWith('.jsonl')) continue;
      for (const line of readFileSync(join(dir, day.name, f), 'utf8').split('\n')) if (line.trim()) out.push(JSON.parse(line));
    }
  }
  return out;
}

/** Resolves with what `p` gives, or fails saying what did not return within `ms`. */
async function returnsWithin<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not return within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('fault: shutdown during a Redis outage', () => {
  let server: RedisServer;
  const conns: RedisConnection[] = [];
  const cdrDir = mkdtempSync(join(tmpdir(), 'callgate-shutdown-outage-'));

  beforeAll(async () => {
    server = await startRedisServer(AOF);
  });
  afterAll(async () => {
    for (const c of conns) await c.close().catch(() => {});
    await server?.stop();
  });

  const configFor = (url: string): Config =>
    loadConfig({
      env: { NODE_ENV: 'test' },
      overrides: {
        redis: { url, keyPrefix: 'shut:', commandTimeoutMs: 200, operationTimeoutMs: 300 },
        billing: { tickIntervalMs: 150, leaseTtlMs: 5_000, reservationSeconds: 2 },
        sip: { drainTimeoutMs: 1_000 },
        routeUris: ['sip:switch'],
        cdr: { dir: cdrDir },
      },
    });

  it('drain and stop return with the finalizes journaled, and the next start bills each once', { timeout: 60_000 }, async () => {
    const config = configFor(server.url);
    const conn = await connectRedis(config);
    conns.push(conn);
    const keys = createKeys(config.redis.keyPrefix);
    const engine = createEngine({ redis: conn.redis, keys, switchId: config.switchId, leaseTtlMs: config.billing.leaseTtlMs });
    const accounts = createAccountService({ redis: conn.redis, keys, engine, config });
    await accounts.loadRateDeck('d1', 'prefix,rate_per_min,first_increment,next_increment\n44,0.60,1,1\n');
    await accounts.putAccount('acme', { type: 'prepaid', channels: 10, cps: 100, billingCountry: 'GB', deckId: 'd1', ips: ['10.1.1.1'] }, { mode: 'create' });
    await accounts.applyFunds('acme', '100', 'seed');
    const funds = 100_000_000;

    const fake = createFakeSrf();
    fake.play(answerAfter(1));
    const gate = createCallgate({ srf: fake.srf, redis: conn.redis, config, logger });
    await gate.start();
    const callIds: string[] = [];
    for (const sipCallId of ['bye-in-outage', 'up-at-deadline']) {
      const req = new FakeInvite(sipCallId);
      const res = new FakeResponse();
      await new Promise<void>((resolve, reject) => {
        gate.admission(req as unknown as SrfRequest, res as unknown as SrfResponse, () => resolve());
        setTimeout(() => reject(new Error(`INVITE ${sipCallId} was not admitted (responses: ${res.sent.join(',')})`)), 3_000);
      });
      callIds.push((req.locals.callgate as { callId: string }).callId);
      gate.bridge(req as unknown as SrfRequest, res as unknown as SrfResponse);
    }
    await waitFor('both calls to be answered', () => fake.legs.length === 2 && gate.parts.registry.all().every((s) => s.answered));
    await waitFor('a tick to commit talk time', async () => decodeAccountHash(await conn.redis.hGetAll(keys.account('acme'))).balance < funds);

    await server.stop('SIGTERM', { keepData: true });
    fake.legs[0]!.uas.emit('destroy'); // the caller of the first call hangs up during the outage

    const journal = createUsageJournal({ dir: join(cdrDir, 'journal'), switchId: config.switchId, logger });
    await waitFor('the BYE call to be journaled', async () => (await journal.pending()).some((r) => r.callId === callIds[0]), {
      timeoutMs: config.redis.operationTimeoutMs + 5_000,
    });

    // generous: the drain timeout, then one Redis operation deadline per finalize, and slack for a loaded host
    const bound = config.sip.drainTimeoutMs + config.redis.operationTimeoutMs + 10_000;
    await returnsWithin('drain() during the outage', gate.drain(), bound);
    await returnsWithin('stop() during the outage', gate.stop(), 5_000);
    expect(gate.parts.registry.size()).toBe(0);
    const pending = await journal.pending();
    expect(pending.map((r) => r.callId).sort()).toEqual([...callIds].sort());
    expect(pending.find((r) => r.callId === callIds[1])?.reason).toBe('shutdown');

    // Redis returns with its data; a new process starts on the same CDR folder and replays the journal
    server = await startRedisServer(AOF, server.port, server.dir);
    const conn2 = await connectRedis(config);
    conns.push(conn2);
    const next = createCallgate({ srf: createFakeSrf().srf, redis: conn2.redis, config, logger });
    await next.start();
    await waitFor('both replayed calls in the CDR files', () => callIds.every((id) => jsonlCdrs(cdrDir).some((c) => c.call_id === id)), {
      timeoutMs: 10_000,
    });
    await next.stop();
    const cdrs = jsonlCdrs(cdrDir);
    for (const id of callIds) expect(cdrs.filter((c) => c.call_id === id)).toHaveLength(1);
    expect(await journal.pending()).toEqual([]);
    const acct = decodeAccountHash(await conn2.redis.hGetAll(keys.account('acme')));
    expect(funds - acct.balance).toBe(cdrs.reduce((s, c) => s + c.total, 0));
    expect(acct.reserved).toBe(0);
    expect(await conn2.redis.hLen(keys.calls('acme'))).toBe(0);

    // another restart replays nothing: no second CDR, no second charge
    const again = createCallgate({ srf: createFakeSrf().srf, redis: conn2.redis, config, logger });
    await again.start();
    await again.stop();
    expect(jsonlCdrs(cdrDir)).toHaveLength(cdrs.length);
    expect(decodeAccountHash(await conn2.redis.hGetAll(keys.account('acme'))).balance).toBe(acct.balance);
    await journal.close();
  });
});
