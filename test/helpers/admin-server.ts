import { pino } from 'pino';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createAdminServer, listenAdmin, type AdminServerDeps } from '../../src/admin/server.js';
import type { TestContext } from './context.js';

/** What a suite varies of its admin API (metrics, clock, registry, health, the account service). */
type Extra = Partial<Omit<AdminServerDeps, 'config' | 'redis' | 'keys' | 'engine'>>;

/** The admin API of a test context, ready for `inject` and not listening. */
export async function createTestAdmin(c: TestContext, token: string, extra: Extra = {}) {
  const server = buildAdmin(c, token, extra);
  await server.ready();
  return server;
}

function buildAdmin(c: TestContext, token: string, extra: Extra) {
  return createAdminServer({
    config: { ...c.config, admin: { listen: '127.0.0.1:0', token } },
    redis: c.conn.redis,
    keys: c.keys,
    engine: c.engine,
    metrics: createMetrics(),
    logger: pino({ level: 'silent' }),
    health: { isConnected: () => true },
    ...extra,
  });
}

/**
 * The admin API of a test context, listening on a free loopback port with a bearer token: what every admin
 * test starts the same way.
 */
export async function startTestAdmin(c: TestContext, token: string, extra: Extra = {}) {
  const admin = { listen: '127.0.0.1:0', token };
  const server = buildAdmin(c, token, extra);
  const address = await listenAdmin(server, admin);
  return { server, url: address.url, port: address.port };
}
