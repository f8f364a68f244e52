/**
 * bench:admin — admin API requests per second over loopback HTTP, for GET /v1/accounts/:id and for
 * POST /v1/accounts/:id/payments (a new paymentId each time, so every request credits), each against a real
 * Redis. Baseline in the same run, through the same client at the same concurrency: a bare fastify answering
 * a static JSON route. The client is node:http with a keep-alive agent, 32 requests in flight.
 *
 * The three are measured in interleaved rounds (baseline, GET, POST, then again), so that a change of load
 * on the machine during the run weighs on all three alike; each figure is its requests over its time.
 *
 *   npm run bench:admin [-- --json] [-- --seconds 2] [-- --rounds 3]
 * --json prints one object: {"get_account_rps","post_funds_rps","baseline_rps","get_ratio","post_ratio"}.
 * Reads CALLGATE_REDIS_URL / CALLGATE_REDIS_CLUSTER_NODES like everything else. Writes only keys under its
 * own prefix and deletes them at the end.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import Fastify from 'fastify';
import { pino } from 'pino';
import { createAccountService } from '../src/accounts/service.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { createAdminServer, listenAdmin } from '../src/admin/server.js';
import { loadConfig } from '../src/config/index.js';
import { connectRedis } from '../src/redis/client.js';
import { createEngine } from '../src/redis/engine.js';
import { createKeys } from '../src/redis/keys.js';
import { benchArgs } from './cli.js';

const { json, number, log } = benchArgs();
const seconds = number('--seconds', 2);
const rounds = number('--rounds', 3);
const CONCURRENCY = 32;
const WARMUP_MS = 500;

const prefix = `benchadm${randomBytes(3).toString('hex')}:`;
const config = loadConfig({ overrides: { redis: { keyPrefix: prefix } } });
const conn = await connectRedis(config);
const keys = createKeys(prefix);
const engine = createEngine({ redis: conn.redis, keys, switchId: config.switchId, leaseTtlMs: config.billing.leaseTtlMs });
const accounts = createAccountService({ redis: conn.redis, keys, engine, config });
const logger = pino({ level: 'silent' });
const token = randomBytes(24).toString('hex');
const accountId = 'bench-admin';
const deckId = 'bench-admin-deck';

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const auth = `Bearer ${token}`;

/** One request; resolves with the status once the whole body is read (the connection goes back to the pool). */
function send(port: number, method: string, path: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: auth };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Numbers every request of the run, warm-up included, so each payment gets its own id. */
let seq = 0;

/** Requests done and seconds taken with CONCURRENCY in flight for `ms`; every answer must carry `expected`. */
async function measure(ms: number, one: (n: number) => Promise<number>, expected: number): Promise<{ done: number; seconds: number }> {
  const deadline = performance.now() + ms;
  let done = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const status = await one(seq++);
        if (status !== expected) throw new Error(`bench: expected HTTP ${expected}, got ${status}`);
        done++;
      }
    }),
  );
  return { done, seconds: (performance.now() - start) / 1000 };
}

interface Target {
  label: string;
  one: (n: number) => Promise<number>;
  expected: number;
  done: number;
  seconds: number;
}

async function runInterleaved(targets: Target[]): Promise<void> {
  for (const t of targets) await measure(WARMUP_MS, t.one, t.expected);
  for (let r = 0; r < rounds; r++) {
    for (const t of targets) {
      const m = await measure(seconds * 1000, t.one, t.expected);
      t.done += m.done;
      t.seconds += m.seconds;
    }
  }
  for (const t of targets) log(`  ${t.label.padEnd(40)} ${(t.done / t.seconds).toFixed(0).padStart(8)} req/s`);
}

async function cleanup(): Promise<void> {
  await conn.redis.del([
    keys.account(accountId), keys.calls(accountId), keys.expiry(accountId), keys.cdrs(accountId),
    keys.events(accountId), keys.payments(accountId), keys.leases(accountId, config.switchId),
  ]);
  await conn.redis.hDel(keys.catalog, accountId);
  await conn.redis.del(keys.deck(deckId));
  await conn.redis.hDel(keys.deckIndex, deckId);
}

const admin = createAdminServer({
  config: { ...config, admin: { listen: '127.0.0.1:0', token } },
  redis: conn.redis,
  keys,
  engine,
  accounts,
  metrics: createMetrics(),
  logger,
  health: { isConnected: () => true },
});
const baseline = Fastify();
baseline.get('/static', async () => ({ id: accountId, status: 'on', balance: 1_000_000, balanceUsd: '1.000000' }));

try {
  await accounts.loadRateDeck(deckId, 'prefix,rate_per_min,first_increment,next_increment\n1,0.01,6,6\n');
  await accounts.putAccount(
    accountId,
    { type: 'prepaid', name: 'bench', channels: 100, cps: 100, billingCountry: 'US', deckId, ips: ['192.0.2.1'] },
    { mode: 'upsert' },
  );
  await accounts.applyFunds(accountId, '1000', 'bench-seed');
  const adminPort = (await listenAdmin(admin, { listen: '127.0.0.1:0', token })).port;
  await baseline.listen({ host: '127.0.0.1', port: 0 });
  const baselinePort = (baseline.server.address() as { port: number }).port;

  log(
    `bench:admin  loopback HTTP, ${CONCURRENCY} keep-alive requests in flight, ${rounds} interleaved rounds of ${seconds} s each ` +
      `(after ${WARMUP_MS} ms warm-up)`,
  );
  log(`  redis ${config.redis.clusterNodes.length > 0 ? `cluster ${config.redis.clusterNodes.join(',')}` : config.redis.url}`);
  const run0 = randomBytes(4).toString('hex');
  const target = (label: string, one: Target['one'], expected: number): Target => ({ label, one, expected, done: 0, seconds: 0 });
  const targets = [
    target('baseline: bare fastify, static JSON', () => send(baselinePort, 'GET', '/static'), 200),
    target('GET /v1/accounts/:id', () => send(adminPort, 'GET', `/v1/accounts/${accountId}`), 200),
    target(
      'POST /v1/accounts/:id/payments',
      (n) => send(adminPort, 'POST', `/v1/accounts/${accountId}/payments`, JSON.stringify({ amountUsd: '0.01', paymentId: `b-${run0}-${n}` })),
      201,
    ),
  ];
  await runInterleaved(targets);
  const [baselineRps, getRps, postRps] = targets.map((t) => t.done / t.seconds) as [number, number, number];
  const result = {
    get_account_rps: Math.round(getRps),
    post_funds_rps: Math.round(postRps),
    baseline_rps: Math.round(baselineRps),
    get_ratio: Number((getRps / baselineRps).toFixed(3)),
    post_ratio: Number((postRps / baselineRps).toFixed(3)),
  };
  if (json) console.log(JSON.stringify(result));
  else log(`  ratios to baseline: GET ${result.get_ratio}, POST ${result.post_ratio}`);
} finally {
  agent.destroy();
  await admin.close();
  await baseline.close();
  await cleanup().catch((err) => console.error('bench cleanup failed:', err));
  await conn.close();
}
