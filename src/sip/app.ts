import type { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import Srf from 'drachtio-srf';
import type { Config } from '../config/schema.js';
import type { TestHooks } from '../config/load.js';
import { forcedLevelSignals } from '../admission/overload.js';
import { createRootLogger, type Logger } from '../logger.js';
import { connectRedis, type RedisConnection } from '../redis/client.js';
import { checkAdminBind, createAdminServer, listenAdmin } from '../admin/server.js';
import { createCallgate } from './callgate.js';
import { createLinkWarnings } from './link-warnings.js';

/**
 * `callgate serve`: the core (createCallgate) mounted on an Srf of its own, plus the Redis connection, the
 * admin API and the drachtio connection. A carrier's own drachtio application mounts the core the same way.
 */
export async function startCallgate(config: Config, logger: Logger = createRootLogger(config), hooks: TestHooks = {}) {
  checkAdminBind(config.admin); // a refused admin address fails the start before anything is opened
  const conn: RedisConnection = await connectRedis(config, (err) => logger.warn({ err: err.message }, 'redis client error'));
  const srf = new Srf();
  const { overloadLevelFile } = hooks;
  const loadSignals = overloadLevelFile === undefined
    ? undefined
    : forcedLevelSignals(() => {
      try {
        return Number(readFileSync(overloadLevelFile, 'utf8').trim());
      } catch {
        return 0;
      }
    }, config.overload);
  if (overloadLevelFile !== undefined) logger.warn({ file: overloadLevelFile }, 'test hook: the overload guard reads its level from a file');
  const core = createCallgate({ srf, redis: conn.redis, config, logger, loadSignals });
  const { metrics } = core;
  const { keys, engine, directory, registry, cdrWriter } = core.parts;
  srf.use('invite', core.admission);
  srf.invite(core.bridge);
  await core.start();

  let connected = false;
  const linkWarnings = createLinkWarnings({ logger, onFailure: () => metrics.drachtioConnectFailures.inc() });
  srf.on('connect', (err: Error | null, hostport: string) => {
    if (err) {
      logger.error({ err: err.message }, 'drachtio-server refused the connection');
      return;
    }
    linkWarnings.connected();
    connected = true;
    metrics.drachtioConnected.set(1);
    logger.info({ hostport }, 'connected to drachtio-server');
  });
  // while drachtio-server is away every reconnect attempt fails: warned at the first, then once a minute
  srf.on('error', (err: Error) => linkWarnings.failed(err));
  const link: EventEmitter = srf; // drachtio-srf's typed events leave out 'close', which its agent emits
  link.on('close', () => {
    if (connected) logger.warn('drachtio link lost: live calls can no longer be followed; finalizing them');
    connected = false;
    metrics.drachtioConnected.set(0);
    // drachtio-server issue #432: once the link drops, in-dialog BYEs never reach this app
    void core.linkLost();
  });

  // the admin HTTP API (src/admin), built over the core's parts, listening before SIP starts
  const admin = createAdminServer({
    config, redis: conn.redis, keys, engine, metrics, logger, registry, directory,
    health: { isConnected: () => connected, isDraining: () => core.isDraining(), cdrWriter },
  });
  const adminAddress = await listenAdmin(admin, config.admin).catch(async (err: unknown) => {
    // the port is taken or refused: stop what was started, and fail the start
    await core.stop();
    await conn.close();
    throw err;
  });
  logger.info({ url: adminAddress.url }, 'admin API listening');

  // retries back off, but never past 2 s: after an outage drachtio-server must not wait long for its app
  srf.connect({
    host: config.drachtio.host, port: config.drachtio.port, secret: config.drachtio.secret, reconnect: { retryMaxDelay: 2000 },
  });

  return {
    srf, conn, core, metrics, logger, admin, adminAddress,
    isConnected: () => connected,
    /** SIGTERM: refuse new INVITEs with 503, let live calls finish up to the drain timeout, then finalize the rest. */
    async drainAndStop(): Promise<void> {
      await core.drain();
      await admin.close();
      await core.stop();
      if (connected) srf.disconnect();
      await conn.close();
    },
  };
}

export type CallgateApp = Awaited<ReturnType<typeof startCallgate>>;
