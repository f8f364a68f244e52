/**
 * bench:admission — call cycles per second through the engine (one cycle = one admit script, then its
 * finalize script), with admit latency p50/p99, at concurrency 64, over 1,000 and 100,000 accounts.
 * Baseline in the same run, through the same client at the same concurrency: the same loop with both
 * scripts replaced by an EVALSHA of a script that does nothing (two round trips per cycle).
 *
 *   npm run bench:admission [-- --json] [-- --seconds 5] [-- --accounts 1000,100000]
 * Reads CALLGATE_REDIS_URL / CALLGATE_REDIS_CLUSTER_NODES like everything else. Writes only keys under
 * its own prefix and deletes them at the end.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config/index.js';
import { connectRedis, type Redis } from '../src/redis/client.js';
import { createKeys } from '../src/redis/keys.js';
import { createEngine, type Engine } from '../src/redis/engine.js';
import { luaScriptFromSource, runScript } from '../src/redis/script.js';
import { benchArgs } from './cli.js';

const { json, option, number, log } = benchArgs();
const seconds = number('--seconds', 5);
const accountCounts = option('--accounts', '1000,100000').split(',').map(Number);
const CONCURRENCY = 64;

const prefix = `bench${randomBytes(3).toString('hex')}:`;
const config = loadConfig({ overrides: { redis: { keyPrefix: prefix } } });
const conn = await connectRedis(config);
const keys = createKeys(prefix);
const engine = createEngine({ redis: conn.redis, keys, switchId: config.switchId, leaseTtlMs: 60_000 });
const noop = luaScriptFromSource('noop', 1, 'return 1');

async function createAccounts(n: number, from: number): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < n) {
      const id = `acct${next++}`;
      await engine.putAccount(id, { type: 'prepaid', creditLimit: 0, channels: 1_000_000, cps: 1_000_000, burst: 1_000_000, lowBalanceThreshold: 0 });
      await engine.applyFunds(id, 'seed', 1_000_000_000_000, 0);
    }
  };
  await Promise.all(Array.from({ length: 128 }, worker));
}

interface Run {
  cyclesPerS: number;
  admitP50: number;
  admitP99: number;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function measure(accounts: number, cycle: (accountId: string, n: number) => Promise<number>): Promise<Run> {
  const deadline = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  let cycles = 0;
  let seq = 0;
  let rng = 0x9e3779b9;
  const pick = () => {
    rng ^= rng << 13;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    return `acct${(rng >>> 0) % accounts}`;
  };
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        latencies.push(await cycle(pick(), seq++));
        cycles++;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return { cyclesPerS: cycles / elapsed, admitP50: percentile(sorted, 0.5), admitP99: percentile(sorted, 0.99) };
}

function callgateCycle(e: Engine) {
  const run = `${randomBytes(3).toString('hex')}`;
  return async (accountId: string, n: number) => {
    const callId = `${run}-${n}`;
    const t0 = performance.now();
    const r = await e.admitCall({ accountId, callId, reservation: 60_000, seed: '{"from":"15551230000","to":"4420712345678"}' });
    const t1 = performance.now();
    if (r.outcome !== 'admitted') throw new Error(`bench admit refused: ${r.outcome}`);
    await e.finalizeCall({
      accountId, callId, total: 1_234, cost: 1_000, tax: 234, billedSec: 6, talkMs: 5_000, answeredAt: 1, endedAt: 2,
      disposition: 'answered', reason: 'caller_bye', sipCode: 200,
    });
    return t1 - t0;
  };
}

function baselineCycle(redis: Redis) {
  return async (accountId: string) => {
    const t0 = performance.now();
    await runScript(redis, noop, [keys.account(accountId)], []);
    const t1 = performance.now();
    await runScript(redis, noop, [keys.account(accountId)], []);
    return t1 - t0;
  };
}

async function cleanup(): Promise<void> {
  // every key of the bench carries its prefix; drop them per account (each DEL stays in one slot)
  const max = Math.max(...accountCounts);
  const ids = Array.from({ length: max }, (_, i) => `acct${i}`);
  for (let i = 0; i < ids.length; i += 500) {
    await Promise.all(
      ids.slice(i, i + 500).map((id) =>
        conn.redis.del([keys.account(id), keys.calls(id), keys.expiry(id), keys.cdrs(id), keys.events(id), keys.payments(id), keys.leases(id, config.switchId)]),
      ),
    );
  }
}

try {
  log(`callgate bench:admission — concurrency ${CONCURRENCY}, ${seconds} s per measurement, redis ${config.redis.clusterNodes.length ? `cluster ${config.redis.clusterNodes.join(',')}` : config.redis.url}`);
  let created = 0;
  for (const accounts of accountCounts) {
    log(`\ncreating accounts up to ${accounts} ...`);
    await createAccounts(accounts, created);
    created = accounts;
    // warm-up of both loops, then alternate so drift hits both alike; keep the better of two rounds each
    await measure(accounts, baselineCycle(conn.redis)).catch(() => undefined);
    const base: Run[] = [];
    const cg: Run[] = [];
    for (let round = 0; round < 2; round++) {
      base.push(await measure(accounts, baselineCycle(conn.redis)));
      cg.push(await measure(accounts, callgateCycle(engine)));
    }
    const best = (runs: Run[]) => runs.reduce((a, b) => (b.cyclesPerS > a.cyclesPerS ? b : a));
    const b = best(base);
    const c = best(cg);
    const row = {
      accounts,
      cycles_per_s: Math.round(c.cyclesPerS),
      admit_p50_ms: Number(c.admitP50.toFixed(3)),
      admit_p99_ms: Number(c.admitP99.toFixed(3)),
      baseline_cycles_per_s: Math.round(b.cyclesPerS),
      ratio: Number((c.cyclesPerS / b.cyclesPerS).toFixed(3)),
    };
    if (json) console.log(JSON.stringify(row));
    else {
      log(`accounts ${accounts}:`);
      log(`  callgate  ${row.cycles_per_s} cycles/s   admit p50 ${row.admit_p50_ms} ms   p99 ${row.admit_p99_ms} ms`);
      log(`  baseline  ${row.baseline_cycles_per_s} cycles/s   (2 x EVALSHA of a no-op script; p50 ${b.admitP50.toFixed(3)} ms, p99 ${b.admitP99.toFixed(3)} ms)`);
      log(`  ratio     ${row.ratio}   (target >= 0.5; admit p99 target < 2 ms on 1,000 accounts)`);
    }
  }
} finally {
  await cleanup();
  await conn.close();
}
