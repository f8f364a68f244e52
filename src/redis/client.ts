import calculateSlot from 'cluster-key-slot';
import { createClient, createCluster, type RedisClientType, type RedisClusterType } from 'redis';
import type { Config } from '../config/index.js';
import { createDeadlines, type Deadlines } from './deadlines.js';
import { clusterTopologyOf } from './node-redis-internals.js';

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

/**
 * What callgate does when a command gets no answer: the deadline its scripts are raced against, and what to
 * do about the node that did not answer. node-redis gives up on a command only before it is written
 * (unwrittenCommandDeadline); a Redis that is frozen, or behind a partition that drops packets, would leave
 * a written command pending forever.
 */
export interface StallPolicy {
  timeoutMs: number;
  /** Called with the first key of a command that missed its deadline. */
  onStall(key: string): void;
}

const stallPolicies = new WeakMap<object, StallPolicy>();

/** The stall policy of a connection made by connectRedis; none for clients made elsewhere. */
export function stallPolicyOf(redis: Redis): StallPolicy | undefined {
  return stallPolicies.get(redis);
}

const connectionDeadlines = new WeakMap<object, Deadlines>();

/** The deadlines of one client's work in flight: its own, made on first use, so no two clients share any. */
export function deadlinesOf(redis: Redis): Deadlines {
  let d = connectionDeadlines.get(redis);
  if (!d) connectionDeadlines.set(redis, (d = createDeadlines()));
  return d;
}

/**
 * node-redis refreshes its slot map only when a node answers MOVED or ASK. A master that died, or froze,
 * answers nothing, so after its replica is promoted the client would keep sending that slot's commands to
 * the old address forever. Rediscover the topology (at most once a second) while a node's connection fails
 * or a command to it misses its deadline, asking another master than the one that went silent.
 */
function watchFailovers(cluster: RedisClusterType, minIntervalMs = 1000): (silentKey?: string) => void {
  let last = 0;
  const rediscover = (silentKey?: string) => {
    const now = Date.now();
    if (now - last < minIntervalMs) return;
    last = now;
    const slots = clusterTopologyOf(cluster);
    const silent = silentKey === undefined ? undefined : slots.slots[calculateSlot(silentKey)]?.master;
    const startWith = slots.masters.find((m) => m.client && m !== silent)?.client;
    if (startWith) void slots.rediscover(startWith).catch(() => {});
  };
  cluster.on('node-error', () => rediscover());
  cluster.on('node-reconnecting', () => rediscover());
  return rediscover;
}

/** A graceful close waits for pending replies; when Redis is gone it would wait forever, so it is bounded. */
async function closeWithin(close: () => Promise<unknown>, destroy: () => unknown, ms = 1000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const result = await Promise.race([close().catch(() => 'failed'), timedOut]);
  clearTimeout(timer);
  if (result === 'timeout' || result === 'failed') {
    try {
      destroy();
    } catch {
      // already closed
    }
  }
}

export async function connectRedis(config: Pick<Config, 'redis'>, onError?: (err: Error) => void): Promise<RedisConnection> {
  const reconnectStrategy = (retries: number) => Math.min(50 * 2 ** retries, 2000);
  // Every command gives up after operationTimeoutMs, also one queued while the connection is down: a call's
  // tick or finalize then fails fast (and is retried or journaled) instead of waiting for Redis to return.
  // (unwrittenCommandDeadline does what node-redis's `timeout` option does, at a fraction of its cost.)
  const deadlines = createDeadlines();
  const commandOptions = deadlines.unwrittenCommandDeadline(config.redis.operationTimeoutMs);
  const report = onError ?? (() => {});
  if (config.redis.clusterNodes.length > 0) {
    const cluster = createCluster({
      rootNodes: config.redis.clusterNodes.map((hp) => ({ url: `redis://${hp}` })),
      defaults: { socket: { reconnectStrategy, connectTimeout: 2000 } },
      commandOptions,
    }) as unknown as RedisClusterType;
    connectionDeadlines.set(cluster, deadlines);
    cluster.on('error', report);
    clusterTopologyOf(cluster); // an upgraded node-redis without the slot map fails here, at start, not at the first failover
    const rediscover = watchFailovers(cluster);
    stallPolicies.set(cluster, { timeoutMs: config.redis.operationTimeoutMs, onStall: (key) => rediscover(key) });
    await cluster.connect();
    return { redis: cluster, isCluster: true, close: () => closeWithin(() => cluster.close(), () => cluster.destroy()) };
  }
  const client = createClient({
    url: config.redis.url,
    socket: { reconnectStrategy, connectTimeout: 2000 },
    commandOptions,
  }) as unknown as RedisClientType;
  connectionDeadlines.set(client, deadlines);
  client.on('error', report);
  stallPolicies.set(client, { timeoutMs: config.redis.operationTimeoutMs, onStall: () => {} });
  await client.connect();
  return { redis: client, isCluster: false, close: () => closeWithin(() => client.close(), () => client.destroy()) };
}
