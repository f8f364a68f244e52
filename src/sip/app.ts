import { join } from 'node:path';
import Srf from 'drachtio-srf';
import type { Config } from '../config/schema.js';
import { createRootLogger, type Logger } from '../logger.js';
import { connectRedis, type RedisConnection } from '../redis/client.js';
import { createKeys } from '../redis/keys.js';
import { createChangeBus } from '../redis/change-bus.js';
import { createEngine } from '../redis/engine.js';
import { createDirectory } from '../admission/directory.js';
import { createAdmission } from '../admission/admit.js';
import { createCallRegistry } from '../calls/registry.js';
import { createSweeper } from '../calls/sweeper.js';
import { createUsageJournal } from '../calls/journal.js';
import { createCdrFiles } from '../cdr/files.js';
import { createCdrWriter } from '../cdr/writer.js';
import { createMetrics } from '../metrics/metrics.js';
import { createDispatcher } from '../notify/dispatcher.js';
import { checkAdminBind, createAdminServer, listenAdmin } from '../admin/server.js';
import { admissionControl, sipErrorHandler } from './middleware.js';
import { createBridge } from './bridge.js';
import type { SrfRequest, SrfResponse } from './srf-augment.js';

/**
 * callgate as a drachtio-srf application: one Redis connection, the in-memory directory, the admission
 * middleware, the B2BUA bridge, the sweeper and the CDR writer, wired together.
 */
export async function startCallgate(config: Config, logger: Logger = createRootLogger(config)) {
  checkAdminBind(config.admin); // a refused admin address fails the start before anything is opened
  const conn: RedisConnection = await connectRedis(config, (err) => logger.warn({ err: err.message }, 'redis client error'));
  const keys = createKeys(config.redis.keyPrefix);
  const metrics = createMetrics();
  const engine = createEngine({
    redis: conn.redis, keys, switchId: config.switchId, leaseTtlMs: config.billing.leaseTtlMs,
    observeScript: (script, seconds) => metrics.scriptSeconds.labels(script).observe(seconds),
  });
  // the instance's one subscriber on the change channel, shared by the directory, the registry and the dispatcher
  const changes = createChangeBus({ redis: conn.redis, keys, logger });
  const directory = createDirectory({ redis: conn.redis, keys, logger, trustedPeers: config.identification.trustedPeers, changes });
  await directory.start();
  const files = createCdrFiles({ dir: config.cdr.dir, switchId: config.switchId, logger });
  const cdrWriter = createCdrWriter({
    redis: conn.redis, keys, files, switchId: config.switchId, listAccounts: () => directory.accountIds(), logger,
  });
  await cdrWriter.start({ recoverIntervalMs: 60_000 });
  // finalizes journaled during an earlier Redis outage, if that run ended before they landed
  const journal = createUsageJournal({ dir: join(config.cdr.dir, 'journal'), switchId: config.switchId, logger });
  for (const { accountId, cdrEntryId } of await journal.replay(engine)) cdrWriter.submit(accountId, [cdrEntryId]);
  const registry = createCallRegistry();
  changes.listen(({ kind, id }) => {
    if (kind === 'off' || kind === 'funds') void registry.handleSignal({ kind, accountId: id });
  });
  const sweeper = createSweeper({
    redis: conn.redis, keys, engine, logger, accountIds: () => directory.accountIds(), intervalMs: config.sweeper.intervalMs,
    resumeGraceMs: config.billing.leaseTtlMs,
    onSwept: (accountId, ids) => {
      metrics.swept.inc(ids.length);
      cdrWriter.submit(accountId, ids);
    },
  });
  sweeper.start();

  const admitInvite = createAdmission({ config, directory, engine, logger });
  let draining = false;
  const srf = new Srf();
  srf.use(
    'invite',
    admissionControl({
      admitInvite, config, logger, metrics, isDraining: () => draining,
      recordRejection: (attempt) => cdrWriter.recordRejection(attempt),
    }) as Parameters<Srf['use']>[1],
  );
  const bridge = createBridge({
    srf, routeUris: config.routeUris, registry, logger, metrics,
    session: {
      engine, config, logger, journal,
      onFinalized: (accountId, entryId) => cdrWriter.submit(accountId, [entryId]),
      // every end of every call is counted here, once, under the labels CALL_END_RULES gives it
      onEnded: (_end, outcome) => {
        metrics.callsEnded.labels(outcome.disposition).inc();
        if (outcome.teardown) metrics.teardowns.labels(outcome.teardown).inc();
      },
      onTick: (outcome) => metrics.ticks.labels(outcome).inc(),
    },
  });
  srf.invite(((req: SrfRequest, res: SrfResponse) => {
    bridge(req, res).catch((err) => {
      logger.error({ err }, 'bridge failed');
      if (!res.finalResponseSent) res.send(500);
    });
  }) as unknown as Parameters<Srf['invite']>[0]);
  (srf.use as unknown as (h: unknown) => void)(sipErrorHandler(logger, config.sip));

  let connected = false;
  srf.on('connect', (err: Error | null, hostport: string) => {
    if (err) {
      logger.error({ err: err.message }, 'drachtio-server refused the connection');
      return;
    }
    connected = true;
    metrics.drachtioConnected.set(1);
    logger.info({ hostport }, 'connected to drachtio-server');
  });
  srf.on('error', (err: Error) => logger.warn({ err: err.message }, 'drachtio link error'));
  (srf as unknown as NodeJS.EventEmitter).on('close', () => {
    if (connected) logger.warn('drachtio link lost: live calls can no longer be followed; finalizing them');
    connected = false;
    metrics.drachtioConnected.set(0);
    // drachtio-server issue #432: once the link drops, in-dialog BYEs never reach this app
    void registry.endAll({ kind: 'link_lost' });
  });

  // --- admin HTTP API (src/admin): built over the parts above, listening before SIP starts, closed in drainAndStop ---
  const admin = createAdminServer({
    config, redis: conn.redis, keys, engine, metrics, logger, registry, directory,
    health: { isConnected: () => connected, isDraining: () => draining, cdrWriter },
  });
  const adminAddress = await listenAdmin(admin, config.admin).catch(async (err: unknown) => {
    // the port is taken or refused: stop what was started, and fail the start
    await sweeper.stop();
    await cdrWriter.stop();
    await journal.close();
    await directory.stop();
    await changes.stop();
    await conn.close();
    throw err;
  });
  logger.info({ url: adminAddress.url }, 'admin API listening');
  // --- end admin ---

  // --- webhook notifications (src/notify): started only when webhooks are configured; until then events wait in Redis ---
  const dispatcher = config.notify.webhooks.length > 0
    ? createDispatcher({
      redis: conn.redis, keys, config: config.notify, logger, metrics, accountIds: () => directory.accountIds(), consumerId: config.switchId, changes,
    })
    : undefined;
  // admission does not depend on notifications: a failed start is logged, and the events wait in Redis
  await dispatcher?.start().catch((err: unknown) => logger.error({ err }, 'webhook dispatcher failed to start'));
  // --- end notify ---

  // retries back off, but never past 2 s: after an outage drachtio-server must not wait long for its app
  srf.connect({
    host: config.drachtio.host, port: config.drachtio.port, secret: config.drachtio.secret, reconnect: { retryMaxDelay: 2000 },
  } as Parameters<Srf['connect']>[0]);

  return {
    srf, conn, keys, engine, directory, registry, sweeper, cdrWriter, metrics, logger, admin, adminAddress,
    dispatcher,
    isConnected: () => connected,
    isDraining: () => draining,
    /** SIGTERM: refuse new INVITEs with 503, let live calls finish up to the drain timeout, then finalize the rest. */
    async drainAndStop(): Promise<void> {
      draining = true;
      metrics.draining.set(1);
      const deadline = Date.now() + config.sip.drainTimeoutMs;
      while (registry.size() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      if (registry.size() > 0) {
        logger.warn({ calls: registry.size() }, 'drain timeout: ending the remaining calls');
        await registry.hangUpAll({ kind: 'shutdown' });
      }
      await admin.close();
      await sweeper.stop();
      await cdrWriter.stop();
      await journal.close();
      await dispatcher?.stop(); // notify: unacknowledged events stay in Redis
      await directory.stop();
      await changes.stop();
      if (connected) srf.disconnect();
      await conn.close();
    },
  };
}

export type CallgateApp = Awaited<ReturnType<typeof startCallgate>>;
