/**
 * bench:sip — the highest call rate held through a real drachtio-server, with < 0.1% failed calls and no
 * retransmission storm, for callgate and, measured in the same run on the same route, a bare drachtio-srf
 * B2BUA with no admission; then callgate's RSS at 1,000 concurrent calls and bytes per live call.
 *
 *   npm run bench:sip [-- --json] [-- --step-seconds 8] [-- --max-cps 1500]
 * Needs `drachtio` (PATH or DRACHTIO_BIN), `sipp` and `redis-server`; everything runs on loopback and stops
 * by itself. Calls: SIPp uac-answered, 1 s hold, against a SIPp UAS answering as the switch.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { drachtioBin, sippBin, startSipp } from '../test/helpers/sip-stack.js';
import { BENCH_DIALED, findMaxCps, rssBytes, startSipRig } from './sip-rig.js';
import { benchArgs } from './cli.js';

const { json, number, log } = benchArgs();
const STEP_SECONDS = number('--step-seconds', 8);
const MAX_CPS = number('--max-cps', 1500);

if (!drachtioBin || !sippBin) {
  console.error(`bench:sip needs drachtio-server and sipp: ${!drachtioBin ? 'no drachtio binary (PATH or DRACHTIO_BIN)' : 'no sipp on PATH'}`);
  process.exit(2);
}

const rig = await startSipRig('bench-sip');
const { callgate, drCallgate, drBare, built } = rig;
try {
  log(`callgate bench:sip — ${STEP_SECONDS} s per rung, 1 s calls, ${built ? 'dist build' : 'tsx sources'}; pass: < 0.1% failed calls and retransmissions < 5% of calls`);
  const cg = await findMaxCps('callgate', `127.0.0.1:${drCallgate.sipPort}`, { seconds: STEP_SECONDS, maxCps: MAX_CPS, log });
  await sleep(3000);
  const base = await findMaxCps('baseline', `127.0.0.1:${drBare.sipPort}`, { seconds: STEP_SECONDS, maxCps: MAX_CPS, log });

  // memory: 1,000 concurrent calls held through callgate
  await sleep(3000);
  const pid = callgate.child.proc.pid!;
  const rssBefore = rssBytes(pid);
  const hold = await startSipp({
    name: 'bench-rss', scenario: 'uac-answered', target: `127.0.0.1:${drCallgate.sipPort}`, service: BENCH_DIALED, calls: 1000,
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
  await rig.stop();
}
process.exit(0);
