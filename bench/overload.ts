/**
 * bench:overload — what callgate and a bare drachtio-srf B2BUA do past their limit. Each system's highest
 * rate is found first (the ramp of bench:sip); then each is offered 1x, 1.5x, 2x and 3x of its own maximum for
 * `--seconds` (default 20) of 1-s calls, and at the end of each rate the load drops to half the maximum for
 * `--recovery-seconds` (default 10), from a second SIPp started at that instant.
 *
 *   npm run bench:overload [-- --json] [-- --seconds 20] [-- --multiples 1,1.5,2,3] [-- --recovery-seconds 10]
 *                          [-- --callgate-max 300 --bare-max 280]   (skip the ramps: reuse known maxima)
 *
 * Per (system, rate): goodput (answered calls per second of offered load), 503s, failed calls (timeouts,
 * unexpected messages, any other final code, calls never ended), SIPp's retransmissions, INVITE-to-200 p50/p99
 * of the answered calls (SIPp's per-call response time: the first INVITE sent to the 200 received), drachtio's
 * and node's CPU (% of one core over the rate's seconds), and the recovery time: from the drop to half the
 * maximum, the end of the last second that still saw a 503, a failed call or an answered call slower than
 * 1 s (0 when none did; the whole recovery window, flagged, when it never recovered).
 * A call not answered within 8 s (-recv_timeout) is failed: a caller waiting longer has hung up.
 *
 * Needs `drachtio` (PATH or DRACHTIO_BIN), `sipp` and `redis-server`; everything runs on loopback.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { drachtioBin, sippBin } from '../test/helpers/sip-stack.js';
import { count, cpuSeconds, failedOf, findMaxCps, loadRun, percentile, startSipRig, type LoadRun } from './sip-rig.js';
import { benchArgs } from './cli.js';

const { json, number, option, log } = benchArgs();
const SECONDS = number('--seconds', 20);
const RECOVERY_SECONDS = number('--recovery-seconds', 10);
const MULTIPLES = option('--multiples', '1,1.5,2,3').split(',').map(Number);
const RAMP_SECONDS = number('--ramp-seconds', 8);
const KNOWN_MAX: Record<System, number> = { callgate: number('--callgate-max', 0), bare: number('--bare-max', 0) };
const SLOW_MS = 1000;

if (!drachtioBin || !sippBin) {
  console.error(`bench:overload needs drachtio-server and sipp: ${!drachtioBin ? 'no drachtio binary (PATH or DRACHTIO_BIN)' : 'no sipp on PATH'}`);
  process.exit(2);
}
if (MULTIPLES.some((m) => !(m > 0)) || !(SECONDS > 0) || !(RECOVERY_SECONDS > 0)) {
  console.error('bench:overload: --multiples, --seconds and --recovery-seconds must be positive numbers');
  process.exit(2);
}

type System = 'callgate' | 'bare';

/** Seconds from the drop to the end of the last second with a 503, a failed call or a slow answer. */
function recoveryOf(run: LoadRun): { seconds: number; recovered: boolean } {
  let lastBad = -1;
  let previous: Record<string, string> | undefined;
  run.stats.forEach((row, i) => {
    const bad = count(row, 'refused_503(C)') - count(previous, 'refused_503(C)') + count(row, 'FailedCall(C)') - count(previous, 'FailedCall(C)');
    if (bad > 0) lastBad = Math.max(lastBad, i);
    previous = row;
  });
  for (const a of run.answers) if (a.ms > SLOW_MS) lastBad = Math.max(lastBad, Math.floor(a.atMs / 1000));
  // second i of the run ends i + 1 s after the drop; a bad last second of the window means it never settled
  const seconds = lastBad + 1;
  return { seconds, recovered: seconds < RECOVERY_SECONDS };
}

interface Row {
  system: System;
  max_cps: number;
  offered_multiple: number;
  offered_cps: number;
  calls: number;
  goodput_cps: number;
  goodput_share_of_max: number;
  refused_503: number;
  failed: number;
  retransmissions: number;
  invite_200_p50_ms: number | null;
  invite_200_p99_ms: number | null;
  drachtio_cpu_pct: number;
  node_cpu_pct: number;
  recovery_s: number;
  recovered: boolean;
  /** callgate only: its guard's level (mean and highest of 1-s scrapes), and the seconds its INVITE route was off. */
  guard_level_mean?: number;
  guard_level_max?: number;
  route_off_s?: number;
  /** callgate only: the highest of each guard signal seen in the scrapes. */
  signals_max?: Record<string, number>;
}

/** Scrapes callgate's /metrics once a second while a rate runs: what its overload guard saw. */
function watchGuard(adminUrl: string) {
  const levels: number[] = [];
  const signalsMax: Record<string, number> = {};
  let routeOffFirst: number | undefined;
  let routeOffLast = 0;
  let offNow = 0;
  const scrape = async () => {
    const body = await (await fetch(`${adminUrl}/metrics`)).text();
    const value = (re: RegExp) => Number(re.exec(body)?.[1] ?? 'NaN');
    levels.push(value(/^callgate_overload_level (\S+)$/m));
    for (const m of body.matchAll(/^callgate_overload_signal\{signal="([^"]+)"\} (\S+)$/gm)) {
      signalsMax[m[1]!] = Math.max(signalsMax[m[1]!] ?? 0, Number(Number(m[2]).toFixed(3)));
    }
    const total = value(/^callgate_invite_route_off_seconds_total (\S+)$/m);
    routeOffFirst ??= total;
    routeOffLast = total;
    offNow = value(/^callgate_invite_route_off (\S+)$/m);
  };
  const timer = setInterval(() => void scrape().catch(() => {}), 1000);
  return {
    stop() {
      clearInterval(timer);
      const ok = levels.filter((l) => Number.isFinite(l));
      return {
        guard_level_mean: ok.length ? Number((ok.reduce((a, b) => a + b, 0) / ok.length).toFixed(3)) : 0,
        guard_level_max: ok.length ? Number(Math.max(...ok).toFixed(3)) : 0,
        // seconds counted when the route came back, and a second per scrape that found it still off
        route_off_s: Number(((routeOffLast - (routeOffFirst ?? routeOffLast)) + (offNow === 1 ? 1 : 0)).toFixed(1)),
        signals_max: signalsMax,
      };
    },
  };
}

async function overloadRow(
  system: System, max: number, multiple: number, target: string, pids: { drachtio: number; node: number }, adminUrl?: string,
): Promise<Row> {
  const offeredCps = Math.round(max * multiple);
  const calls = Math.round(offeredCps * SECONDS);
  const cpu0 = { drachtio: cpuSeconds(pids.drachtio), node: cpuSeconds(pids.node), at: performance.now() };
  const guard = adminUrl ? watchGuard(adminUrl) : undefined;
  const load = loadRun(`bench-overload-${system}-${multiple}x`, target, offeredCps, SECONDS);
  await sleep(SECONDS * 1000);
  const seen = guard?.stop();
  const cpu1 = { drachtio: cpuSeconds(pids.drachtio), node: cpuSeconds(pids.node), at: performance.now() };
  // the drop: the overload run has placed its calls; a second caller goes on at half the maximum
  const recovery = await loadRun(`bench-overload-${system}-${multiple}x-recovery`, target, Math.max(1, Math.round(max / 2)), RECOVERY_SECONDS);
  const run = await load;
  const last = run.stats.at(-1);
  const elapsed = (cpu1.at - cpu0.at) / 1000;
  const { seconds, recovered } = recoveryOf(recovery);
  const answered = count(last, 'answered(C)');
  const ms = run.answers.map((a) => a.ms);
  return {
    system,
    max_cps: max,
    offered_multiple: multiple,
    offered_cps: offeredCps,
    calls,
    goodput_cps: Number((answered / SECONDS).toFixed(1)),
    goodput_share_of_max: Number((answered / SECONDS / max).toFixed(3)),
    refused_503: count(last, 'refused_503(C)'),
    failed: failedOf(run, calls),
    retransmissions: count(last, 'Retransmissions(C)'),
    invite_200_p50_ms: percentile(ms, 0.5),
    invite_200_p99_ms: percentile(ms, 0.99),
    drachtio_cpu_pct: Math.round(((cpu1.drachtio - cpu0.drachtio) / elapsed) * 100),
    node_cpu_pct: Math.round(((cpu1.node - cpu0.node) / elapsed) * 100),
    recovery_s: seconds,
    recovered,
    ...seen,
  };
}

function describe(r: Row): string {
  const p = (v: number | null) => (v === null ? '-' : `${v}`);
  return (
    `  ${r.system.padEnd(8)} ${String(r.offered_multiple).padStart(4)}x = ${String(r.offered_cps).padStart(5)} cps: ` +
    `goodput ${String(r.goodput_cps).padStart(6)} cps (${Math.round(r.goodput_share_of_max * 100)}% of max), ` +
    `503 ${r.refused_503}, failed ${r.failed}, retrans ${r.retransmissions}, ` +
    `INVITE-200 p50 ${p(r.invite_200_p50_ms)} ms p99 ${p(r.invite_200_p99_ms)} ms, ` +
    `cpu drachtio ${r.drachtio_cpu_pct}% node ${r.node_cpu_pct}%, recovery ${r.recovered ? `${r.recovery_s} s` : `> ${r.recovery_s} s (not recovered)`}` +
    (r.guard_level_mean === undefined
      ? ''
      : `\n             guard level mean ${r.guard_level_mean} max ${r.guard_level_max}, route off ${r.route_off_s} s, signals max ${JSON.stringify(r.signals_max)}`)
  );
}

const rig = await startSipRig('bench-overload');
try {
  log(
    `callgate bench:overload — ${SECONDS} s per rate at ${MULTIPLES.join(', ')}x of each system's maximum, 1 s calls, ` +
      `then ${RECOVERY_SECONDS} s at half the maximum; ${rig.built ? 'dist build' : 'tsx sources'}`,
  );
  const systems: { system: System; target: string; pids: { drachtio: number; node: number }; adminUrl?: string }[] = [
    {
      system: 'callgate', target: `127.0.0.1:${rig.drCallgate.sipPort}`, pids: { drachtio: rig.drCallgate.child.proc.pid!, node: rig.callgate.child.proc.pid! },
      adminUrl: rig.callgate.adminUrl,
    },
    { system: 'bare', target: `127.0.0.1:${rig.drBare.sipPort}`, pids: { drachtio: rig.drBare.child.proc.pid!, node: rig.bare.proc.pid! } },
  ];
  const maxima: Partial<Record<System, number>> = {};
  for (const s of systems) {
    if (KNOWN_MAX[s.system] > 0) maxima[s.system] = KNOWN_MAX[s.system];
    else {
      log(`\n${s.system}: its maximum (< 0.1% failed calls, retransmissions < 5%), ${RAMP_SECONDS} s per rung`);
      maxima[s.system] = (await findMaxCps(s.system, s.target, { seconds: RAMP_SECONDS, maxCps: 3000, log })).max;
      await sleep(3000);
    }
  }
  for (const s of systems) {
    const max = maxima[s.system]!;
    log(`\n${s.system}: maximum ${max} cps`);
    if (max <= 0) throw new Error(`${s.system}: no rate passed; nothing to overload`);
    for (const m of MULTIPLES) {
      const row = await overloadRow(s.system, max, m, s.target, s.pids, s.adminUrl);
      if (json) console.log(JSON.stringify(row));
      else log(describe(row));
      await sleep(5000); // the last calls end, the guard's signals settle
    }
  }
  log('\ntargets for callgate: at 2x goodput >= 80% of its maximum, no retransmission storm, p99 INVITE-200 < 1 s; at 3x it serves and recovers within 5 s');
} finally {
  await rig.stop();
}
process.exit(0);
