/**
 * bench:sip — what callgate costs a call, through a real drachtio-server, against a bare drachtio-srf B2BUA
 * with no admission (bench/bare-b2bua.ts), measured in the same run on the same route:
 *
 * 1. Maximum rate: the highest call rate held with < 0.1% failed calls and no retransmission storm, for
 *    callgate as shipped (traffic figures kept), for the same callgate with traffic figures off (a second
 *    instance, `bench-twin`, on its own drachtio-server), and for the bare B2BUA.
 * 2. Post-dial delay added: at 50% and 80% of the bare maximum, `--load-seconds` of calls through each
 *    system; INVITE-to-200 p50 and p99 of the answered calls (SIPp's per-call response time), and callgate's
 *    minus the bare B2BUA's (pdd_added_*). Node CPU per answered call is read from /proc over each run:
 *    at 80% it gives the cost of the traffic figures (traffic_cpu_ratio, callgate / twin, target <= 1.03).
 * 3. Memory, measured first: RSS per live call, for callgate and for the bare B2BUA, each holding 1,000
 *    answered calls (RSS with them up minus RSS before them, over 1,000).
 *
 * 4. With `--export`, the twin is instead the same callgate with customer CDR files on (cdrExport.enabled:
 *    every CDR handed over to its account's export stream), and a `callgate cdr-export` role assembles them
 *    from the rig's Redis during the whole run: export_cpu_ratio (node CPU per call at 80%, twin / callgate,
 *    target <= 1.03) and export_max_cps_ratio; the export role's own CPU per call is reported beside them.
 *
 *   npm run bench:sip [-- --json] [-- --step-seconds 8] [-- --max-cps 1500] [-- --load-seconds 10] [-- --export]
 * `--json` prints one object. Needs `drachtio` (PATH or DRACHTIO_BIN), `sipp` and `redis-server`; everything
 * runs on loopback and stops by itself. Calls: 1 s hold, against a SIPp UAS answering as the switch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Child, REPO_ROOT } from '../test/helpers/sip-stack.js';
import { drachtioBin, sippBin, startSipp } from '../test/helpers/sip-stack.js';
import { BENCH_DIALED, count, cpuSeconds, failedOf, findMaxCps, loadRun, percentile, rssBytes, startSipRig } from './sip-rig.js';
import { benchArgs } from './cli.js';

const { json, number, log } = benchArgs();
const STEP_SECONDS = number('--step-seconds', 8);
const MAX_CPS = number('--max-cps', 1500);
const LOAD_SECONDS = number('--load-seconds', 10);
const LIVE_CALLS = 1000;
const EXPORT = process.argv.includes('--export');

if (!drachtioBin || !sippBin) {
  console.error(`bench:sip needs drachtio-server and sipp: ${!drachtioBin ? 'no drachtio binary (PATH or DRACHTIO_BIN)' : 'no sipp on PATH'}`);
  process.exit(2);
}

interface System {
  name: 'callgate' | 'twin' | 'baseline';
  target: string;
  pid: number;
}

interface Load {
  cps: number;
  answered: number;
  failed: number;
  p50: number | null;
  p99: number | null;
  cpuUsPerCall: number | null;
}

/** `LOAD_SECONDS` of calls at `cps` through one system: its answered calls' INVITE-to-200 and its node CPU per call. */
async function load(s: System, cps: number): Promise<Load> {
  const cpu0 = cpuSeconds(s.pid);
  const run = await loadRun(`bench-sip-${s.name}-${cps}`, s.target, cps, LOAD_SECONDS);
  const cpu1 = cpuSeconds(s.pid);
  const answered = count(run.stats.at(-1), 'answered(C)');
  const ms = run.answers.map((a) => a.ms);
  const r: Load = {
    cps, answered, failed: failedOf(run, Math.round(cps * LOAD_SECONDS)), p50: percentile(ms, 0.5), p99: percentile(ms, 0.99),
    cpuUsPerCall: answered > 0 ? Math.round(((cpu1 - cpu0) * 1e6) / answered) : null,
  };
  log(`  ${s.name.padEnd(9)} ${String(cps).padStart(5)} cps: ${answered} answered, ${r.failed} failed, INVITE-200 p50 ${r.p50} ms p99 ${r.p99} ms, node CPU ${r.cpuUsPerCall} us per call`);
  await sleep(2000);
  return r;
}

/** RSS per live call of one process: RSS with `LIVE_CALLS` answered calls up, minus RSS before them. */
async function bytesPerCall(s: System): Promise<number> {
  await sleep(3000);
  const before = rssBytes(s.pid);
  const rate = 200;
  const hold = await startSipp({
    name: `bench-rss-${s.name}`, scenario: 'uac-answered', target: s.target, service: BENCH_DIALED, calls: LIVE_CALLS,
    rate, limit: LIVE_CALLS, holdMs: 20_000, timeoutMs: 60_000,
  });
  await sleep((LIVE_CALLS / rate) * 1000 + 6000); // all placed and answered, none ended yet
  const up = rssBytes(s.pid);
  await hold.done;
  const perCall = Math.round((up - before) / LIVE_CALLS);
  log(`  ${s.name.padEnd(9)} RSS ${(up / 1024 / 1024).toFixed(1)} MB at ${LIVE_CALLS} live calls (${(before / 1024 / 1024).toFixed(1)} MB before): ${perCall} bytes per live call`);
  return perCall;
}

const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : Number((a / b).toFixed(3)));

const exportDir = mkdtempSync(join(tmpdir(), 'callgate-bench-export-'));
const rig = await startSipRig('bench-sip', {}, {
  twinEnv: EXPORT ? { CALLGATE_CDR_EXPORT_ENABLED: 'true', CALLGATE_CDR_EXPORT_DIR: exportDir } : { CALLGATE_TRAFFIC_ENABLED: 'false' },
});
/** With --export: the export role, draining the twin's hand-overs throughout. */
let exportRole: Child | undefined;
if (EXPORT) {
  exportRole = new Child('bench-sip-cdr-export', process.execPath, [...(rig.built ? ['dist/cli/main.js'] : ['--import', 'tsx', 'src/cli/main.ts']), 'cdr-export'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', CALLGATE_REDIS_URL: rig.redisUrl, CALLGATE_REDIS_KEY_PREFIX: rig.prefix,
      CALLGATE_CDR_EXPORT_DIR: exportDir, CALLGATE_CDR_EXPORT_METRICS_LISTEN: '127.0.0.1:0', CALLGATE_LOG_LEVEL: 'info',
    },
  });
  rig.adopt(() => exportRole!.stop());
  await exportRole.waitForOutput(/export lease taken/, 30_000).catch(async (err: unknown) => {
    await rig.stop();
    throw err;
  });
}
const callgate: System = { name: 'callgate', target: `127.0.0.1:${rig.drCallgate.sipPort}`, pid: rig.callgate.child.proc.pid! };
const twin: System = { name: 'twin', target: `127.0.0.1:${rig.twin!.drachtio.sipPort}`, pid: rig.twin!.callgate.child.proc.pid! };
const bare: System = { name: 'baseline', target: `127.0.0.1:${rig.drBare.sipPort}`, pid: rig.bare.proc.pid! };
try {
  log(`callgate bench:sip — ${STEP_SECONDS} s per rung, 1 s calls, ${rig.built ? 'dist build' : 'tsx sources'}; pass: < 0.1% failed calls and retransmissions < 5% of calls`);
  log(EXPORT
    ? 'twin: the same callgate with customer CDR files on, a cdr-export role assembling them; baseline: a bare drachtio-srf B2BUA, same route, no admission'
    : 'twin: the same callgate with traffic figures off; baseline: a bare drachtio-srf B2BUA, same route, no admission');
  // memory first, on processes no load has run through yet: after a ramp a process's RSS holds heap its
  // collector has not returned, and a later reading can fall below it
  log(`\nmemory: ${LIVE_CALLS} answered calls held up through each`);
  const cgBytes = await bytesPerCall(callgate);
  const baseBytes = await bytesPerCall(bare);
  log('');
  const max = async (s: System) => {
    const r = await findMaxCps(s.name, s.target, { seconds: STEP_SECONDS, maxCps: MAX_CPS, log });
    await sleep(3000);
    return r.max;
  };
  const cgMax = await max(callgate);
  const twinMax = await max(twin);
  const baseMax = await max(bare);
  if (baseMax <= 0) throw new Error('the bare B2BUA passed no rate: nothing to measure against');

  log(`\npost-dial delay at 50% and 80% of the bare maximum (${baseMax} cps), ${LOAD_SECONDS} s each`);
  const at50 = Math.max(1, Math.round(baseMax * 0.5));
  const at80 = Math.max(1, Math.round(baseMax * 0.8));
  const loads = { callgate50: await load(callgate, at50), baseline50: await load(bare, at50) };
  const exportCpu0 = exportRole ? cpuSeconds(exportRole.proc.pid!) : 0;
  const loads80 = { callgate80: await load(callgate, at80), twin80: await load(twin, at80), baseline80: await load(bare, at80) };
  const exportCpu1 = exportRole ? cpuSeconds(exportRole.proc.pid!) : 0;
  const twinCalls80 = loads80.twin80.answered;

  const twinFields = EXPORT
    ? {
      export_max_cps: twinMax,
      export_max_cps_ratio: ratio(twinMax, cgMax),
      export_cpu_us_per_call_at_80: loads80.twin80.cpuUsPerCall,
      export_cpu_ratio: ratio(loads80.twin80.cpuUsPerCall, loads80.callgate80.cpuUsPerCall),
      // the role runs through every system's load; its CPU over the 80% runs, per call the twin answered then
      export_role_cpu_us_per_call_at_80: twinCalls80 > 0 ? Math.round(((exportCpu1 - exportCpu0) * 1e6) / twinCalls80) : null,
    }
    : {
      traffic_off_max_cps: twinMax,
      traffic_max_cps_ratio: ratio(cgMax, twinMax),
      traffic_off_cpu_us_per_call_at_80: loads80.twin80.cpuUsPerCall,
      traffic_cpu_ratio: ratio(loads80.callgate80.cpuUsPerCall, loads80.twin80.cpuUsPerCall),
    };
  const result = {
    callgate_max_cps: cgMax,
    baseline_max_cps: baseMax,
    ratio: Number((cgMax / baseMax).toFixed(3)),
    ...twinFields,
    invite_200_p50_ms_at_50: loads.callgate50.p50,
    invite_200_p99_ms_at_50: loads.callgate50.p99,
    baseline_invite_200_p50_ms_at_50: loads.baseline50.p50,
    baseline_invite_200_p99_ms_at_50: loads.baseline50.p99,
    pdd_added_p50_ms_at_50: diff(loads.callgate50.p50, loads.baseline50.p50),
    pdd_added_p99_ms_at_50: diff(loads.callgate50.p99, loads.baseline50.p99),
    invite_200_p50_ms_at_80: loads80.callgate80.p50,
    invite_200_p99_ms_at_80: loads80.callgate80.p99,
    baseline_invite_200_p50_ms_at_80: loads80.baseline80.p50,
    baseline_invite_200_p99_ms_at_80: loads80.baseline80.p99,
    pdd_added_p50_ms_at_80: diff(loads80.callgate80.p50, loads80.baseline80.p50),
    pdd_added_p99_ms_at_80: diff(loads80.callgate80.p99, loads80.baseline80.p99),
    failed_at_80: loads80.callgate80.failed,
    callgate_cpu_us_per_call_at_80: loads80.callgate80.cpuUsPerCall,
    baseline_cpu_us_per_call_at_80: loads80.baseline80.cpuUsPerCall,
    callgate_bytes_per_call: cgBytes,
    baseline_bytes_per_call: baseBytes,
    bytes_per_call_ratio: ratio(cgBytes, baseBytes),
  };
  if (json) console.log(JSON.stringify(result));
  else {
    log('');
    if ('export_max_cps' in result) log(`callgate  max ${result.callgate_max_cps} cps   (customer files on, export role running: ${result.export_max_cps} cps, ratio ${result.export_max_cps_ratio})`);
    else log(`callgate  max ${result.callgate_max_cps} cps   (traffic figures off: ${result.traffic_off_max_cps} cps, ratio ${result.traffic_max_cps_ratio})`);
    log(`baseline  max ${result.baseline_max_cps} cps`);
    log(`ratio     ${result.ratio}   (target >= 0.85)`);
    log(`PDD added at 50%: p50 ${result.pdd_added_p50_ms_at_50} ms, p99 ${result.pdd_added_p99_ms_at_50} ms; at 80%: p50 ${result.pdd_added_p50_ms_at_80} ms, p99 ${result.pdd_added_p99_ms_at_80} ms`);
    if ('export_cpu_ratio' in result) {
      log(`export    node CPU per call at 80%: ${result.export_cpu_us_per_call_at_80} us with customer files, ${result.callgate_cpu_us_per_call_at_80} us without: ratio ${result.export_cpu_ratio}   (target <= 1.03); the export role itself ${result.export_role_cpu_us_per_call_at_80} us per call`);
    } else {
      log(`traffic   node CPU per call at 80%: ${result.callgate_cpu_us_per_call_at_80} us with figures, ${result.traffic_off_cpu_us_per_call_at_80} us without: ratio ${result.traffic_cpu_ratio}   (target <= 1.03)`);
    }
    log(`memory    ${result.callgate_bytes_per_call} bytes per live call, baseline ${result.baseline_bytes_per_call}: ratio ${result.bytes_per_call_ratio}   (target <= 1.5)`);
  }
} finally {
  await rig.stop();
  rmSync(exportDir, { recursive: true, force: true });
}
