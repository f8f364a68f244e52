import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A free TCP port on loopback, as the kernel hands it out. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export class MissingBinaryError extends Error {
  override readonly name = 'MissingBinaryError';
}

function requireBinary(name: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${name}`]);
  if (r.status !== 0) {
    throw new MissingBinaryError(`${name} not found on PATH: install it (apt-get install -y redis-server) or run bash .ci/run`);
  }
}

async function waitForPing(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'PING'], { encoding: 'utf8' });
    if (r.stdout?.trim() === 'PONG') return;
    await sleep(50);
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
}

export interface RedisServer {
  port: number;
  url: string;
  process: ChildProcess;
  dir: string;
  /** Stops the server; its data directory is removed unless keepData (to restart it on the same data). */
  stop(signal?: NodeJS.Signals, options?: { keepData?: boolean }): Promise<void>;
}

/**
 * Starts a throwaway redis-server on loopback. Extra args are passed through (cluster mode and so on).
 * Given a port and a data dir, it restarts a stopped server on its own data.
 */
export async function startRedisServer(extra: string[] = [], port?: number, dataDir?: string): Promise<RedisServer> {
  requireBinary('redis-server');
  const p = port ?? (await freePort());
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), `callgate-redis-${p}-`));
  const child = spawn(
    'redis-server',
    ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no', ...extra],
    { stdio: 'ignore' },
  );
  await waitForPing(p);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    process: child,
    dir,
    async stop(signal: NodeJS.Signals = 'SIGTERM', options: { keepData?: boolean } = {}) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
      if (!options.keepData) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisCluster {
  nodes: RedisServer[];
  /** host:port of every master, the form CALLGATE_REDIS_CLUSTER_NODES takes. */
  rootNodes: string[];
  stop(): Promise<void>;
}

/** A real Redis Cluster of `masters` masters (and `replicasPerMaster` replicas each) on loopback. */
export async function startRedisCluster(masters = 3, replicasPerMaster = 0): Promise<RedisCluster> {
  requireBinary('redis-cli');
  const count = masters * (1 + replicasPerMaster);
  const nodes: RedisServer[] = [];
  for (let i = 0; i < count; i++) {
    nodes.push(await startRedisServer(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000']));
  }
  const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'], {
    encoding: 'utf8',
  });
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}\n${create.stderr}`);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const states = nodes.map(
      (n) => spawnSync('redis-cli', ['-p', String(n.port), 'CLUSTER', 'INFO'], { encoding: 'utf8' }).stdout ?? '',
    );
    if (states.every((s) => s.includes('cluster_state:ok'))) break;
    if (Date.now() > deadline) throw new Error('Redis Cluster did not reach cluster_state:ok within 20 s');
    await sleep(100);
  }
  return {
    nodes,
    rootNodes: addrs.slice(0, masters),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

/** redis-cli against one loopback node; its stdout. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 2_000 });
  return stdout;
}

/** One line of CLUSTER NODES. */
export interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  /** For a replica, the id of its master. */
  masterId: string;
  slots: [number, number][];
}

/** CLUSTER NODES as one node sees the cluster. */
export async function clusterNodes(port: number): Promise<NodeLine[]> {
  const text = await redisCli(port, 'CLUSTER', 'NODES');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = line.split(' ');
      const slots: [number, number][] = [];
      for (const s of f.slice(8)) {
        if (s.startsWith('[')) continue; // a slot being migrated
        const [a, b] = s.split('-');
        slots.push([Number(a), Number(b ?? a)]);
      }
      return { id: f[0]!, port: Number(f[1]!.split(':')[1]!.split('@')[0]), flags: f[2]!.split(','), masterId: f[3]!, slots };
    });
}

/** The hash slot of a key, as the node on `port` computes it. */
export async function keySlot(port: number, key: string): Promise<number> {
  return Number((await redisCli(port, 'CLUSTER', 'KEYSLOT', key)).trim());
}

/** True when the node serves the slot (whatever its flags). */
export function servesSlot(node: NodeLine, slot: number): boolean {
  return node.slots.some(([a, b]) => slot >= a && slot <= b);
}

/** The master, not marked failed, that serves the slot. */
export function ownerOf(nodes: NodeLine[], slot: number): NodeLine | undefined {
  return nodes.find((n) => n.flags.includes('master') && !n.flags.includes('fail') && servesSlot(n, slot));
}
