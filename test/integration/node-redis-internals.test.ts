import calculateSlot from 'cluster-key-slot';
import type { RedisClusterType } from 'redis';
import { describe, expect, inject, it } from 'vitest';
import { connectRedis } from '../../src/redis/client.js';
import { clusterTopologyOf, NodeRedisInternalsChangedError } from '../../src/redis/node-redis-internals.js';
import { testConfig } from '../helpers/context.js';

/**
 * callgate reads node-redis's private cluster slot map in one place (src/redis/node-redis-internals.ts).
 * This test fails on an upgrade of node-redis that changes it: the failover watch would otherwise stop
 * working without a word.
 */
describe.skipIf(inject('clusterNodes').length === 0)('node-redis internals callgate relies on', () => {
  it('a cluster client keeps its slot map as _slots { slots, masters, rediscover }, with a master for every key', async () => {
    const conn = await connectRedis(testConfig('cluster'));
    try {
      const topology = clusterTopologyOf(conn.redis as RedisClusterType);
      expect(topology.masters.length).toBe(inject('clusterNodes').length);
      expect(topology.masters.every((m) => m.client !== undefined)).toBe(true);
      for (const key of ['cg:{a:acme}:acct', 'cg:{a:zeta}:calls', 'cg:{catalog}:accounts']) {
        expect(topology.slots[calculateSlot(key)]?.master).toBeDefined();
      }
      // rediscovery through the private call still works and keeps the map whole
      await topology.rediscover(topology.masters[0]!.client);
      expect(clusterTopologyOf(conn.redis as RedisClusterType).masters.length).toBe(inject('clusterNodes').length);
    } finally {
      await conn.close();
    }
  });

  it('says loudly what changed when the slot map is not there', () => {
    expect(() => clusterTopologyOf({} as RedisClusterType)).toThrow(NodeRedisInternalsChangedError);
  });
});
