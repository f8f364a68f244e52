/**
 * One operation against the account service: connects to Redis for it (giving up after a deadline) and
 * always closes the connection, so the process exits promptly.
 */
import { createAccountService, type AccountService } from '../accounts/index.js';
import type { Config } from '../config/index.js';
import { connectRedis, type RedisConnection } from '../redis/client.js';
import { createEngine } from '../redis/engine.js';
import { createKeys } from '../redis/keys.js';
import type { CliDeps } from './context.js';
import { RedisUnavailableError } from './errors.js';

export function createServiceRunner(deps: CliDeps, config: () => Config) {
  let lastRedisError: Error | undefined;
  const connect = deps.connect ?? ((c: Config) => connectRedis(c, (e) => (lastRedisError = e)));
  const connectTimeoutMs = deps.connectTimeoutMs ?? 5000;

  async function withService<T>(fn: (service: AccountService) => Promise<T>): Promise<T> {
    const cfg = config();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          const why = lastRedisError ? `: ${lastRedisError.message || lastRedisError.name}` : '';
          reject(new RedisUnavailableError(`cannot reach Redis (${describeRedis(cfg)}) within ${connectTimeoutMs} ms${why}`));
        },
        connectTimeoutMs,
      );
    });
    const connecting = connect(cfg);
    let conn: RedisConnection;
    try {
      conn = await Promise.race([connecting, timeout]);
    } catch (err) {
      // a connection that arrives after the deadline is closed at once
      void connecting.then((c) => c.close()).catch(() => {});
      if (err instanceof RedisUnavailableError) throw err;
      throw new RedisUnavailableError(`cannot reach Redis (${describeRedis(cfg)}): ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    try {
      const keys = createKeys(cfg.redis.keyPrefix);
      const engine = createEngine({ redis: conn.redis, keys, switchId: cfg.switchId, leaseTtlMs: cfg.billing.leaseTtlMs });
      return await fn(createAccountService({ redis: conn.redis, keys, engine, config: cfg }));
    } finally {
      await conn.close();
    }
  }

  return withService;
}

function describeRedis(config: Config): string {
  return config.redis.clusterNodes.length > 0 ? `cluster ${config.redis.clusterNodes.join(',')}` : config.redis.url.replace(/\/\/[^@/]*@/, '//');
}
