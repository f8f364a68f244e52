/**
 * A command issued while the connection to Redis is down waits in the client's queue. It must give up
 * after redis.operationTimeoutMs (src/redis/client.ts), and it must never run later, once Redis is back:
 * its caller has been told it failed. Checked on a single Redis (stopped, then restarted on its port) and
 * on a Redis Cluster (the master of the key's slot stopped).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortError } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterNodes, keySlot, ownerOf, startRedisCluster, startRedisServer, type RedisCluster, type RedisServer } from '../helpers/redis-servers.js';
import { waitFor } from '../helpers/sip-stack.js';
import { loadConfig } from '../../src/config/index.js';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';

const OPERATION_TIMEOUT_MS = 300;
const GUARD_MS = 5_000;

/** How long `p` takes to reject, and with what; fails the test if it resolves or hangs past GUARD_MS. */
async function rejection(p: Promise<unknown>): Promise<{ ms: number; error: Error }> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), GUARD_MS);
  });
  try {
    const r = await Promise.race([p.then(() => 'resolved' as const), guard]);
    throw new Error(`expected a rejection, the command ${r}`);
  } catch (err) {
    return { ms: performance.now() - t0, error: err as Error };
  } finally {
    clearTimeout(timer);
  }
}

describe('fault: commands issued while Redis is unreachable', () => {
  const conns: RedisConnection[] = [];
  const servers: RedisServer[] = [];
  let cluster: RedisCluster | undefined;

  afterAll(async () => {
    for (const c of conns) await c.close();
    for (const s of servers) await s.stop();
    await cluster?.stop();
  });

  it('single Redis: a queued command gives up after operationTimeoutMs and does not run when Redis returns', { timeout: 30_000 }, async () => {
    const first = await startRedisServer();
    const config = loadConfig({ env: { NODE_ENV: 'test' }, overrides: { redis: { url: first.url, operationTimeoutMs: OPERATION_TIMEOUT_MS } } });
    const conn = await connectRedis(config);
    conns.push(conn);
    await conn.redis.set('unwritten:before', '1');

    await first.stop();
    await waitFor('the client to notice the loss', () => !(conn.redis as unknown as { isReady: boolean }).isReady, { timeoutMs: 10_000 });
    const late = await rejection(conn.redis.set('unwritten:late', 'ran after its caller gave up'));
    expect(late.error).toBeInstanceOf(AbortError);
    expect(late.ms).toBeGreaterThanOrEqual(OPERATION_TIMEOUT_MS - 1);
    expect(late.ms).toBeLessThan(OPERATION_TIMEOUT_MS + 1_000);

    // the same port, a fresh (empty) server: the client reconnects by itself
    servers.push(await startRedisServer([], first.port));
    await waitFor('the client to reconnect', async () => (await conn.redis.ping()) === 'PONG', { timeoutMs: 10_000 });
    await sleep(200); // a window, not a wait: the abandoned command, were it written on reconnect, would have run by now
    expect(await conn.redis.exists('unwritten:late')).toBe(0);
    await conn.redis.set('unwritten:after', '1');
    expect(await conn.redis.get('unwritten:after')).toBe('1');
  });

  it('Redis Cluster: a command queued for a stopped master gives up after operationTimeoutMs', { timeout: 60_000 }, async () => {
    cluster = await startRedisCluster(3, 0);
    const config = loadConfig({
      env: { NODE_ENV: 'test' },
      overrides: { redis: { clusterNodes: cluster.rootNodes, operationTimeoutMs: OPERATION_TIMEOUT_MS } },
    });
    const conn = await connectRedis(config);
    conns.push(conn);
    const key = '{unwritten}:late';
    await conn.redis.set(key, 'before');
    // the master that serves the key's slot
    const owner = ownerOf(await clusterNodes(cluster.nodes[0]!.port), await keySlot(cluster.nodes[0]!.port, key));
    const master = cluster.nodes.find((n) => n.port === owner?.port)!;
    expect(master).toBeDefined();

    await master.stop('SIGKILL');
    // the node's client sees its socket close and starts reconnecting; node-redis tells no one when (its
    // cluster client emits nothing per node), so this is time given, not a condition awaited
    await sleep(300);
    const late = await rejection(conn.redis.set(key, 'ran after its caller gave up'));
    expect(late.error, String(late.error)).toBeInstanceOf(AbortError);
    expect(late.ms).toBeGreaterThanOrEqual(OPERATION_TIMEOUT_MS - 1);
    expect(late.ms).toBeLessThan(OPERATION_TIMEOUT_MS + 1_000);
  });
});
