/**
 * bench:sip — the highest call rate held through a real drachtio-server, with < 0.1% failed calls and no
 * retransmission storm, for callgate and, measured in the same run on the same route, a bare drachtio-srf
 * B2BUA with no admission; then callgate's RSS at 1,000 concurrent calls and bytes per live call.
 *
 *   npm run bench:sip [-- --json] [-- --step-seconds 8] [-- --max-cps 1500]
 * Needs `drachtio` (PATH or DRACHTIO_BIN), `sipp` and `redis-server`; everything runs on loopback and stops
 * by itself. Calls: SIPp uac-answered, 1 s hold, against a SIPp UAS answering as the switch.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedisServer } from '../test/helpers/redis-servers.js';
import {
  Child, REPO_ROOT, drachtioBin, sippBin, startCallgate, startDrachtio, startSipp, startUas, type Drachtio,
} from '../test/helpers/sip-stack.js';
import { loadConfig } from '../src/config/index.js';
import { connectRedis } from '../src/redis/client.js';
import { createKeys } from '../src/redis/keys.js';
import { createEngine } from '../src/redis/engine.js';
import { createAccountService } from '../src/accounts/service.js';
import { benchArgs } from './cli.js';

const { json, number, log } = benchArgs();
const STEP_SECONDS = number('--step-seconds', 8);
const MAX_CPS = number('--max-cps', 1500);

if (!drachtioBin || !sippBin) {
  console.error(`bench:sip needs drachtio-server and sipp: ${!drachtioBin ? 'no drachtio binary (PATH or DRACHTIO_BIN)' : 'no sipp on PATH'}`);
  process.exit(2);
}

interface Step {
  cps: number;
  calls: number;
  ok: number;
  failed: number;
  retrans: number;
  pass: boolean;
}

/** One rung of the ramp: STEP_SECONDS of 1-s calls at `cps`, judged on SIPp's final counts. */
async function step(name: string, target: string, cps: number): Promise<Step> {
  const calls = Math.round(cps * STEP_SECONDS);
  const run = await startSipp({
    name: `bench-${name}-${cps}`, scenario: 'uac-answered', target, service: '4420712345678', calls, rate: cps, holdMs: 1000,
    limit: Math.max(50, cps * 4), timeoutMs: (STEP_SECONDS + 30) * 1000,
  });
  const r = await run.done;
  const retrans = Number(r.stats['Retransmissions(C)'] ?? 0);
  const ok = Number.isFinite(r.successful) ? r.successful : 0;
  const failed = Number.isFinite(r.failed) ? r.failed : calls;
  const lost = calls - ok - failed;
  const pass = ok > 0 && (failed + Math.max(0, lost)) / calls < 0.001 && retrans / calls < 0.05;
  return { cps, calls, ok, failed: failed + Math.max(0, lost), retrans, pass };
}

/** Ramps up by half each rung until a rung fails, then bisects between the last pass and the first failure. */
async function ramp(name: string, target: string): Promise<{ max: number; steps: Step[] }> {
  const steps: Step[] = [];
  const report = (s: Step) =>
    log(`  ${name.padEnd(9)} ${String(s.cps).padStart(5)} cps: ${s.ok}/${s.calls} ok, ${s.failed} failed, ${s.retrans} retransmissions ${s.pass ? '' : '  <- over'}`);
  let best = 0;
  let cps = 50;
  let failedAt = 0;
  while (cps <= MAX_CPS) {
    const s = await step(name, target, cps);
    steps.push(s);
    report(s);
    if (!s.pass) {
      failedAt = cps;
      break;
    }
    best = cps;
    await sleep(2000); // let the previous rung's calls and timers drain
    cps = Math.round(cps * 1.5);
  }
  for (let i = 0; i < 3 && failedAt > 0 && best > 0 && failedAt - best > 10; i++) {
    await sleep(3000);
    const mid = Math.round((best + failedAt) / 2);
    const s = await step(name, target, mid);
    steps.push(s);
    report(s);
    if (s.pass) best = mid;
    else failedAt = mid;
  }
  return { max: best, steps };
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? 'NaN');
  return kb * 1024;
}

const stops: (() => Promise<void>)[] = [];
try {
  const redis = await startRedisServer();
  stops.push(() => redis.stop());
  const prefix = 'benchsip:';
  const config = loadConfig({ env: {}, overrides: { redis: { url: redis.url, keyPrefix: prefix } } });
  const conn = await connectRedis(config);
  stops.push(() => conn.close());
  const keys = createKeys(prefix);
  const engine = createEngine({ redis: conn.redis, keys, switchId: 'bench', leaseTtlMs: config.billing.leaseTtlMs });
  const accounts = createAccountService({ redis: conn.redis, keys, engine, config });
  await accounts.loadRateDeck('bench', 'prefix,rate_per_min,first_increment,next_increment,connect_fee\n44,0.012345,6,6,0.001\n');
  await accounts.putAccount(
    'loadtest', { type: 'prepaid', channels: 100_000, cps: 10_000, billingCountry: 'US', deckId: 'bench', ips: ['127.0.0.1'] }, { mode: 'create' },
  );
  await accounts.applyFunds('loadtest', '100000000', 'bench-seed');

  const uas = await startUas('bench', 'uas-answer');
  stops.push(() => uas.stop());
  const startDr = async (name: string): Promise<Drachtio> => {
    const d = await startDrachtio(name);
    stops.push(() => d.stop());
    return d;
  };
  const drCallgate = await startDr('bench-callgate');
  const drBare = await startDr('bench-bare');
  const built = existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'));
  const callgate = await startCallgate({
    name: 'bench', switchId: 'bench', redisUrl: redis.url, keyPrefix: prefix, cdrDir: mkdtempSync(join(tmpdir(), 'callgate-bench-cdr-')),
    drachtio: drCallgate, routeUris: [uas.uri], built,
    env: {
      NODE_ENV: 'production', CALLGATE_LOG_LEVEL: 'info', CALLGATE_TICK_INTERVAL_MS: '10000', CALLGATE_LEASE_TTL_MS: '30000',
      CALLGATE_SWEEP_INTERVAL_MS: '5000', CALLGATE_RESERVATION_SECONDS: '60', CALLGATE_TAXES: '[]', CALLGATE_CDR_RECORD_REJECTED: 'true',
    },
  });
  stops.push(() => callgate.stop());
  const bare = new Child('bench-bare-b2bua', process.execPath, [
    '--import', 'tsx', 'bench/bare-b2bua.ts', String(drBare.adminPort), drBare.secret, uas.uri,
  ]);
  stops.push(() => bare.stop());
  await bare.waitForOutput(/connected to drachtio-server/, 30_000);
  await sleep(1000);

  log(`callgate bench:sip — ${STEP_SECONDS} s per rung, 1 s calls, ${built ? 'dist build' : 'tsx sources'}; pass: < 0.1% failed calls and retransmissions < 5% of calls`);
  const cg = await ramp('callgate', `127.0.0.1:${drCallgate.sipPort}`);
  await sleep(3000);
  const base = await ramp('baseline', `127.0.0.1:${drBare.sipPort}`);

  // memory: 1,000 concurrent calls held through callgate
  await sleep(3000);
  const pid = callgate.child.proc.pid!;
  const rssBefore = rssBytes(pid);
  const hold = await startSipp({
    name: 'bench-rss', scenario: 'uac-answered', target: `127.0.0.1:${drCallgate.sipPort}`, service: '4420712345678', calls: 1000,
    rate: 200, limit: 1000, holdMs: 20_000, timeoutMs: 60_000,
  });
  await sleep(1000 / 200 * 1000 + 6000); // all 1,000 placed and answered
  const rssAt1000 = rssBytes(pid);
  await hold.done;
  const result = {
    callgate_max_cps: cg.max,
    baseline_max_cps: base.max,
    ratio: base.max > 0 ? Number((cg.max / base.max).toFixed(3)) : 0,
    rss_mb_at_1000_calls: Number((rssAt1000 / 1024 / 1024).toFixed(1)),
    bytes_per_call: Math.round((rssAt1000 - rssBefore) / 1000),
  };
  if (json) console.log(JSON.stringify(result));
  else {
    log('');
    log(`callgate  max ${result.callgate_max_cps} cps`);
    log(`baseline  max ${result.baseline_max_cps} cps   (bare drachtio-srf B2BUA, same route, no admission)`);
    log(`ratio     ${result.ratio}   (target >= 0.85)`);
    log(`memory    RSS ${result.rss_mb_at_1000_calls} MB at 1,000 live calls (${(rssBefore / 1024 / 1024).toFixed(1)} MB before them): ${result.bytes_per_call} bytes per live call`);
  }
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
}
process.exit(0);
