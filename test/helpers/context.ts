import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config/index.js';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { createKeys, type Keys } from '../../src/redis/keys.js';
import { createEngine, type Engine } from '../../src/redis/engine.js';

export type RedisTarget = 'single' | 'cluster';

export interface TestContext {
  target: RedisTarget;
  config: Config;
  conn: RedisConnection;
  keys: Keys;
  engine: Engine;
}

export function testConfig(target: RedisTarget, overrides: Record<string, unknown> = {}): Config {
  const prefix = `t${randomBytes(4).toString('hex')}:`;
  const redis =
    target === 'cluster'
      ? { url: 'redis://127.0.0.1:1', clusterNodes: inject('clusterNodes'), keyPrefix: prefix }
      : { url: inject('redisUrl'), clusterNodes: [], keyPrefix: prefix };
  const { redis: redisOverride, ...rest } = overrides as { redis?: Record<string, unknown> };
  return loadConfig({ env: { NODE_ENV: 'test' }, overrides: { ...rest, redis: { ...redis, ...(redisOverride ?? {}) } } });
}

export async function createTestContext(target: RedisTarget, overrides: Record<string, unknown> = {}): Promise<TestContext> {
  const config = testConfig(target, overrides);
  const conn = await connectRedis(config);
  const keys = createKeys(config.redis.keyPrefix);
  const engine = createEngine({ redis: conn.redis, keys, switchId: config.switchId, leaseTtlMs: config.billing.leaseTtlMs });
  return { target, config, conn, keys, engine };
}

/**
 * Runs one suite body against a single Redis and against a Redis Cluster, as node-redis's specs do. The
 * cluster run proves that every script stays inside its account's hash tag.
 */
export function describeOnRedis(
  name: string,
  body: (ctx: () => TestContext) => void,
  overrides: Record<string, unknown> = {},
): void {
  const targets: RedisTarget[] = inject('clusterNodes').length > 0 ? ['single', 'cluster'] : ['single'];
  if (targets.length === 1) console.warn(`[${name}] no Redis Cluster available: running on a single node only`);
  describe.each(targets)(`${name} [redis %s]`, (target) => {
    let ctx: TestContext | undefined;
    beforeAll(async () => {
      ctx = await createTestContext(target, overrides);
    });
    afterAll(async () => {
      await ctx?.conn.close();
    });
    body(() => {
      if (!ctx) throw new Error('test context not ready');
      return ctx;
    });
  });
}
