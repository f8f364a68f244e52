/**
 * The catalog as admission sees it, against a real Redis (single node and cluster): a catalog an older version
 * left ambiguous is reported (log, /readyz, metric) and the INVITEs it cannot attribute are refused 403 with an
 * "ambiguous" Reason, never billed to a guess; and a crash between the account script and the catalog write is
 * healed by the directory's next reload.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { describeOnRedis } from '../helpers/context.js';
import { createAccountService, settingsFromHash, toAccountPut, type AccountInput, type AccountService } from '../../src/accounts/index.js';
import { createAdmission } from '../../src/admission/admit.js';
import { createDirectory, type Directory } from '../../src/admission/directory.js';
import { createAdminServer } from '../../src/admin/server.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';

const TOKEN = 'catalog-health-token-3be0f1';
let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;
const base: AccountInput = { type: 'prepaid', channels: 5, cps: 50, billingCountry: 'US', deckId: 'std' };

/** A logger that keeps what it was told, to read the start-up report back. */
function recordingLogger() {
  const lines: { level: number; msg: string; ambiguous?: Record<string, string[]> }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describeOnRedis('the catalog admission reads', (ctx) => {
  let svc: AccountService;
  beforeAll(async () => {
    const c = ctx();
    svc = createAccountService({ redis: c.conn.redis, keys: c.keys, engine: c.engine, config: c.config });
    await svc.loadRateDeck('std', 'prefix,rate_per_min,first_increment,next_increment\n44,0.01,6,6\n');
  });

  /** Gives `id` the addresses and prefix an older version would have let it have: the script and the catalog, unchecked. */
  async function writeAsOlderVersion(id: string, ips: string[], techPrefix: string | null = null) {
    const c = ctx();
    const settings = { ...settingsFromHash(await c.conn.redis.hGetAll(c.keys.account(id))), ips, techPrefix };
    const { fields } = toAccountPut(settings, new Date());
    await c.engine.putAccount(id, {}, fields, 'update');
    await c.conn.redis.hSet(c.keys.catalog, id, JSON.stringify({ id, type: 'prepaid', ips, techPrefix, deckId: 'std', taxExempt: false }));
  }

  const invite = (sourceIp: string, ruriUser = '442071234567') => ({
    sipCallId: uniq('sip'), sourceIp, ruriUser, fromUser: '15550001111', toUser: ruriUser, receivedAt: Date.now(),
  });

  describeAmbiguous();
  function describeAmbiguous() {
    let directory: Directory;
    let server: FastifyInstance;
    let metrics: Metrics;
    const recorded = recordingLogger();
    const ids = { alpha: uniq('alpha'), bravo: uniq('bravo'), tagged: uniq('tagged'), alone: uniq('alone') };

    beforeAll(async () => {
      const c = ctx();
      await svc.putAccount(ids.alpha, { ...base, ips: ['192.0.2.50'] }, { mode: 'create' });
      await svc.putAccount(ids.bravo, { ...base, ips: ['192.0.2.51'] }, { mode: 'create' });
      await svc.putAccount(ids.tagged, { ...base, ips: ['192.0.2.52'], techPrefix: '77#' }, { mode: 'create' });
      await svc.putAccount(ids.alone, { ...base, ips: ['192.0.2.53'] }, { mode: 'create' });
      for (const id of Object.values(ids)) await svc.applyFunds(id, '100', uniq('seed'));
      // an older version let bravo and tagged onto alpha's address
      await writeAsOlderVersion(ids.bravo, ['192.0.2.48/30']);
      await writeAsOlderVersion(ids.tagged, ['192.0.2.50'], '77#');
      directory = createDirectory({ redis: c.conn.redis, keys: c.keys, logger: recorded.logger, trustedPeers: [] });
      await directory.start();
      metrics = createMetrics();
      server = createAdminServer({
        config: { ...c.config, admin: { listen: '127.0.0.1:0', token: TOKEN } },
        redis: c.conn.redis, keys: c.keys, engine: c.engine, metrics, logger: pino({ level: 'silent' }),
        health: { isConnected: () => true }, accounts: svc, directory,
      });
      await server.ready();
    });
    afterAll(async () => {
      await server?.close();
      await directory?.stop();
    });

    it('is reported at start-up, in /readyz detail and as a metric', async () => {
      const report = recorded.lines.find((l) => l.msg.startsWith('ambiguous catalog'));
      expect(report?.level).toBe(50);
      expect(report?.ambiguous).toEqual({
        [ids.alpha]: [ids.bravo, ids.tagged].sort(),
        [ids.bravo]: [ids.alpha, ids.tagged].sort(),
        [ids.tagged]: [ids.alpha, ids.bravo].sort(),
      });
      const ready = await server.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(200);
      const catalog = ready.json().checks.catalog;
      expect(catalog.ok).toBe(true);
      expect(catalog.detail).toMatch(/^ambiguous: 3 accounts share source addresses without distinct tech prefixes/);
      expect(catalog.detail).toContain(`${ids.alpha} with `);
      const scraped = await server.inject({ method: 'GET', url: '/metrics' });
      expect(scraped.body).toMatch(/^callgate_catalog_ambiguous_accounts 3$/m);
      // the four accounts are all in the catalog in memory: identification knows them, and refuses only the clashes
      expect(scraped.body).toMatch(/^callgate_catalog_accounts 4$/m);
    });

    it('refuses the INVITEs it cannot attribute with 403 and an "ambiguous" Reason, and bills no one', async () => {
      const c = ctx();
      const admitInvite = createAdmission({ config: c.config, directory, engine: c.engine, logger: pino({ level: 'silent' }) });
      const before = await Promise.all(Object.values(ids).map((id) => c.conn.redis.hGet(c.keys.account(id), 'state')));
      for (const sourceIp of ['192.0.2.50', '::ffff:192.0.2.50']) {
        const d = await admitInvite(invite(sourceIp));
        expect(d.admitted).toBe(false);
        if (d.admitted) continue;
        expect(d.rejection.reason).toBe('ambiguous_account');
        expect(d.rejection.sipStatus).toBe(403);
        expect(d.rejection.reasonHeader).toBe('SIP;cause=403;text="Ambiguous source: several accounts match"');
        expect(d.seed.accountId).toBeNull();
      }
      expect(await Promise.all(Object.values(ids).map((id) => c.conn.redis.hGet(c.keys.account(id), 'state')))).toEqual(before);
      // what a tech prefix tells apart, and an address only one account holds, are still admitted
      const tagged = await admitInvite(invite('192.0.2.50', '77#442071234567'));
      expect(tagged.admitted && tagged.call.account.id).toBe(ids.tagged);
      const alone = await admitInvite(invite('192.0.2.53'));
      expect(alone.admitted && alone.call.account.id).toBe(ids.alone);
      for (const d of [tagged, alone]) {
        if (d.admitted) {
          await c.engine.finalizeCall({
            accountId: d.call.account.id, callId: d.call.callId, total: 0, cost: 0, tax: 0, billedSec: 0, talkMs: 0, answeredAt: 0,
            endedAt: Date.now(), disposition: 'cancelled', reason: 'test', sipCode: 487,
          });
        }
      }
    });

    it('clears once the accounts are told apart', async () => {
      await svc.putAccount(ids.bravo, { ips: ['198.51.100.60'] }, { mode: 'update' });
      await svc.putAccount(ids.tagged, { ips: ['198.51.100.61'] }, { mode: 'update' });
      await directory.reloadAll();
      expect(directory.ambiguity()).toEqual({ accounts: {} });
      expect(recorded.lines.some((l) => l.msg === 'catalog is no longer ambiguous')).toBe(true);
      const ready = await server.inject({ method: 'GET', url: '/readyz' });
      expect(ready.json().checks.catalog).toEqual({ ok: true });
    });
  }

  it('heals a crash between the account script and the catalog write at the next reload', async () => {
    const c = ctx();
    const id = uniq('crash');
    await svc.putAccount(id, { ...base, ips: ['192.0.2.70'] }, { mode: 'create' });
    await svc.applyFunds(id, '10', uniq('seed'));
    const directory = createDirectory({ redis: c.conn.redis, keys: c.keys, logger: pino({ level: 'silent' }), trustedPeers: [], refreshIntervalMs: 60_000 });
    await directory.start();
    try {
      const admitInvite = createAdmission({ config: c.config, directory, engine: c.engine, logger: pino({ level: 'silent' }) });
      // the process died after the account script moved the account to a new address, before the catalog write
      const settings = { ...settingsFromHash(await c.conn.redis.hGetAll(c.keys.account(id))), ips: ['192.0.2.71'] };
      await c.engine.putAccount(id, {}, toAccountPut(settings, new Date()).fields, 'update');
      expect(JSON.parse((await c.conn.redis.hGet(c.keys.catalog, id))!).ips).toEqual(['192.0.2.70']);
      // and another died after its catalog entry, before its account script: an id with no account behind it
      const ghost = uniq('ghost');
      await c.conn.redis.hSet(c.keys.catalog, ghost, JSON.stringify({ id: ghost, type: 'prepaid', ips: ['192.0.2.72'], techPrefix: null, deckId: 'std', taxExempt: false }));

      await directory.reloadAll(); // what the periodic reload does, at the latest refreshIntervalMs later
      expect(JSON.parse((await c.conn.redis.hGet(c.keys.catalog, id))!).ips).toEqual(['192.0.2.71']);
      expect(await c.conn.redis.hExists(c.keys.catalog, ghost)).toBeFalsy();
      expect(directory.account(ghost)).toBeUndefined();
      const moved = await admitInvite(invite('192.0.2.71'));
      expect(moved.admitted && moved.call.account.id).toBe(id);
      const old = await admitInvite(invite('192.0.2.70'));
      expect(!old.admitted && old.rejection.reason).toBe('unknown_account');
      if (moved.admitted) {
        await c.engine.finalizeCall({
          accountId: id, callId: moved.call.callId, total: 0, cost: 0, tax: 0, billedSec: 0, talkMs: 0, answeredAt: 0,
          endedAt: Date.now(), disposition: 'cancelled', reason: 'test', sipCode: 487,
        });
      }
    } finally {
      await directory.stop();
    }
  });

  it('leaves the catalog to an account write under way: a reload never heals while the catalog lock is held', async () => {
    const c = ctx();
    const id = uniq('held');
    await svc.putAccount(id, { ...base, ips: ['192.0.2.80'] }, { mode: 'create' });
    const stale = await c.conn.redis.hGet(c.keys.catalog, id);
    const settings = { ...settingsFromHash(await c.conn.redis.hGetAll(c.keys.account(id))), ips: ['192.0.2.81'] };
    await c.engine.putAccount(id, {}, toAccountPut(settings, new Date()).fields, 'update');
    await c.conn.redis.set(c.keys.catalogLock, 'another-writer', { expiration: { type: 'PX', value: 5000 } });
    const directory = createDirectory({ redis: c.conn.redis, keys: c.keys, logger: pino({ level: 'silent' }), trustedPeers: [] });
    try {
      await directory.start();
      // identification follows the account at once; the stored entry is the lock holder's to write
      expect(directory.account(id)?.ips).toEqual(['192.0.2.81']);
      expect(await c.conn.redis.hGet(c.keys.catalog, id)).toBe(stale);
      await c.conn.redis.del(c.keys.catalogLock);
      await directory.reloadAll();
      expect(JSON.parse((await c.conn.redis.hGet(c.keys.catalog, id))!).ips).toEqual(['192.0.2.81']);
    } finally {
      await directory.stop();
    }
  });
});
