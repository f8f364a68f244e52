import { pino } from 'pino';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createAdminServer, listenAdmin, type AdminServerDeps } from '../../src/admin/server.js';
import type { TestContext } from './context.js';

/**
 * The admin API of a test context, listening on a free loopback port with a bearer token: what every admin
 * test starts the same way. `extra` carries what a suite varies (metrics, clock, registry, health).
 */
export async function startTestAdmin(
  c: TestContext,
  token: string,
  extra: Partial<Omit<AdminServerDeps, 'config' | 'redis' | 'keys' | 'engine'>> = {},
) {
  const admin = { listen: '127.0.0.1:0', token };
  const server = createAdminServer({
    config: { ...c.config, admin },
    redis: c.conn.redis,
    keys: c.keys,
    engine: c.engine,
    metrics: createMetrics(),
    logger: pino({ level: 'silent' }),
    health: { isConnected: () => true },
    ...extra,
  });
  const address = await listenAdmin(server, admin);
  return { server, url: address.url, port: address.port };
}
