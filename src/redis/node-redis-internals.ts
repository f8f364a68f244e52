/**
 * The one place callgate reaches into node-redis's private state. node-redis refreshes a cluster's slot
 * map only when a node answers MOVED or ASK, and exposes no way to ask for a refresh; the failover watch in
 * client.ts needs one. Everything private it uses is read, and checked, here: an upgrade that changes it
 * fails test/integration/node-redis-internals.test.ts, and at run time fails this check loudly instead of
 * leaving failovers silently unhandled.
 */
import type { RedisClusterType } from 'redis';

interface ClusterNode {
  client?: unknown;
}

/** The parts of node-redis's `RedisClusterSlots` (cluster-slots.js) that callgate uses. */
export interface ClusterTopology {
  /** By slot number: the node serving it. */
  slots: readonly ({ master: ClusterNode } | undefined)[];
  masters: readonly ClusterNode[];
  /** Reads the slot map again, starting with the given node's client. */
  rediscover(startWith: unknown): Promise<void>;
}

export class NodeRedisInternalsChangedError extends Error {
  override readonly name = 'NodeRedisInternalsChangedError';
}

/** The cluster client's slot map, or NodeRedisInternalsChangedError when node-redis no longer has it in this shape. */
export function clusterTopologyOf(cluster: RedisClusterType): ClusterTopology {
  const slots = (cluster as unknown as { _slots?: Partial<ClusterTopology> })._slots;
  if (!slots || !Array.isArray(slots.slots) || !Array.isArray(slots.masters) || typeof slots.rediscover !== 'function') {
    throw new NodeRedisInternalsChangedError(
      'node-redis no longer keeps the cluster slot map as _slots { slots, masters, rediscover }: after a master fails over, ' +
        'callgate cannot make the client find the promoted replica; check src/redis/node-redis-internals.ts against this node-redis version',
    );
  }
  return slots as ClusterTopology;
}
