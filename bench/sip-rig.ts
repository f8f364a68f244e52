/**
 * The SIP benches' rig: a Redis of its own, one funded account with room for any rate, a SIPp UAS answering
 * as the switch, and two drachtio-servers on loopback, one in front of callgate and one in front of a bare
 * drachtio-srf B2BUA (bench/bare-b2bua.ts) on the same route. Also the ramp that finds a system's highest
 * rate, and the /proc readings (RSS, CPU) the benches report.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedisServer } from '../test/helpers/redis-servers.js';
import {
  Child, REPO_ROOT, freeSipPort, sippBin, startCallgate, startDrachtio, startSipp, startUas, type Callgate, type Drachtio,
} from '../test/helpers/sip-stack.js';
import { loadConfig } from '../src/config/index.js';
import { connectRedis } from '../src/redis/client.js';
import { createKeys } from '../src/redis/keys.js';
import { createEngine } from '../src/redis/engine.js';
import { createAccountService } from '../src/accounts/service.js';

/** The number every bench call dials: the deck's only prefix, 44. */
export const BENCH_DIALED = '4420712345678';

export interface SipRig {
  callgate: Callgate;
  /** The drachtio-server in front of callgate, and the one in front of the bare B2BUA. */
  drCallgate: Drachtio;
  drBare: Drachtio;
  bare: Child;
  /** Whether callgate runs the built dist/ (as production does) or the TypeScript sources. */
  built: boolean;
  /** A second callgate (switch `bench-twin`) with its own drachtio-server, when asked for: the same settings with `twinEnv` laid over. */
  twin?: { callgate: Callgate; drachtio: Drachtio };
  /** The rig's Redis and key prefix, for processes a bench adds (the export role). */
  redisUrl: string;
  prefix: string;
  stop(): Promise<void>;
  /** Runs `fn` and stops what it returns with the rig. */
  adopt(stop: () => Promise<void>): void;
}

/** Starts the rig; `callgateEnv` is laid over the bench's callgate settings. */
export async function startSipRig(
  name: string, callgateEnv: Record<string, string> = {}, options: { twinEnv?: Record<string, string> } = {},
): Promise<SipRig> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  };
  try {
    const redis = await startRedisServer();
    stops.push(() => redis.stop());
    const prefix = `${name}:`;
    const config = loadConfig({ env: {}, overrides: { redis: { url: redis.url, keyPrefix: prefix } } });
    const conn = await connectRedis(config);
    stops.push(() => conn.close());
    const keys = createKeys(prefix);
    const engine = createEngine({ redis: conn.redis, keys, switchId: 'bench', leaseTtlMs: config.billing.leaseTtlMs });
    const accounts = createAccountService({ redis: conn.redis, keys, engine, config });
    await accounts.loadRateDeck('bench', 'prefix,rate_per_min,first_increment,next_increment,connect_fee\n44,0.012345,6,6,0.001\n');
    await accounts.putAccount(
      'loadtest', { type: 'prepaid', channels: 100_000, cps: 10_000, burst: 10_000, billingCountry: 'US', deckId: 'bench', ips: ['127.0.0.1'] }, { mode: 'create' },
    );
    await accounts.applyFunds('loadtest', '100000000', 'bench-seed');

    const uas = await startUas(name, 'uas-answer');
    stops.push(() => uas.stop());
    const drCallgate = await startDrachtio(`${name}-callgate`);
    stops.push(() => drCallgate.stop());
    const drBare = await startDrachtio(`${name}-bare`);
    stops.push(() => drBare.stop());
    const built = existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'));
    const env = {
      NODE_ENV: 'production', CALLGATE_LOG_LEVEL: 'info', CALLGATE_TICK_INTERVAL_MS: '10000', CALLGATE_LEASE_TTL_MS: '30000',
      CALLGATE_SWEEP_INTERVAL_MS: '5000', CALLGATE_RESERVATION_SECONDS: '60', CALLGATE_TAXES: '[]', CALLGATE_CDR_RECORD_REJECTED: 'true',
      // as shipped: the overload guard on, with its defaults (the e2e harness turns it off)
      CALLGATE_OVERLOAD_ENABLED: 'true',
      ...callgateEnv,
    };
    const start = (switchId: string, drachtio: Drachtio, extra: Record<string, string>) =>
      startCallgate({
        name: `${name}-${switchId}`, switchId, redisUrl: redis.url, keyPrefix: prefix, cdrDir: mkdtempSync(join(tmpdir(), 'callgate-bench-cdr-')),
        drachtio, routeUris: [uas.uri], built, env: { ...env, ...extra },
      });
    const callgate = await start('bench', drCallgate, {});
    stops.push(() => callgate.stop());
    let twin: SipRig['twin'];
    if (options.twinEnv) {
      const drTwin = await startDrachtio(`${name}-twin`);
      stops.push(() => drTwin.stop());
      const twinCallgate = await start('bench-twin', drTwin, options.twinEnv);
      stops.push(() => twinCallgate.stop());
      twin = { callgate: twinCallgate, drachtio: drTwin };
    }
    const bare = new Child(`${name}-bare-b2bua`, process.execPath, ['--import', 'tsx', 'bench/bare-b2bua.ts', String(drBare.adminPort), drBare.secret, uas.uri]);
    stops.push(() => bare.stop());
    await bare.waitForOutput(/connected to drachtio-server/, 30_000);
    await sleep(1000);
    return {
      callgate, drCallgate, drBare, bare, built, stop, redisUrl: redis.url, prefix, adopt: (s) => void stops.push(s), ...(twin ? { twin } : {}),
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface Rung {
  cps: number;
  calls: number;
  ok: number;
  failed: number;
  retrans: number;
  pass: boolean;
}

/** One rung: `seconds` of 1-s answered calls at `cps`, judged on SIPp's final counts (< 0.1% failed, retransmissions < 5%). */
export async function rung(name: string, target: string, cps: number, seconds: number): Promise<Rung> {
  const calls = Math.round(cps * seconds);
  const run = await startSipp({
    name: `${name}-${cps}`, scenario: 'uac-answered', target, service: BENCH_DIALED, calls, rate: cps, holdMs: 1000,
    limit: Math.max(50, cps * 4), timeoutMs: (seconds + 30) * 1000,
  });
  const r = await run.done;
  const retrans = Number(r.stats['Retransmissions(C)'] ?? 0);
  const ok = Number.isFinite(r.successful) ? r.successful : 0;
  const failed = Number.isFinite(r.failed) ? r.failed : calls;
  const lost = Math.max(0, calls - ok - failed);
  const pass = ok > 0 && (failed + lost) / calls < 0.001 && retrans / calls < 0.05;
  return { cps, calls, ok, failed: failed + lost, retrans, pass };
}

/**
 * A system's highest passing rate: up by half each rung from 50 cps until a rung fails (or `maxCps`), then
 * three bisections between the last pass and the first failure.
 */
export async function findMaxCps(
  name: string, target: string, o: { seconds: number; maxCps: number; log: (line: string) => void },
): Promise<{ max: number; rungs: Rung[] }> {
  const rungs: Rung[] = [];
  const report = (s: Rung) =>
    o.log(`  ${name.padEnd(9)} ${String(s.cps).padStart(5)} cps: ${s.ok}/${s.calls} ok, ${s.failed} failed, ${s.retrans} retransmissions ${s.pass ? '' : '  <- over'}`);
  let best = 0;
  let cps = 50;
  let failedAt = 0;
  while (cps <= o.maxCps) {
    const s = await rung(name, target, cps, o.seconds);
    rungs.push(s);
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
    const s = await rung(name, target, mid, o.seconds);
    rungs.push(s);
    report(s);
    if (s.pass) best = mid;
    else failedAt = mid;
  }
  return { max: best, rungs };
}

/** A call not answered within this long (SIPp -recv_timeout) is failed: a caller waiting longer has hung up. */
const RECV_TIMEOUT_MS = 8000;

/** One SIPp uac-load run: answered or refused calls, counted per second and per call. */
export interface LoadRun {
  stats: Record<string, string>[];
  /** Per answered call: when its 200 came (ms from the run's start) and its INVITE-to-200 time (ms). */
  answers: { atMs: number; ms: number }[];
}

/**
 * `seconds` of 1-s calls offered at `cps` by SIPp's uac-load scenario (it counts 503s and other refusals
 * apart from failures), with per-second statistics and each answered call's INVITE-to-200 time.
 */
export async function loadRun(name: string, target: string, cps: number, seconds: number): Promise<LoadRun> {
  const dir = mkdtempSync(join(tmpdir(), `callgate-bench-${name}-`));
  writeFileSync(join(dir, 'calls.csv'), `SEQUENTIAL\n${BENCH_DIALED};15551230000\n`);
  const port = await freeSipPort();
  const calls = Math.max(1, Math.round(cps * seconds));
  const child = new Child(name, sippBin!, [
    target, '-sf', join(REPO_ROOT, 'sipp-scenarios', 'uac-load.xml'), '-inf', join(dir, 'calls.csv'),
    '-i', '127.0.0.1', '-p', String(port), '-nostdin',
    '-r', String(cps), '-rp', '1000', '-m', String(calls), '-l', '1000000', '-d', '1000',
    '-recv_timeout', String(RECV_TIMEOUT_MS), '-timeout', `${seconds + 60}s`,
    '-trace_stat', '-stf', join(dir, 'stat.csv'), '-fd', '1',
    '-trace_rtt', '-rtt_freq', '1',
  ], { cwd: dir, keepText: false });
  await child.exited;
  const [header, ...rows] = readFileSync(join(dir, 'stat.csv'), 'utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
  const names = header!.split(';');
  const stats = rows.map((r) => Object.fromEntries(r.split(';').map((v, i) => [names[i], v])));
  const rttFile = readdirSync(dir).find((f) => f.endsWith('_rtt.csv'));
  const answers = rttFile
    ? readFileSync(join(dir, rttFile), 'utf8').split(/\r?\n/).slice(1).filter((l) => l.trim() !== '').map((l) => {
      const [at, ms] = l.split(';');
      return { atMs: Number(at), ms: Number(ms) };
    })
    : [];
  return { stats, answers };
}

export const count = (row: Record<string, string> | undefined, column: string) => Number(row?.[column] ?? 0) || 0;

export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Calls that did not end as answered or refused 503: SIPp's failures, other codes, and calls never ended. */
export function failedOf(run: LoadRun, offered: number): number {
  const last = run.stats.at(-1);
  const ended = count(last, 'SuccessfulCall(C)') + count(last, 'FailedCall(C)');
  return count(last, 'FailedCall(C)') + count(last, 'refused_402(C)') + count(last, 'refused_403(C)') + Math.max(0, offered - ended);
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? 'NaN');
  return kb * 1024;
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // the fields after the command name, which is in parentheses and may hold spaces
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100; // USER_HZ on Linux
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}
