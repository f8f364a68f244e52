import Srf from 'drachtio-srf';
import type { Config } from '../config/schema.js';
import { createRootLogger, type Logger } from '../logger.js';
import { connectRedis, type RedisConnection } from '../redis/client.js';
import { createKeys } from '../redis/keys.js';
import { createEngine } from '../redis/engine.js';
import { createDirectory } from '../admission/directory.js';
import { createAdmission } from '../admission/admit.js';
import { createCallRegistry } from '../calls/registry.js';
import { createSweeper } from '../calls/sweeper.js';
import { createCdrFiles } from '../cdr/files.js';
import { createCdrWriter } from '../cdr/writer.js';
import { createMetrics } from '../admin/metrics.js';
import { admissionControl, sipErrorHandler } from './middleware.js';
import { createBridge } from './bridge.js';
import type { SrfRequest, SrfResponse } from './srf-augment.js';

/**
 * callgate as a drachtio-srf application: one Redis connection, the in-memory directory, the admission
 * middleware, the B2BUA bridge, the sweeper and the CDR writer, wired together.
 */
export async function startCallgate(config: Config, logger: Logger = createRootLogger(config)) {
  const conn: RedisConnection = await connectRedis(config, (err) => logger.warn({ err: err.message }, 'redis client error'));
  const keys = createKeys(config.redis.keyPrefix);
  const engine = createEngine({ redis: conn.redis, keys, switchId: config.switchId, leaseTtlMs: config.billing.leaseTtlMs });
  const metrics = createMetrics();
  const directory = createDirectory({ redis: conn.redis, keys, logger, trustedPeers: config.identification.trustedPeers });
  await directory.start();
  const files = createCdrFiles({ dir: config.cdr.dir, switchId: config.switchId, logger });
  const cdrWriter = createCdrWriter({
    redis: conn.redis, keys, files, switchId: config.switchId, listAccounts: () => directory.accountIds(), logger,
  });
  await cdrWriter.start({ recoverIntervalMs: 60_000 });
  const registry = createCallRegistry();
  directory.onAccountSignal((signal) => void registry.handleSignal(signal));
  const sweeper = createSweeper({
    redis: conn.redis, keys, engine, logger, accountIds: () => directory.accountIds(), intervalMs: config.sweeper.intervalMs,
    onSwept: (accountId, ids) => {
      metrics.swept.inc(ids.length);
      cdrWriter.submit(accountId, ids);
    },
  });
  sweeper.start();

  const admitInvite = createAdmission({
    config, directory, engine, logger,
    observe: (_outcome, seconds) => metrics.scriptSeconds.labels('admit').observe(seconds),
  });
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
      engine, config, logger,
      onFinalized: (accountId, entryId) => cdrWriter.submit(accountId, [entryId]),
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
  srf.connect({ host: config.drachtio.host, port: config.drachtio.port, secret: config.drachtio.secret });

  return {
    srf, conn, keys, engine, directory, registry, sweeper, cdrWriter, metrics, logger,
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
        await registry.hangUpAll({ kind: 'shutdown' }, { cause: 503, text: 'Switch shutting down' });
      }
      await sweeper.stop();
      await cdrWriter.stop();
      await directory.stop();
      srf.disconnect();
      await conn.close();
    },
  };
}

export type CallgateApp = Awaited<ReturnType<typeof startCallgate>>;
