/**
 * Hostile SIP values reaching callgate: From, To, Request-URI user, tech prefix, trusted header, huge and
 * unicode values, key-injection attempts. Seeded, 10,000 cases per Redis target. No crash, no key outside
 * an account's slot, and no state change on refusal.
 */
import { expect, it } from 'vitest';
import { pino } from 'pino';
import { describeOnRedis } from '../helpers/context.js';
import { createPrng, hostileString } from '../helpers/prng.js';
import { createAccountService } from '../../src/accounts/service.js';
import { createDirectory } from '../../src/admission/directory.js';
import { createAdmission } from '../../src/admission/admit.js';
import { userOf } from '../../src/sip/middleware.js';
import { decodeAccountHash } from '../../src/redis/codecs/account-hash.js';
import type { Redis } from '../../src/redis/client.js';

const CASES = 10_000;
const logger = pino({ level: 'silent' });

async function allKeys(redis: Redis, prefix: string, isCluster: boolean): Promise<string[]> {
  const keys: string[] = [];
  const nodes = isCluster
    ? (redis as unknown as { masters: { client?: unknown }[]; nodeClient(n: unknown): Promise<Redis> }).masters
    : [null];
  for (const node of nodes) {
    const client = node === null ? redis : await (redis as unknown as { nodeClient(n: unknown): Promise<Redis> }).nodeClient(node);
    for await (const batch of (client as unknown as { scanIterator(o: object): AsyncIterable<string[]> }).scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      keys.push(...batch);
    }
  }
  return keys;
}

describeOnRedis('fuzz: hostile SIP values', (ctx) => {
  it('userOf never throws on hostile URIs', () => {
    const r = createPrng(7);
    for (let i = 0; i < CASES; i++) {
      const uri = r.pick(['sip:', 'sips:', 'tel:', '', 'sip:%', '<sip:']) + hostileString(r) + r.pick(['@', '@@', '']) + hostileString(r);
      expect(typeof userOf(uri)).toBe('string');
    }
  });

  it('identifies, prices and admits only what it should; every key stays in its account slot', { timeout: 180_000 }, async () => {
    const c = ctx();
    const prefix = c.config.redis.keyPrefix;
    const accounts = createAccountService({ redis: c.conn.redis, keys: c.keys, engine: c.engine, config: c.config });
    await accounts.loadRateDeck('d1', 'prefix,rate_per_min,first_increment,next_increment\n44,0.01,6,6\n1,0.005,60,60\n');
    const base = { type: 'prepaid', channels: 100_000, cps: 10_000, billingCountry: 'US', deckId: 'd1' };
    await accounts.putAccount('victim', { ...base, ips: ['10.9.9.9'], techPrefix: '1001#' }, { mode: 'create' });
    await accounts.putAccount('acme', { ...base, ips: ['10.1.1.1', '10.2.0.0/16'] }, { mode: 'create' });
    await accounts.applyFunds('victim', '1000', 'seed');
    await accounts.applyFunds('acme', '1000', 'seed');
    const before = {
      victim: decodeAccountHash(await c.conn.redis.hGetAll(c.keys.account('victim'))),
      acme: decodeAccountHash(await c.conn.redis.hGetAll(c.keys.account('acme'))),
    };

    const directory = createDirectory({ redis: c.conn.redis, keys: c.keys, logger, trustedPeers: ['10.7.7.7'] });
    await directory.start();
    try {
      const admitInvite = createAdmission({ config: c.config, directory, engine: c.engine, logger });
      const r = createPrng(20261128);
      const admitted: { accountId: string; callId: string }[] = [];
      const outcomes = new Map<string, number>();
      for (let i = 0; i < CASES; i++) {
        const sourceIp = r.pick(['10.9.9.9', '10.1.1.1', '10.2.3.4', '10.7.7.7', '::ffff:10.1.1.1', hostileString(r)]);
        const ruriUser = r.pick(['', '1001#', '1001%23']) + r.pick(['44', '1', '', '+44']) + hostileString(r);
        const trustedAccountId = r.next() < 0.3 ? r.pick(['victim', 'acme', '{a:victim}', 'victim}:x', '*', hostileString(r)]) : undefined;
        const decision = await admitInvite({
          sipCallId: hostileString(r), sourceIp, ruriUser, fromUser: hostileString(r), toUser: hostileString(r), trustedAccountId,
          receivedAt: Date.now(),
        });
        const key = decision.admitted ? 'admitted' : decision.rejection.reason;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        if (decision.admitted) {
          const { call } = decision;
          // whatever arrived, what is stored is bounded and parses back
          expect(JSON.stringify(call.seed).length).toBeLessThan(2_000);
          expect(call.destination).toMatch(/^\+?\d+/);
          admitted.push({ accountId: call.account.id, callId: call.callId });
        }
      }
      // the fuzz reached every branch, not only the cheap refusals
      expect(outcomes.get('admitted')).toBeGreaterThan(100);
      expect(outcomes.get('unknown_account')).toBeGreaterThan(100);
      expect(outcomes.get('no_rate')).toBeGreaterThan(100);

      for (const a of admitted) {
        const f = await c.engine.finalizeCall({
          accountId: a.accountId, callId: a.callId, total: 0, cost: 0, tax: 0, billedSec: 0, talkMs: 0, answeredAt: 0, endedAt: Date.now(),
          disposition: 'cancelled', reason: 'fuzz', sipCode: 487,
        });
        expect(f.outcome).toBe('finalized');
      }
      for (const id of ['victim', 'acme'] as const) {
        const now = decodeAccountHash(await c.conn.redis.hGetAll(c.keys.account(id)));
        expect([now.balance, now.reserved, now.status]).toEqual([before[id].balance, 0, before[id].status]);
        expect(await c.conn.redis.xLen(c.keys.cdrs(id))).toBe(admitted.filter((a) => a.accountId === id).length);
      }
      const allowed = new RegExp(
        `^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\{a:(victim|acme)\\}:(acct|leases:[A-Za-z0-9_.-]+|calls|expiry|cdrs|events|payments|payments:at)|\\{catalog\\}:(accounts|decks)|\\{deck:d1\\}:rates)$`,
      );
      const keys = await allKeys(c.conn.redis, prefix, c.conn.isCluster);
      expect(keys.length).toBeGreaterThan(5);
      expect(keys.filter((k) => !allowed.test(k))).toEqual([]);
    } finally {
      await directory.stop();
    }
  });
});
