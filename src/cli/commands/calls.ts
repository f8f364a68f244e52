/** `callgate calls` (live calls of an account or of a switch) and `callgate usage` (an account's burn and depletion). */
import { Option, type Command } from 'commander';
import { path } from '../api-client.js';
import type { CommandContext } from '../context.js';
import { UsageError } from '../errors.js';
import { bySwitchText, depletionText, duration, keyValueTable, table, usd } from '../format.js';

interface LiveCall {
  callId: string;
  accountId: string;
  switchId: string;
  state: string;
  invitedAt: string | null;
  answeredAt: string | null;
  talkMs: number;
  from: string | null;
  to: string | null;
  prefix: string | null;
  committed: number;
  committedUsd: string;
}

interface Usage {
  accountId: string;
  at: string;
  status: string;
  offReason: string | null;
  balance: number;
  reserved: number;
  available: number;
  channels: { limitPerSwitch: number; total: number; bySwitch: Record<string, number> };
  cps: { limit: number; burst: number; recent: number; windowSeconds: number };
  burn: { perSecond: number; perHour: number; perHourUsd: string };
  depletion: { secondsToDepletion: number | null; depletesAt: string | null };
}

const shortTime = (iso: string | null) => (iso === null ? '-' : iso.slice(11, 19));

function callsTable(calls: readonly LiveCall[]): string {
  return table(
    [{ title: 'CALL' }, { title: 'ACCOUNT' }, { title: 'SWITCH' }, { title: 'STATE' }, { title: 'FROM' }, { title: 'TO' }, { title: 'PREFIX' }, { title: 'INVITED' }, { title: 'TALK', right: true }, { title: 'COST USD', right: true }],
    calls.map((c) => [c.callId, c.accountId, c.switchId, c.state, c.from ?? '-', c.to ?? '-', c.prefix ?? '-', shortTime(c.invitedAt), duration(c.talkMs / 1000), c.committedUsd]),
  );
}

export function registerCallCommands(program: Command, { api, print }: CommandContext): void {
  program
    .command('calls')
    .description('live calls: an account\'s on every switch (--account, optionally one --switch), or all of a switch\'s (--switch)')
    .option('--account <id>', 'the account whose calls to list')
    .option('--switch <id>', 'only this switch\'s calls (alone: every account\'s calls on this switch)')
    .option('--limit <n>', 'with --switch alone: most calls listed (1-10000)', '1000')
    .addOption(new Option('--json', 'print JSON instead of a table'))
    .addHelpText(
      'after',
      '\nJSON (--json), as the admin API answers:\n' +
        '  --account: {"accountId", "total", "bySwitch": {<switchId>: n}, "calls": [...]}\n' +
        '  --switch:  {"switchId", "source": "registry"|"redis", "total", "truncated", "calls": [...]}\n' +
        '  each call: callId, accountId, switchId, state, invitedAt, answeredAt, lastBeatAt, talkMs, billedSec,\n' +
        '  reserved(Usd), committed(Usd), cost, tax, from, to, srcIp, sipCallId, prefix, ratePerMin',
    )
    .action(async (o: { account?: string; switch?: string; limit: string; json?: boolean }) => {
      if (o.account === undefined && o.switch === undefined) throw new UsageError(['give --account <id>, --switch <id>, or both']);
      if (o.account !== undefined) {
        const r = await api().request<{ accountId: string; total: number; bySwitch: Record<string, number>; calls: LiveCall[] }>({
          method: 'GET',
          path: '/v1/calls',
          query: { accountId: o.account, switchId: o.switch },
        });
        print(o.json, r, () => {
          const where = o.switch === undefined ? 'on every switch' : `on ${o.switch}`;
          const split = bySwitchText(r.bySwitch);
          return [`${r.accountId}: ${r.total} live calls ${where}${split ? ` (${split})` : ''}`, ...(r.total > 0 ? [callsTable(r.calls)] : [])].join('\n');
        });
        return;
      }
      const r = await api().request<{ switchId: string; source: string; total: number; truncated: boolean; calls: LiveCall[] }>({
        method: 'GET',
        path: path`/v1/switches/${o.switch!}/calls`,
        query: { limit: o.limit },
      });
      print(o.json, r, () =>
        [
          `${r.switchId}: ${r.total} live calls${r.truncated ? ` (first ${r.calls.length} shown)` : ''}`,
          ...(r.calls.length > 0 ? [callsTable(r.calls)] : []),
        ].join('\n'),
      );
    });

  program
    .command('usage')
    .description('an account\'s usage now: channels per switch, recent calls per second, funds, burn rate, estimated depletion')
    .argument('<id>', 'account id')
    .addOption(new Option('--json', 'print JSON instead of text'))
    .addHelpText(
      'after',
      '\nJSON (--json), as GET /v1/accounts/:id/usage answers: {"accountId", "at", "status", "offReason",\n' +
        '  "balance(Usd)", "reserved(Usd)", "available(Usd)", "channels": {"limitPerSwitch", "total", "bySwitch"},\n' +
        '  "cps": {"limit", "burst", "recent", "windowSeconds", "method"}, "burn": {"perSecond", "perHour", "perHourUsd"},\n' +
        '  "depletion": {"secondsToDepletion", "depletesAt"}}',
    )
    .action(async (id: string, o: { json?: boolean }) => {
      const u = await api().request<Usage>({ method: 'GET', path: path`/v1/accounts/${id}/usage` });
      print(o.json, u, () => {
        const split = bySwitchText(u.channels.bySwitch);
        return keyValueTable([
          ['account', u.accountId],
          ['at', u.at],
          ['status', u.status === 'on' ? 'on' : `off (${u.offReason ?? ''})`],
          ['balance', usd(u.balance)],
          ['reserved', usd(u.reserved)],
          ['available', usd(u.available)],
          ['live calls', `${u.channels.total}${split ? ` (${split})` : ''}, limit ${u.channels.limitPerSwitch} per switch`],
          ['cps', `${u.cps.recent.toFixed(1)} recent (last ${u.cps.windowSeconds} s), limit ${u.cps.limit}, burst ${u.cps.burst}`],
          ['burn rate', `${usd(u.burn.perHour)} per hour`],
          ['depletion', depletionText(u.depletion)],
        ]);
      });
    });
}
