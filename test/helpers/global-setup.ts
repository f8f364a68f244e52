import type { TestProject } from 'vitest/node';
import { startRedisCluster, startRedisServer } from './redis-servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    clusterNodes: string[];
  }
}

/**
 * Every integration suite runs against a real single Redis and a real 3-node Redis Cluster. Both come
 * from CALLGATE_TEST_REDIS_URL / CALLGATE_TEST_CLUSTER_NODES when .ci/run started them, and otherwise
 * are started here on free loopback ports and stopped at the end.
 */
export default async function setup(project: TestProject) {
  const stops: (() => Promise<void>)[] = [];
  let url = process.env.CALLGATE_TEST_REDIS_URL ?? '';
  if (!url) {
    const server = await startRedisServer();
    stops.push(() => server.stop());
    url = server.url;
  }
  let nodes = (process.env.CALLGATE_TEST_CLUSTER_NODES ?? '').split(',').filter(Boolean);
  if (nodes.length === 0 && process.env.CALLGATE_TEST_NO_CLUSTER !== '1') {
    const cluster = await startRedisCluster(3);
    stops.push(() => cluster.stop());
    nodes = cluster.rootNodes;
  }
  project.provide('redisUrl', url);
  project.provide('clusterNodes', nodes);
  return async () => {
    for (const stop of stops) await stop();
  };
}
