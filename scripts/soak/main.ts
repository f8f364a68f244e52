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
 * Traffic, as shares of the rate, one SIPp process each (traffic.ts; the scenarios are in sipp-scenarios/):
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
 * This file runs the soak in order; each step is a file beside it: options and prerequisites, Redis and the
 * accounts, the SIP stack, the traffic and top-ups, then the checks (redis-state, books, events-outbox,
 * callgate-checks) collected by report.ts.
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
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { setUpAccounts } from './accounts.js';
import { readCdrs, cdrsByAccount, checkBalances, checkOneCdrPerCall, checkOutcomeMix } from './books.js';
import { checkCallgate, type RssSample } from './callgate-checks.js';
import { heapUsedAfterGc, mb, rssBytes } from './callgate-process.js';
import { checkEventsOutbox } from './events-outbox.js';
import { createSoakLog } from './log.js';
import { parseOptions } from './options.js';
import { buildIsStale, checkPrerequisites } from './prerequisites.js';
import { startSoakRedis } from './redis.js';
import { balanceOf, checkNothingLeft, liveCallRecords, waitForDrain, type AccountsInRedis } from './redis-state.js';
import { checkSippCalls, createReport, printSippResults } from './report.js';
import { loadUacScenario } from './scenarios.js';
import { startSoakSipStack } from './sip-stack.js';
import { startTopUps } from './topups.js';
import { collectResults, startTraffic, trafficClasses } from './traffic.js';

const options = parseOptions(process.argv.slice(2));
const { minutes: MINUTES, cps: CPS, maxCps: MAX_CPS, trafficSeconds: TRAFFIC_SECONDS } = options;
const { sippBin, builtEntry } = checkPrerequisites();
const uacXml = loadUacScenario();

const stops: (() => Promise<void>)[] = [];
const startedAt = Date.now();
const log = createSoakLog(startedAt);
const report = createReport();
const { check } = report;
let exitCode = 0;
const workDir = mkdtempSync(join(tmpdir(), 'callgate-soak-'));
const cdrDir = join(workDir, 'cdr');
mkdirSync(cdrDir);

try {
  if (buildIsStale(builtEntry)) {
    log('WARNING: src/ has changed since dist/ was built: this soaks the build, not the sources (npm run build)');
  }
  log(`soak: ${MINUTES} min at ${CPS} cps${options.cpsGiven ? '' : ` (half of --max-cps ${MAX_CPS}${options.maxCpsGiven ? '' : ', the default; pass bench:sip\'s callgate_max_cps'})`}; work dir ${workDir}`);

  // Redis and the accounts
  const redis = await startSoakRedis(stops);
  const { specs, cpsLimit, dial } = await setUpAccounts(redis.accounts, CPS);
  const inRedis: AccountsInRedis = { r: redis.r, keys: redis.keys, prefix: redis.prefix, ids: Object.keys(specs) };

  // drachtio, the switch, callgate
  const stack = await startSoakSipStack({ sippBin, workDir, cdrDir, redisUrl: redis.server.url, keyPrefix: redis.prefix }, stops);
  const { drachtio, uasPort, callgate, pid, inspectorUrl } = stack;
  log(`stack up: redis ${redis.server.port}, drachtio SIP ${drachtio.sipPort}, switch ${uasPort}, callgate pid ${pid} (dist build); log ${callgate.child.logPath}`);
  await sleep(1000);

  // traffic, from the balance of every account just before it: the books are checked from here
  const classes = trafficClasses({ dial });
  const startBalance = new Map<string, number>();
  for (const id of inRedis.ids) startBalance.set(id, await balanceOf(inRedis, id));
  const applied = new Map<string, number>(inRedis.ids.map((id) => [id, 0]));

  const runs = await startTraffic(classes, { sippBin, workDir, target: `127.0.0.1:${drachtio.sipPort}`, cps: CPS, trafficSeconds: TRAFFIC_SECONDS, uacXml });
  for (const run of runs) stops.push(() => run.child.stop('SIGKILL', 0));
  const heapBefore = await heapUsedAfterGc(inspectorUrl);
  log(`callgate heap after a full GC, before traffic: ${mb(heapBefore)}`);
  const trafficStart = Date.now();
  const rss: RssSample[] = [{ t: 0, bytes: rssBytes(pid) }];
  log(`traffic started: ${runs.map((x) => `${x.cls.name} ${x.rate.toFixed(2)} cps x ${x.calls}`).join(', ')}; CPS limit of cpsl ${cpsLimit}`);

  const topups = startTopUps({ accounts: redis.accounts, cps: CPS, topupSeconds: options.topupSeconds, applied });
  const progress = setInterval(() => {
    void (async () => {
      const live = await liveCallRecords(inRedis);
      const bytes = rssBytes(pid);
      rss.push({ t: (Date.now() - trafficStart) / 1000, bytes });
      log(`live call records ${live}, callgate RSS ${mb(bytes)}, top-ups ${topups.count()} x $${topups.usd}`);
    })().catch(() => {});
  }, 30_000);

  await sleep(TRAFFIC_SECONDS * 1000);
  await topups.stop();
  log('traffic window over: waiting for the SIPp runs to finish their calls');
  const results = await collectResults(runs);
  clearInterval(progress);

  // drain
  await waitForDrain(inRedis);
  await sleep(2000); // the CDR writer's last batch reaches the files
  const drainedAt = Date.now();
  log(`drained ${((drainedAt - trafficStart) / 1000 - TRAFFIC_SECONDS).toFixed(1)} s after the traffic window`);

  // checks
  printSippResults(results);
  const { created } = checkSippCalls(results, check);
  await checkNothingLeft(inRedis, check);
  const cdrs = readCdrs(cdrDir);
  const byAccount = cdrsByAccount(cdrs);
  await checkBalances(inRedis, { startBalance, applied, byAccount }, check);
  checkOneCdrPerCall(cdrs, results, check);
  checkOutcomeMix(cdrs, check);
  await checkEventsOutbox(inRedis, byAccount, check);
  await checkCallgate(
    { callgate, pid, inspectorUrl },
    { heapBefore, created, rss, drainedAfterS: (drainedAt - trafficStart) / 1000, trafficSeconds: TRAFFIC_SECONDS },
    check,
  );

  exitCode = report.printChecks() ? 0 : 1;
  console.log('');
  console.log(`soak ${exitCode === 0 ? 'passed' : 'FAILED'}: ${MINUTES} min at ${CPS} cps, ${created} calls, ${cdrs.length} CDRs; total ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
} catch (err) {
  console.error('soak aborted:', err);
  exitCode = 2;
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (exitCode === 0 && !options.keep) rmSync(workDir, { recursive: true, force: true });
  else console.log(`work dir kept (CDR files, SIPp stats and logs): ${workDir}`);
}
process.exit(exitCode);
