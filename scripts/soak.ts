/**
 * soak: hours-long mixed SIPp traffic through callgate, then the books are checked to the micro-dollar.
 *
 *   npm run soak -- [--minutes 30] [--cps N | --max-cps M] [--topup-seconds 5] [--keep]
 *
 * Rate: pass `--max-cps` the `callgate_max_cps` figure `npm run bench:sip` printed on this machine, and the
 * soak runs at half of it; or give `--cps` directly. Without either it runs at half of 100 (50 cps).
 *
 * It starts everything itself on loopback: redis-server, drachtio-server, a SIPp UAS standing in for the
 * switch (it answers, or rings until cancelled when the number starts 4429), and callgate built from dist/
 * (`npm run build` first). Needs `drachtio` (PATH or DRACHTIO_BIN), `sipp` and `redis-server`. Not part of CI.
 *
 * Traffic, as shares of the rate, one SIPp process each:
 *   answered    38%  funded account, taxed, 3 s calls
 *   long         5%  60 s calls: half on a funded exempt account, half on one with 5 channels (503 channel limit)
 *   cancel      10%  the switch rings, the caller CANCELs after 1 s
 *   refused     13%  account OFF (manual) 403, OFF for funds 402, not enough for the first reservation 402, no rate 403
 *   unknown      4%  from 127.0.0.2, which no account owns: 403
 *   cps         10%  an account whose CPS limit is a third of what it sends: answered (2 s) or 503 + Retry-After
 *   depletion   20%  four small-balance accounts at $6/min, 75 s calls (longer than the 30 s reservation unit),
 *                    12 channels each, topped up every few
 *                    seconds by this script through the account service while calls run: calls torn down
 *                    mid-call for funds, refusals for funds and for channels, OFF and back ON
 *
 * At the end it waits for the calls to drain and checks, exiting 1 if any check fails:
 *   - no lease, live call, reservation or undrained CDR stream left in Redis;
 *   - per account, balance at start + funds applied - balance at end == sum of the CDR totals in the JSONL files;
 *   - every SIPp call has exactly one CDR (joined on the SIP Call-ID), and the mix produced every outcome;
 *   - the events outbox: no webhook dispatcher is configured, so every event stays in its account's stream;
 *     each stream is read whole and accounted for (call_torn_down events == funds teardown CDRs, status_changed
 *     events chain from one state to the next and end at the account's current state);
 *   - callgate's live heap, weighed after a full GC through its inspector (NODE_OPTIONS=--inspect on loopback),
 *     is as small after the drain as before the traffic (within 5% + 4 MB): no state per call is left behind;
 *   - callgate's RSS is flat (after the drain, within 25% + 20 MB of its level early in the run), no error logged.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedisServer } from '../test/helpers/redis-servers.js';
import {
  Child, REPO_ROOT, SCENARIO_DIR, TAXES_JSON, drachtioBin, freeSipPort, sippBin, startCallgate, startDrachtio, udpPortFree,
} from '../test/helpers/sip-stack.js';
import { loadConfig } from '../src/config/index.js';
import { connectRedis } from '../src/redis/client.js';
import { createKeys } from '../src/redis/keys.js';
import { createEngine } from '../src/redis/engine.js';
import { decodeAccountHash } from '../src/redis/codecs/account-hash.js';
import { createAccountService } from '../src/accounts/service.js';
import { formatUsd } from '../src/rating/money.js';

// ------------------------------------------------------------------------------------------- options

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log('usage: npm run soak -- [--minutes 30] [--cps N | --max-cps M] [--topup-seconds 5] [--keep]');
  console.log('Mixed SIPp traffic through callgate for --minutes, then the books are checked; see scripts/soak.ts.');
  process.exit(0);
}
function opt(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
const num = (name: string, dflt: number): number => {
  const v = opt(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`soak: ${name} must be a positive number, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
};
const MINUTES = num('--minutes', 30);
const MAX_CPS = num('--max-cps', 100);
const CPS = num('--cps', MAX_CPS / 2);
const TOPUP_SECONDS = num('--topup-seconds', 5);
const KEEP = args.includes('--keep');
const TRAFFIC_SECONDS = Math.round(MINUTES * 60);

/** callgate's timing for the soak: production-like units, short enough that teardowns and sweeps show. */
const TIMING = { tickIntervalMs: 2000, leaseTtlMs: 10_000, sweepIntervalMs: 5000, reservationSeconds: 30 } as const;

if (!drachtioBin || !sippBin) {
  console.error(`soak needs drachtio-server and sipp: ${!drachtioBin ? 'no drachtio binary (PATH or DRACHTIO_BIN)' : 'no sipp on PATH'}`);
  process.exit(2);
}
const builtEntry = join(REPO_ROOT, 'dist', 'cli', 'main.js');
if (!existsSync(builtEntry)) {
  console.error('soak runs callgate built from dist/: run `npm run build` first');
  process.exit(2);
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

// ------------------------------------------------------------------------------------ scenarios

/** The switch (sipp-scenarios/uas-soak.xml): rings until cancelled when the number starts 4429, else answers. */
const UAS_SCENARIO_FILE = join(SCENARIO_DIR, 'uas-soak.xml');

/** The caller of every class but cancel (sipp-scenarios/uac-soak.xml); its hold is the BYE timeout. */
const UAC_SCENARIO = readFileSync(join(SCENARIO_DIR, 'uac-soak.xml'), 'utf8');
const UAC_HOLD = /(<recv request="BYE" timeout=")\d+(")/g;
if ((UAC_SCENARIO.match(UAC_HOLD) ?? []).length !== 1) {
  console.error('soak: sipp-scenarios/uac-soak.xml must have exactly one <recv request="BYE" timeout="..."> (the hold)');
  process.exit(2);
}
/** uac-soak.xml held `holdMs` (SIPp takes no variable in a timeout attribute). */
const uacXml = (holdMs: number) => UAC_SCENARIO.replace(UAC_HOLD, `$1${holdMs}$2`);

// ------------------------------------------------------------------------------------------- SIPp

function parseStatCsv(text: string): Record<string, string> {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) return {};
  const header = lines[0]!.split(';');
  const row = lines[lines.length - 1]!.split(';');
  return Object.fromEntries(header.map((h, i) => [h, row[i] ?? '']).filter(([h]) => h));
}

interface TrafficClass {
  name: string;
  share: number;
  /** Scenario file; the soak's own UAC unless given. */
  scenario?: string;
  holdMs: number;
  /** -inf lines (without the SEQUENTIAL header): `<R-URI user>;<From user>`. */
  lines?: string[];
  /** -s, for scenarios that dial [service]. */
  service?: string;
  localIp?: string;
}

interface ClassRun {
  cls: TrafficClass;
  rate: number;
  calls: number;
  callIdPrefix: string;
  child: Child;
  statFile: string;
}

interface ClassResult {
  cls: TrafficClass;
  callIdPrefix: string;
  code: number | null;
  stats: Record<string, string>;
  created: number;
  successful: number;
  failed: number;
  counters: Record<string, number>;
}

// ----------------------------------------------------------------------------------------- helpers

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? 'NaN') * 1024;
}
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/**
 * callgate's live JavaScript heap: a full garbage collection through its inspector (loopback, started by
 * NODE_OPTIONS=--inspect), then the used size. RSS alone cannot tell a leak from a heap V8 has not given back.
 */
async function heapUsedAfterGc(inspectorUrl: string): Promise<number> {
  const ws = new WebSocket(inspectorUrl);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`cannot reach callgate's inspector at ${inspectorUrl}`));
  });
  let nextId = 0;
  const pending = new Map<number, (result: unknown) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(String(e.data)) as { id?: number; result?: unknown };
    if (m.id !== undefined) pending.get(m.id)?.(m.result);
  };
  const call = (method: string) =>
    new Promise<unknown>((resolve) => {
      const id = ++nextId;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method }));
    });
  try {
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage'); // a second pass frees what the first one's finalizers let go
    return ((await call('Runtime.getHeapUsage')) as { usedSize: number }).usedSize;
  } finally {
    ws.close();
  }
}

interface Cdr {
  call_id: string;
  sip_call_id: string;
  account_id: string | null;
  answered_at: string | null;
  disposition: string;
  reason: string;
  total: number;
}

function readCdrs(dir: string): Cdr[] {
  const out: Cdr[] = [];
  if (!existsSync(dir)) return out;
  for (const day of readdirSync(dir, { withFileTypes: true })) {
    if (!day.isDirectory() || !/^\d{4}-\d{2}-\d{2}$/.test(day.name)) continue;
    for (const f of readdirSync(join(dir, day.name))) {
      if (!f.endsWith('.jsonl')) continue;
      for (const line of readFileSync(join(dir, day.name, f), 'utf8').split('\n')) {
        if (line.trim()) out.push(JSON.parse(line) as Cdr);
      }
    }
  }
  return out;
}

const checks: { name: string; ok: boolean; detail: string }[] = [];
function check(name: string, ok: boolean, detail: string): void {
  checks.push({ name, ok, detail });
}

// ------------------------------------------------------------------------------------------- main

const stops: (() => Promise<void>)[] = [];
const startedAt = Date.now();
const log = (s: string) => console.log(`[soak +${String(Math.round((Date.now() - startedAt) / 1000)).padStart(5)} s] ${s}`);
let exitCode = 0;
const workDir = mkdtempSync(join(tmpdir(), 'callgate-soak-'));
const cdrDir = join(workDir, 'cdr');
mkdirSync(cdrDir);

try {
  if (newestMtime(join(REPO_ROOT, 'src')) > statSync(builtEntry).mtimeMs) {
    log('WARNING: src/ has changed since dist/ was built: this soaks the build, not the sources (npm run build)');
  }
  log(`soak: ${MINUTES} min at ${CPS} cps${opt('--cps') ? '' : ` (half of --max-cps ${MAX_CPS}${opt('--max-cps') ? '' : ', the default; pass bench:sip\'s callgate_max_cps'})`}; work dir ${workDir}`);

  // ------------------------------------------------------------------------------- Redis, accounts
  const redis = await startRedisServer();
  stops.push(() => redis.stop());
  const prefix = `soak${randomBytes(3).toString('hex')}:`;
  const config = loadConfig({ env: {}, overrides: { redis: { url: redis.url, keyPrefix: prefix } } });
  const conn = await connectRedis(config);
  stops.push(() => conn.close());
  const r = conn.redis;
  const keys = createKeys(prefix);
  const engine = createEngine({ redis: r, keys, switchId: 'soak-admin', leaseTtlMs: TIMING.leaseTtlMs });
  const accounts = createAccountService({ redis: r, keys, engine, config });
  await accounts.loadRateDeck(
    'soak',
    [
      'prefix,rate_per_min,first_increment,next_increment,connect_fee',
      '44,0.012345,6,6,0.001', // answered, long, cancel, cps
      '4477,20,6,6,', // premium: a first reservation ($10) above the thin account's $5
      '4478,6,1,1,', // $0.10 a second, per second: mid-call depletion
      '',
    ].join('\n'),
  );

  const rateOf = (share: number) => CPS * share;
  const depAccounts = ['dep1', 'dep2', 'dep3', 'dep4'];
  const depChannels = 12;
  // longer than one reservation unit (30 s), so that a call needs its reservation extended mid-call
  const depHoldMs = 75_000;
  const cpsSent = rateOf(0.1);
  const cpsLimit = Math.max(1, Math.floor(cpsSent / 3));
  const base = { type: 'prepaid', channels: 100_000, cps: 10_000, billingCountry: 'US', deckId: 'soak', ips: ['127.0.0.1'] } as const;
  const specs: Record<string, { prefix: string; input: Record<string, unknown>; funds?: string; off?: boolean }> = {
    ans: { prefix: '9101', input: { ...base, fusfOnFile: false }, funds: '1000000' },
    long: { prefix: '9102', input: { ...base, billingCountry: 'GB' }, funds: '1000000' },
    cxl: { prefix: '9103', input: base, funds: '1000' },
    cpsl: { prefix: '9104', input: { ...base, cps: cpsLimit, burst: cpsLimit }, funds: '1000000' },
    offman: { prefix: '9105', input: base, funds: '100', off: true },
    broke: { prefix: '9106', input: base },
    thin: { prefix: '9107', input: base, funds: '5' },
    chanl: { prefix: '9108', input: { ...base, channels: 5 }, funds: '1000000' },
    ...Object.fromEntries(
      depAccounts.map((id, i) => [
        id,
        { prefix: `920${i + 1}`, input: { ...base, channels: depChannels, billingCountry: i % 2 === 0 ? 'US' : 'GB', lowBalanceThreshold: '2' }, funds: '5' },
      ]),
    ),
  };
  for (const [id, s] of Object.entries(specs)) {
    await accounts.putAccount(id, { ...s.input, techPrefix: s.prefix }, { mode: 'create' });
    if (s.funds) await accounts.applyFunds(id, s.funds, `soak-seed-${id}`);
    if (s.off) await accounts.setStatus(id, 'off', 'soak: manual OFF');
  }
  const dial = (id: string, number: string) => `${specs[id]!.prefix}${number}`;

  // ----------------------------------------------------------------------- drachtio, switch, callgate
  const drachtio = await startDrachtio('soak');
  stops.push(() => drachtio.stop());
  const uasPort = await freeSipPort();
  const uas = new Child('soak-uas', sippBin, ['-sf', UAS_SCENARIO_FILE, '-i', '127.0.0.1', '-p', String(uasPort), '-nostdin', '-trace_err', '-error_file', join(workDir, 'uas-errors.log')], {
    keepText: false,
  });
  stops.push(() => uas.stop('SIGTERM', 2000));
  for (let i = 0; i < 100 && (await udpPortFree(uasPort)); i++) {
    if (!uas.running) throw new Error(`the SIPp UAS exited at start; see ${uas.logPath}`);
    await sleep(50);
  }
  const callgate = await startCallgate({
    name: 'soak', switchId: 'soak1', redisUrl: redis.url, keyPrefix: prefix, cdrDir, drachtio, routeUris: [`sip:127.0.0.1:${uasPort}`], built: true,
    env: {
      NODE_ENV: 'production', CALLGATE_LOG_LEVEL: 'info', CALLGATE_TICK_INTERVAL_MS: String(TIMING.tickIntervalMs),
      CALLGATE_LEASE_TTL_MS: String(TIMING.leaseTtlMs), CALLGATE_SWEEP_INTERVAL_MS: String(TIMING.sweepIntervalMs),
      CALLGATE_RESERVATION_SECONDS: String(TIMING.reservationSeconds), CALLGATE_TAXES: TAXES_JSON, CALLGATE_CDR_RECORD_REJECTED: 'true',
      CALLGATE_DRAIN_TIMEOUT_MS: '5000',
      // the inspector, on loopback and a port of the kernel's choosing, lets the soak weigh the live heap
      NODE_OPTIONS: '--inspect=127.0.0.1:0',
    },
  });
  stops.push(() => callgate.stop());
  const pid = callgate.child.proc.pid!;
  await callgate.child.waitForOutput(/Debugger listening on ws:\/\/\S+/, 5000);
  const inspectorUrl = /Debugger listening on (ws:\/\/\S+)/.exec(callgate.child.output)![1]!;
  log(`stack up: redis ${redis.port}, drachtio SIP ${drachtio.sipPort}, switch ${uasPort}, callgate pid ${pid} (dist build); log ${callgate.child.logPath}`);
  await sleep(1000);

  // ------------------------------------------------------------------------------------- traffic
  const london = '4420712345678';
  const classes: TrafficClass[] = [
    { name: 'answered', share: 0.38, holdMs: 3000, lines: [`${dial('ans', london)};ans`] },
    { name: 'long', share: 0.05, holdMs: 60_000, lines: [`${dial('long', london)};long`, `${dial('chanl', london)};chanl`] },
    { name: 'cancel', share: 0.1, holdMs: 0, scenario: join(SCENARIO_DIR, 'uac-cancel.xml'), service: dial('cxl', '4429123456789') },
    {
      name: 'refused', share: 0.13, holdMs: 1000,
      lines: [`${dial('offman', london)};offman`, `${dial('broke', london)};broke`, `${dial('thin', '447700900123')};thin`, `${dial('ans', '999123456')};norate`],
    },
    { name: 'unknown', share: 0.04, holdMs: 1000, localIp: '127.0.0.2', lines: [`${london};stranger`] },
    { name: 'cps', share: 0.1, holdMs: 2000, lines: [`${dial('cpsl', london)};cpsl`] },
    { name: 'depletion', share: 0.2, holdMs: depHoldMs, lines: depAccounts.map((id) => `${dial(id, '447800900123')};${id}`) },
  ];

  // the balance of every account just before traffic: the books are checked from here
  const balanceOf = async (id: string) => decodeAccountHash((await r.hGetAll(keys.account(id))) as Record<string, string>).balance;
  const startBalance = new Map<string, number>();
  for (const id of Object.keys(specs)) startBalance.set(id, await balanceOf(id));
  const applied = new Map<string, number>(Object.keys(specs).map((id) => [id, 0]));

  const target = `127.0.0.1:${drachtio.sipPort}`;
  const runs: ClassRun[] = [];
  for (const cls of classes) {
    const rate = rateOf(cls.share);
    const calls = Math.max(1, Math.round(rate * TRAFFIC_SECONDS));
    const perTenSeconds = Math.max(1, Math.round(rate * 10));
    const callIdPrefix = `soak${cls.name}${randomBytes(3).toString('hex')}`;
    const file = (ext: string) => join(workDir, `${cls.name}-${ext}`);
    const scenarioFile = cls.scenario ?? file('uac.xml');
    if (!cls.scenario) writeFileSync(scenarioFile, uacXml(cls.holdMs));
    const sippArgs = [
      target, '-sf', scenarioFile, '-i', cls.localIp ?? '127.0.0.1', '-p', String(await freeSipPort()), '-nostdin',
      '-m', String(calls), '-r', String(perTenSeconds), '-rp', '10000', '-l', String(Math.ceil(rate * (cls.holdMs / 1000 + 2) * 2) + 20),
      '-cid_str', `${callIdPrefix}-%u-%p@%s`,
      '-timeout', `${TRAFFIC_SECONDS + Math.ceil(cls.holdMs / 1000) + 120}s`, '-timeout_error',
      '-trace_stat', '-stf', file('stat.csv'), '-fd', '10', '-trace_err', '-error_file', file('errors.log'),
    ];
    if (cls.lines) {
      writeFileSync(file('inject.csv'), `SEQUENTIAL\n${cls.lines.join('\n')}\n`);
      sippArgs.push('-inf', file('inject.csv'));
    }
    if (cls.service) sippArgs.push('-s', cls.service);
    runs.push({ cls, rate, calls, callIdPrefix, child: new Child(`soak-${cls.name}`, sippBin, sippArgs, { keepText: false }), statFile: file('stat.csv') });
  }
  for (const run of runs) stops.push(() => run.child.stop('SIGKILL', 0));
  const heapBefore = await heapUsedAfterGc(inspectorUrl);
  log(`callgate heap after a full GC, before traffic: ${mb(heapBefore)}`);
  const trafficStart = Date.now();
  const rss: { t: number; bytes: number }[] = [{ t: 0, bytes: rssBytes(pid) }];
  log(`traffic started: ${runs.map((x) => `${x.cls.name} ${x.rate.toFixed(2)} cps x ${x.calls}`).join(', ')}; CPS limit of cpsl ${cpsLimit}`);

  // top-ups: roughly half of what the depletion accounts burn, so they run dry, go OFF, and come back ON
  const depRatePerAccount = rateOf(0.2) / depAccounts.length;
  const concurrentPerAccount = Math.min(depChannels, depRatePerAccount * (depHoldMs / 1000));
  const topupUsd = Math.max(1, Math.round(0.5 * concurrentPerAccount * 0.1 * TOPUP_SECONDS * 100) / 100).toFixed(2);
  let topupSeq = 0;
  let trafficOver = false;
  const topups = (async () => {
    while (!trafficOver) {
      await sleep(TOPUP_SECONDS * 1000);
      if (trafficOver) break;
      for (const id of depAccounts) {
        const res = await accounts.applyFunds(id, topupUsd, `soak-topup-${++topupSeq}`);
        if (res.outcome === 'applied') applied.set(id, applied.get(id)! + res.amount);
      }
    }
  })();

  const progress = setInterval(() => {
    void (async () => {
      const live = (await Promise.all(Object.keys(specs).map((id) => r.hLen(keys.calls(id))))).reduce((a, b) => a + Number(b), 0);
      const bytes = rssBytes(pid);
      rss.push({ t: (Date.now() - trafficStart) / 1000, bytes });
      log(`live call records ${live}, callgate RSS ${mb(bytes)}, top-ups ${topupSeq} x $${topupUsd}`);
    })().catch(() => {});
  }, 30_000);

  await sleep(TRAFFIC_SECONDS * 1000);
  trafficOver = true;
  await topups;
  log('traffic window over: waiting for the SIPp runs to finish their calls');
  const results: ClassResult[] = [];
  for (const run of runs) {
    const { code } = await run.child.exited;
    const stats = existsSync(run.statFile) ? parseStatCsv(readFileSync(run.statFile, 'utf8')) : {};
    const n = (k: string) => Number(stats[k] ?? 0) || 0;
    const counters = Object.fromEntries(
      Object.entries(stats)
        .filter(([k]) => /^(answered|torn_down|hung_up|refused_\d+)\(C\)$/.test(k))
        .map(([k, v]) => [k.replace('(C)', ''), Number(v) || 0]),
    );
    results.push({
      cls: run.cls, callIdPrefix: run.callIdPrefix, code, stats, created: n('TotalCallCreated'), successful: n('SuccessfulCall(C)'), failed: n('FailedCall(C)'), counters,
    });
  }
  clearInterval(progress);

  // ---------------------------------------------------------------------------------------- drain
  const allIds = Object.keys(specs);
  const drainDeadline = Date.now() + TIMING.leaseTtlMs + TIMING.sweepIntervalMs + 30_000;
  const outstanding = async () => {
    let n = 0;
    for (const id of allIds) {
      n += Number(await r.hLen(keys.calls(id))) + Number(await r.zCard(keys.expiry(id)));
      if (await r.exists(keys.cdrs(id))) n += Number(await r.xLen(keys.cdrs(id)));
    }
    return n;
  };
  while ((await outstanding()) > 0 && Date.now() < drainDeadline) await sleep(250);
  await sleep(2000); // the CDR writer's last batch reaches the files
  const drainedAt = Date.now();
  log(`drained ${((drainedAt - trafficStart) / 1000 - TRAFFIC_SECONDS).toFixed(1)} s after the traffic window`);

  // ---------------------------------------------------------------------------------------- checks
  console.log('');
  console.log('SIPp, per class (created / successful / failed; scenario counters):');
  for (const x of results) {
    console.log(
      `  ${x.cls.name.padEnd(10)} ${String(x.created).padStart(7)} / ${String(x.successful).padStart(7)} / ${String(x.failed).padStart(5)}  exit ${x.code}  ` +
        `${JSON.stringify(x.counters)}  retransmissions ${x.stats['Retransmissions(C)'] ?? '?'}`,
    );
  }
  const created = results.reduce((a, x) => a + x.created, 0);
  const failed = results.reduce((a, x) => a + x.failed, 0);
  check('SIPp calls failed < 0.5%', created > 0 && failed / created < 0.005, `${failed} of ${created} calls failed (timeouts, unexpected messages)`);

  // leases and live state
  const leaseKeys: string[] = [];
  for await (const batch of (r as unknown as { scanIterator(o: object): AsyncIterable<string[]> }).scanIterator({ MATCH: `${prefix}*:leases:*`, COUNT: 1000 })) {
    leaseKeys.push(...batch);
  }
  let leases = 0;
  for (const k of leaseKeys) leases += Number(await r.zCard(k));
  let expiry = 0;
  let live = 0;
  let reserved = 0;
  let cdrStreams = 0;
  for (const id of allIds) {
    expiry += Number(await r.zCard(keys.expiry(id)));
    live += Number(await r.hLen(keys.calls(id)));
    reserved += decodeAccountHash((await r.hGetAll(keys.account(id))) as Record<string, string>).reserved;
    if (await r.exists(keys.cdrs(id))) cdrStreams += Number(await r.xLen(keys.cdrs(id)));
  }
  check('zero leases', leases === 0 && expiry === 0, `${leases} lease members in ${leaseKeys.length} lease keys, ${expiry} expiry entries`);
  check('no live call, reservation or undrained CDR left', live === 0 && reserved === 0 && cdrStreams === 0, `calls ${live}, reserved ${reserved} µ$, CDR stream entries ${cdrStreams}`);

  // the books
  const cdrs = readCdrs(cdrDir);
  const byAccount = new Map<string, Cdr[]>();
  for (const c of cdrs) {
    if (!c.account_id) continue;
    const list = byAccount.get(c.account_id);
    if (list) list.push(c);
    else byAccount.set(c.account_id, [c]);
  }
  console.log('');
  console.log('Books, per account (µ$): balance at start + funds applied - balance at end == sum of CDR totals');
  let booksOk = true;
  for (const id of allIds) {
    const end = await balanceOf(id);
    const moved = startBalance.get(id)! + applied.get(id)! - end;
    const charged = (byAccount.get(id) ?? []).reduce((a, c) => a + c.total, 0);
    const ok = moved === charged;
    booksOk &&= ok;
    console.log(
      `  ${id.padEnd(7)} start ${formatUsd(startBalance.get(id)!).padStart(15)} + applied ${formatUsd(applied.get(id)!).padStart(11)} - end ${formatUsd(end).padStart(15)} = ${String(moved).padStart(12)}` +
        `  CDRs ${String(byAccount.get(id)?.length ?? 0).padStart(6)} sum ${String(charged).padStart(12)}  ${ok ? 'ok' : 'MISMATCH'}`,
    );
  }
  check('balances reconcile with CDR sums exactly', booksOk, 'every account, to the micro-dollar');

  // exactly one CDR per SIPp call
  const bySipCallId = new Map<string, number>();
  for (const c of cdrs) bySipCallId.set(c.sip_call_id, (bySipCallId.get(c.sip_call_id) ?? 0) + 1);
  const dupes = [...bySipCallId].filter(([, n]) => n > 1);
  check('no call has two CDRs', dupes.length === 0, dupes.length === 0 ? `${cdrs.length} CDRs, ${bySipCallId.size} calls` : `e.g. ${dupes.slice(0, 3).map(([k, n]) => `${k} x${n}`).join(', ')}`);
  const perClass: string[] = [];
  let everyCallOk = true;
  for (const x of results) {
    const withCdr = [...bySipCallId.keys()].filter((k) => k.startsWith(`${x.callIdPrefix}-`)).length;
    everyCallOk &&= withCdr === x.created;
    perClass.push(`${x.cls.name} ${withCdr}/${x.created}`);
  }
  check('every SIPp call has a CDR (joined on Call-ID)', everyCallOk, perClass.join(', '));

  // the mix produced every outcome
  const outcome = new Map<string, number>();
  for (const c of cdrs) outcome.set(`${c.disposition}/${c.reason}`, (outcome.get(`${c.disposition}/${c.reason}`) ?? 0) + 1);
  console.log('');
  console.log(`CDRs by disposition/reason: ${JSON.stringify(Object.fromEntries([...outcome].sort((a, b) => b[1] - a[1])))}`);
  const expected = [
    'answered/caller_bye', 'cancelled/caller_cancel', 'torn_down/funds_exhausted', 'rejected/off_manual', 'rejected/off_funds',
    'rejected/insufficient_funds', 'rejected/unknown_account', 'rejected/no_rate', 'rejected/cps_exceeded', 'rejected/channel_limit',
  ];
  const missing = expected.filter((k) => !outcome.get(k));
  check('the mix produced every outcome', missing.length === 0, missing.length === 0 ? expected.join(', ') : `missing: ${missing.join(', ')}`);

  // the events outbox
  let events = 0;
  let streams = 0;
  let groups = 0;
  const eventProblems: string[] = [];
  const byType = new Map<string, number>();
  for (const id of allIds) {
    if (!(await r.exists(keys.events(id)))) continue;
    streams++;
    const xlen = Number(await r.xLen(keys.events(id)));
    groups += (await r.xInfoGroups(keys.events(id))).length;
    const entries = (await r.xRange(keys.events(id), '-', '+')) as { id: string; message: Record<string, string> }[];
    events += entries.length;
    if (entries.length !== xlen) eventProblems.push(`${id}: XLEN ${xlen} but ${entries.length} entries read`);
    let teardowns = 0;
    let last: { status: string; offReason: string } | undefined;
    for (const e of entries) {
      const m = e.message;
      byType.set(m.type ?? '?', (byType.get(m.type ?? '?') ?? 0) + 1);
      if (m.type === 'call_torn_down') teardowns++;
      if (m.type === 'status_changed') {
        if (last && m.previous !== `${last.status}/${last.offReason}`) eventProblems.push(`${id}: status_changed ${e.id} from ${m.previous}, but the last state was ${last.status}/${last.offReason}`);
        last = { status: m.status ?? '', offReason: m.offReason ?? '' };
      }
    }
    const acct = decodeAccountHash((await r.hGetAll(keys.account(id))) as Record<string, string>);
    if (last && (last.status !== acct.status || last.offReason !== acct.offReason)) {
      eventProblems.push(`${id}: the last status_changed says ${last.status}/${last.offReason}, the account is ${acct.status}/${acct.offReason}`);
    }
    const fundsTeardowns = (byAccount.get(id) ?? []).filter((c) => c.reason === 'funds_exhausted').length;
    if (teardowns !== fundsTeardowns) eventProblems.push(`${id}: ${teardowns} call_torn_down events, ${fundsTeardowns} funds_exhausted CDRs`);
  }
  check(
    'events outbox accounted for',
    eventProblems.length === 0 && groups === 0,
    `no webhook dispatcher configured: ${events} events held in ${streams} streams ${JSON.stringify(Object.fromEntries(byType))}, ${groups} consumer groups; ` +
      `call_torn_down == funds teardown CDRs, status_changed chains end at each account's state${eventProblems.length ? `; PROBLEMS: ${eventProblems.slice(0, 5).join('; ')}` : ''}`,
  );

  // callgate itself
  const heapAfter = await heapUsedAfterGc(inspectorUrl);
  // a fixed bound, not a share of the calls: start-up state (compiled code, metric label sets) is under 1 MB
  // here, so 4 MB is a leak of 10 bytes a call over 30 minutes at 250 cps
  const heapFlat = heapAfter <= heapBefore * 1.05 + 4 * 1024 * 1024;
  check(
    'callgate heap flat (no leak)',
    heapFlat,
    `live heap after a full GC: before traffic ${mb(heapBefore)}, after the drain ${mb(heapAfter)} ` +
      `(${heapAfter >= heapBefore ? '+' : ''}${((heapAfter - heapBefore) / 1024).toFixed(0)} KiB over ${created} calls, ` +
      `${((heapAfter - heapBefore) / Math.max(1, created)).toFixed(1)} bytes a call; bound +5% + 4 MB)`,
  );
  const rssEnd = rssBytes(pid);
  rss.push({ t: (drainedAt - trafficStart) / 1000, bytes: rssEnd });
  const early = rss.find((s) => s.t >= Math.min(60, TRAFFIC_SECONDS / 4)) ?? rss[rss.length - 1]!;
  const peak = Math.max(...rss.map((s) => s.bytes));
  const flat = rssEnd <= early.bytes * 1.25 + 20 * 1024 * 1024;
  check(
    'callgate RSS flat',
    flat,
    `before traffic ${mb(rss[0]!.bytes)}, at +${Math.round(early.t)} s ${mb(early.bytes)}, peak ${mb(peak)}, after the drain ${mb(rssEnd)} ` +
      `(samples: ${rss.map((s) => `${Math.round(s.t)}s=${(s.bytes / 1024 / 1024).toFixed(0)}`).join(' ')})`,
  );
  const logText = readFileSync(callgate.child.logPath, 'utf8');
  const errorLines = logText.split('\n').filter((l) => /"level":(50|60)/.test(l));
  check('callgate alive, no error logged', callgate.child.running && errorLines.length === 0, `${callgate.child.running ? 'running' : 'EXITED'}; ${errorLines.length} error lines${errorLines[0] ? `, first: ${errorLines[0].slice(0, 300)}` : ''}`);

  console.log('');
  for (const c of checks) console.log(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
  exitCode = checks.every((c) => c.ok) ? 0 : 1;
  console.log('');
  console.log(`soak ${exitCode === 0 ? 'passed' : 'FAILED'}: ${MINUTES} min at ${CPS} cps, ${created} calls, ${cdrs.length} CDRs; total ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
} catch (err) {
  console.error('soak aborted:', err);
  exitCode = 2;
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (exitCode === 0 && !KEEP) rmSync(workDir, { recursive: true, force: true });
  else console.log(`work dir kept (CDR files, SIPp stats and logs): ${workDir}`);
}
process.exit(exitCode);
