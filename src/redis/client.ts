import { createClient, createCluster, type RedisClientType, type RedisClusterType } from 'redis';
import type { Config } from '../config/index.js';

/**
 * One type for both deployments. Every command callgate sends exists on both, and every multi-key
 * command it sends stays inside one hash tag, so the code never asks which one it holds.
 * RESP2 on purpose: replies of Lua scripts are plain arrays of integers and strings either way, and
 * RESP2 keeps hash replies as flat records the same on every Redis >= 7.
 */
export type Redis = RedisClientType | RedisClusterType;

export interface RedisConnection {
  redis: Redis;
  isCluster: boolean;
  close(): Promise<void>;
}

export async function connectRedis(config: Pick<Config, 'redis'>, onError?: (err: Error) => void): Promise<RedisConnection> {
  const reconnectStrategy = (retries: number) => Math.min(50 * 2 ** retries, 2000);
  const report = onError ?? (() => {});
  if (config.redis.clusterNodes.length > 0) {
    const cluster = createCluster({
      rootNodes: config.redis.clusterNodes.map((hp) => ({ url: `redis://${hp}` })),
      defaults: { socket: { reconnectStrategy, connectTimeout: 2000 }, disableOfflineQueue: false },
    }) as unknown as RedisClusterType;
    cluster.on('error', report);
    await cluster.connect();
    return { redis: cluster, isCluster: true, close: async () => void (await cluster.close().catch(() => {})) };
  }
  const client = createClient({
    url: config.redis.url,
    socket: { reconnectStrategy, connectTimeout: 2000 },
  }) as unknown as RedisClientType;
  client.on('error', report);
  await client.connect();
  return { redis: client, isCluster: false, close: async () => void (await client.close().catch(() => {})) };
}
