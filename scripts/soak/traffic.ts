/** The load: one SIPp UAC per traffic class, each at its share of the soak's rate, and their results. */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Child, freeSipPort } from '../../test/helpers/sip-stack.js';
import { DEPLETION, type SoakAccounts } from './accounts.js';
import { CANCEL_SCENARIO_FILE } from './scenarios.js';

export interface TrafficClass {
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

export interface ClassRun {
  cls: TrafficClass;
  rate: number;
  calls: number;
  callIdPrefix: string;
  child: Child;
  statFile: string;
}

export interface ClassResult {
  cls: TrafficClass;
  callIdPrefix: string;
  code: number | null;
  stats: Record<string, string>;
  created: number;
  successful: number;
  failed: number;
  counters: Record<string, number>;
}

/** The mix (see the shares in main.ts's header). */
export function trafficClasses({ dial }: Pick<SoakAccounts, 'dial'>): TrafficClass[] {
  const london = '4420712345678';
  return [
    { name: 'answered', share: 0.38, holdMs: 3000, lines: [`${dial('ans', london)};ans`] },
    { name: 'long', share: 0.05, holdMs: 60_000, lines: [`${dial('long', london)};long`, `${dial('chanl', london)};chanl`] },
    { name: 'cancel', share: 0.1, holdMs: 0, scenario: CANCEL_SCENARIO_FILE, service: dial('cxl', '4429123456789') },
    {
      name: 'refused', share: 0.13, holdMs: 1000,
      lines: [`${dial('offman', london)};offman`, `${dial('broke', london)};broke`, `${dial('thin', '447700900123')};thin`, `${dial('ans', '999123456')};norate`],
    },
    { name: 'unknown', share: 0.04, holdMs: 1000, localIp: '127.0.0.2', lines: [`${london};stranger`] },
    { name: 'cps', share: 0.1, holdMs: 2000, lines: [`${dial('cpsl', london)};cpsl`] },
    { name: 'depletion', share: 0.2, holdMs: DEPLETION.holdMs, lines: DEPLETION.accounts.map((id) => `${dial(id, '447800900123')};${id}`) },
  ];
}

export interface TrafficOptions {
  sippBin: string;
  workDir: string;
  /** drachtio's SIP address, host:port. */
  target: string;
  cps: number;
  trafficSeconds: number;
  /** uac-soak.xml held the given time. */
  uacXml(holdMs: number): string;
}

/** Starts one SIPp per class, each placing its share of `cps` for `trafficSeconds`. */
export async function startTraffic(classes: TrafficClass[], o: TrafficOptions): Promise<ClassRun[]> {
  const runs: ClassRun[] = [];
  for (const cls of classes) {
    const rate = o.cps * cls.share;
    const calls = Math.max(1, Math.round(rate * o.trafficSeconds));
    const perTenSeconds = Math.max(1, Math.round(rate * 10));
    const callIdPrefix = `soak${cls.name}${randomBytes(3).toString('hex')}`;
    const file = (ext: string) => join(o.workDir, `${cls.name}-${ext}`);
    const scenarioFile = cls.scenario ?? file('uac.xml');
    if (!cls.scenario) writeFileSync(scenarioFile, o.uacXml(cls.holdMs));
    const sippArgs = [
      o.target, '-sf', scenarioFile, '-i', cls.localIp ?? '127.0.0.1', '-p', String(await freeSipPort()), '-nostdin',
      '-m', String(calls), '-r', String(perTenSeconds), '-rp', '10000', '-l', String(Math.ceil(rate * (cls.holdMs / 1000 + 2) * 2) + 20),
      '-cid_str', `${callIdPrefix}-%u-%p@%s`,
      '-timeout', `${o.trafficSeconds + Math.ceil(cls.holdMs / 1000) + 120}s`, '-timeout_error',
      '-trace_stat', '-stf', file('stat.csv'), '-fd', '10', '-trace_err', '-error_file', file('errors.log'),
    ];
    if (cls.lines) {
      writeFileSync(file('inject.csv'), `SEQUENTIAL\n${cls.lines.join('\n')}\n`);
      sippArgs.push('-inf', file('inject.csv'));
    }
    if (cls.service) sippArgs.push('-s', cls.service);
    runs.push({ cls, rate, calls, callIdPrefix, child: new Child(`soak-${cls.name}`, o.sippBin, sippArgs, { keepText: false }), statFile: file('stat.csv') });
  }
  return runs;
}

/** The last row of a SIPp -trace_stat CSV, by column name. */
function parseStatCsv(text: string): Record<string, string> {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) return {};
  const header = lines[0]!.split(';');
  const row = lines[lines.length - 1]!.split(';');
  return Object.fromEntries(header.map((h, i) => [h, row[i] ?? '']).filter(([h]) => h));
}

/** Waits for every SIPp run to exit and reads its counts from its -trace_stat CSV. */
export async function collectResults(runs: ClassRun[]): Promise<ClassResult[]> {
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
  return results;
}
