/** The soak's own Redis, and the account service the soak sets accounts up and tops them up through. */
import { randomBytes } from 'node:crypto';
import { startRedisServer, type RedisServer } from '../../test/helpers/redis-servers.js';
import { loadConfig } from '../../src/config/index.js';
import { connectRedis, type Redis } from '../../src/redis/client.js';
import { createKeys, type Keys } from '../../src/redis/keys.js';
import { createEngine } from '../../src/redis/engine.js';
import { createAccountService, type AccountService } from '../../src/accounts/service.js';
import { TIMING } from './options.js';

export interface SoakRedis {
  server: RedisServer;
  prefix: string;
  r: Redis;
  keys: Keys;
  accounts: AccountService;
}

/** Starts redis-server on loopback and connects to it; every stop is pushed on `stops`. */
export async function startSoakRedis(stops: (() => Promise<void>)[]): Promise<SoakRedis> {
  const server = await startRedisServer();
  stops.push(() => server.stop());
  const prefix = `soak${randomBytes(3).toString('hex')}:`;
  const config = loadConfig({ env: {}, overrides: { redis: { url: server.url, keyPrefix: prefix } } });
  const conn = await connectRedis(config);
  stops.push(() => conn.close());
  const r = conn.redis;
  const keys = createKeys(prefix);
  const engine = createEngine({ redis: r, keys, switchId: 'soak-admin', leaseTtlMs: TIMING.leaseTtlMs });
  const accounts = createAccountService({ redis: r, keys, engine, config });
  return { server, prefix, r, keys, accounts };
}
