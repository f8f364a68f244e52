/** Judging callgate itself after the soak: live heap and RSS back to their level, alive, no error logged. */
import { readFileSync } from 'node:fs';
import type { Callgate } from '../../test/helpers/sip-stack.js';
import { heapUsedAfterGc, mb, rssBytes } from './callgate-process.js';
import type { RecordCheck } from './report.js';

/** An RSS sample, seconds since the traffic started. */
export interface RssSample {
  t: number;
  bytes: number;
}

export interface CallgateUnderSoak {
  callgate: Callgate;
  pid: number;
  inspectorUrl: string;
}

export async function checkCallgate(
  cg: CallgateUnderSoak,
  o: { heapBefore: number; created: number; rss: RssSample[]; drainedAfterS: number; trafficSeconds: number },
  check: RecordCheck,
): Promise<void> {
  const { heapBefore, created, rss } = o;
  const heapAfter = await heapUsedAfterGc(cg.inspectorUrl);
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
  const rssEnd = rssBytes(cg.pid);
  rss.push({ t: o.drainedAfterS, bytes: rssEnd });
  const early = rss.find((s) => s.t >= Math.min(60, o.trafficSeconds / 4)) ?? rss[rss.length - 1]!;
  const peak = Math.max(...rss.map((s) => s.bytes));
  const flat = rssEnd <= early.bytes * 1.25 + 20 * 1024 * 1024;
  check(
    'callgate RSS flat',
    flat,
    `before traffic ${mb(rss[0]!.bytes)}, at +${Math.round(early.t)} s ${mb(early.bytes)}, peak ${mb(peak)}, after the drain ${mb(rssEnd)} ` +
      `(samples: ${rss.map((s) => `${Math.round(s.t)}s=${(s.bytes / 1024 / 1024).toFixed(0)}`).join(' ')})`,
  );
  const logText = readFileSync(cg.callgate.child.logPath, 'utf8');
  const errorLines = logText.split('\n').filter((l) => /"level":(50|60)/.test(l));
  check(
    'callgate alive, no error logged',
    cg.callgate.child.running && errorLines.length === 0,
    `${cg.callgate.child.running ? 'running' : 'EXITED'}; ${errorLines.length} error lines${errorLines[0] ? `, first: ${errorLines[0].slice(0, 300)}` : ''}`,
  );
}
