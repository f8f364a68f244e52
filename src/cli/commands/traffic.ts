/** `callgate traffic ...`: an account's traffic figures and rule states, and its traffic settings, through the admin API. */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { path } from '../api-client.js';
import type { CommandContext } from '../context.js';
import { UsageError } from '../errors.js';
import type { TrafficJson } from '../../traffic/service.js';

const jsonOption = () => new Option('--json', 'print JSON instead of text');
const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

const cell = (v: number | null | undefined, unit = '') => (v === null || v === undefined ? '-' : `${v}${unit}`);

/** The traffic view as an engineer reads it: one line per window, then each rule's state. */
export function formatTraffic(t: TrafficJson): string {
  const lines = [`traffic of ${t.account} at ${t.at} (profile ${t.settings.profile}${t.settings.autoSuspend ? ', autoSuspend' : ''})`];
  if (t.suspensionRecommended) {
    const r = t.suspensionRecommended;
    lines.push(`SUSPENSION RECOMMENDED: ${r.rule} in ${r.window} (${r.value}) at ${r.at}`);
  }
  for (const b of t.fraudBlocks) lines.push(`FRAUD BLOCK: calls to ${b.prefix} refused until ${b.until} (rule ${b.rule}, ${b.limit})`);
  lines.push('window  attempts answered   ASR    NER     ACD  short  zero  distinct repeats');
  for (const [w, f] of Object.entries(t.windows)) {
    lines.push(
      `${w.padEnd(6)} ${String(f.attempts).padStart(9)} ${String(f.answered).padStart(8)} ${cell(f.asrPercent, '%').padStart(6)} ` +
        `${cell(f.nerPercent, '%').padStart(6)} ${cell(f.acdSeconds, 's').padStart(7)} ${cell(f.shortCallPercent, '%').padStart(6)} ` +
        `${cell(f.zeroSecondPercent, '%').padStart(5)} ${String(f.distinctNumbers).padStart(9)} ${String(f.repeatDials).padStart(7)}`,
    );
  }
  lines.push('rules:');
  for (const r of t.rules) {
    const state = r.judged ? `${r.level} (${cell(r.value)} against ${cell(r.threshold)})` : 'not judged yet (too few answered calls)';
    lines.push(`  ${r.window.padEnd(4)} ${r.rule.padEnd(18)} ${state}${r.alertedLevel !== 'ok' ? `, alerted ${r.alertedLevel}` : ''}`);
  }
  return lines.join('\n');
}

/** `--threshold short_call_ratio.warning=20` (or `=off`) into the API's overrides. */
export function thresholdOverrides(specs: string[] | undefined): Record<string, Record<string, string | null>> | undefined {
  if (!specs || specs.length === 0) return undefined;
  const out: Record<string, Record<string, string | null>> = {};
  for (const spec of specs) {
    const m = /^([a-z_]+)\.(warning|critical)=(.*)$/.exec(spec);
    if (!m) throw new UsageError([`--threshold ${JSON.stringify(spec)}: must be <rule>.<warning|critical>=<number|off>, e.g. short_call_ratio.warning=20`]);
    const [, rule, level, value] = m as unknown as [string, string, 'warning' | 'critical', string];
    (out[rule] ??= {})[level] = value === 'off' ? null : value;
  }
  return out;
}

export function registerTrafficCommands(program: Command, { api, print }: CommandContext): void {
  const traffic = program
    .command('traffic')
    .description("an account's traffic profile: figures per window (ASR, NER, ACD, short calls), rule states, fraud rules")
    .addHelpCommand(false);

  traffic
    .command('show')
    .description('figures of the 15m, 1h and UTC-day windows, every rule state, and a suspension recommendation if any')
    .argument('<id>', 'account id')
    .addOption(jsonOption())
    .action(async (id: string, o: { json?: boolean }) => {
      const t = await api().request<TrafficJson>({ method: 'GET', path: path`/v1/accounts/${id}/traffic` });
      print(o.json, t, () => formatTraffic(t));
    });

  traffic
    .command('set')
    .description('change the given traffic settings of an account; the rest keep their value. Checked as the API checks them: nothing changes on a problem')
    .argument('<id>', 'account id')
    .option('--profile <name>', 'conversational (default), call_center or dialer (approved dialer traffic: short-call rules off)')
    .option('--threshold <rule.level=value>', 'override one threshold, e.g. short_call_ratio.critical=30, acd.warning=45, asr.critical=off; repeatable', collect)
    .option('--auto-suspend', 'a critical alert turns the account OFF (msa_violation), lifted only by an engineer')
    .option('--no-auto-suspend', 'a critical alert only recommends suspension (the default)')
    .option('--max-call-seconds <n>', 'tear calls down at this duration (1-86400), or "off"')
    .option('--fraud-rules <file>', 'JSON array of fraud rules per destination prefix (replaces the list; "-" reads stdin)')
    .addOption(jsonOption())
    .action(async (id: string, o: { profile?: string; threshold?: string[]; autoSuspend?: boolean; maxCallSeconds?: string; fraudRules?: string; json?: boolean }) => {
      const body: Record<string, unknown> = {};
      if (o.profile !== undefined) body.profile = o.profile;
      const overrides = thresholdOverrides(o.threshold);
      if (overrides) body.overrides = overrides;
      if (o.autoSuspend !== undefined) body.autoSuspend = o.autoSuspend;
      if (o.maxCallSeconds !== undefined) body.maxCallSeconds = o.maxCallSeconds === 'off' ? null : o.maxCallSeconds;
      if (o.fraudRules !== undefined) {
        let text: string;
        try {
          text = readFileSync(o.fraudRules === '-' ? 0 : o.fraudRules, 'utf8');
        } catch (err) {
          throw new UsageError([`--fraud-rules: cannot read ${o.fraudRules}: ${(err as Error).message}`]);
        }
        try {
          body.fraudRules = JSON.parse(text) as unknown;
        } catch (err) {
          throw new UsageError([`--fraud-rules: ${o.fraudRules} is not JSON: ${(err as Error).message}`]);
        }
      }
      const r = await api().request<{ account: string; settings: unknown }>({ method: 'PATCH', path: path`/v1/accounts/${id}/traffic`, json: body });
      print(o.json, r, () => `traffic settings of ${id}:\n${JSON.stringify(r.settings, null, 2)}`);
    });

  traffic
    .command('unblock')
    .description('lift the fraud block of one destination prefix (--prefix) or every block of the account, before its window passes')
    .argument('<id>', 'account id')
    .option('--prefix <digits>', 'the blocked prefix (as the traffic view lists it); absent: every block')
    .addOption(jsonOption())
    .action(async (id: string, o: { prefix?: string; json?: boolean }) => {
      const query = o.prefix !== undefined ? `?prefix=${encodeURIComponent(o.prefix)}` : '';
      const r = await api().request<{ account: string; lifted: boolean }>({ method: 'DELETE', path: `${path`/v1/accounts/${id}/traffic/blocks`}${query}` });
      print(o.json, r, () => (r.lifted ? `lifted the fraud block${o.prefix ? ` of ${o.prefix}` : 's'} of ${id}` : `${id} had no such fraud block`));
    });

  traffic
    .command('clear-recommendation')
    .description('clear the "suspension recommended" mark (after review); the status is changed with "account status"')
    .argument('<id>', 'account id')
    .addOption(jsonOption())
    .action(async (id: string, o: { json?: boolean }) => {
      const r = await api().request<{ account: string; cleared: boolean }>({ method: 'DELETE', path: path`/v1/accounts/${id}/traffic/recommendation` });
      print(o.json, r, () => (r.cleared ? `cleared the suspension recommendation of ${id}` : `${id} had no suspension recommendation`));
    });
}
