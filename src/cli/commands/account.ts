/** `callgate account ...`: create, inspect and change accounts. */
import { Option, type Command } from 'commander';
import { accountToJson, type PutMode } from '../../accounts/index.js';
import { JSON_FIELDS_HELP, formatAccountTable, usd } from '../account-format.js';
import type { CommandContext } from '../context.js';

const collect = (value: string, previous: string[] | undefined) => [
  ...(previous ?? []),
  ...value.split(',').map((s) => s.trim()),
];

interface PutOptions {
  type?: string;
  name?: string;
  creditLimit?: string;
  channels?: string;
  cps?: string;
  burst?: string;
  fusfOnFile?: boolean;
  billingCountry?: string;
  lowBalanceThreshold?: string;
  deck?: string;
  ip?: string[];
  techPrefix?: string;
  create?: boolean;
  update?: boolean;
}

export function registerAccountCommands(program: Command, { out, withService }: CommandContext): void {
  const account = program
    .command('account')
    .description('create, inspect and change carrier accounts live (no restart)')
    .addHelpCommand(false);

  account
    .command('put')
    .description(
      'create an account, or change the given fields of an existing one. Fields not given keep their value. ' +
        'A new account needs --type, --channels, --cps, --billing-country, --deck and at least one --ip, ' +
        'and --credit-limit when postpaid. Balance and status are never set here: use funds and status.',
    )
    .argument('<id>', 'account id: 1-64 characters from A-Z a-z 0-9 _ . -')
    .option('--type <type>', 'prepaid (pays in advance) or postpaid (credit line with a limit)')
    .option('--name <text>', 'display name, up to 128 printable characters')
    .option('--credit-limit <usd>', 'postpaid credit line in dollars, e.g. 5000 or 2500.50 (0 for prepaid)')
    .option('--channels <n>', 'concurrent calls allowed on EACH switch (0-100000; 0 blocks new calls)')
    .option('--cps <n>', 'new calls per second the account may send (0-10000; 0 blocks new calls)')
    .option('--burst <n>', 'calls that may arrive at once above the cps rate (defaults to --cps)')
    .option('--fusf-on-file', 'the FUSF contribution form is on file: no taxes')
    .option('--no-fusf-on-file', 'the FUSF form is not on file')
    .option('--billing-country <cc>', 'billing address country, ISO 3166 alpha-2 (US, GB, MX...); non-US accounts are tax exempt')
    .option('--low-balance-threshold <usd>', 'notify once each time available funds fall below this many dollars')
    .option('--deck <id>', 'rate deck the account is billed on (load it first with "callgate ratedeck load")')
    .option('--ip <addr>', 'source IPv4/IPv6 address or CIDR block the account sends from; repeat or comma-separate. Replaces the whole list', collect)
    .option('--tech-prefix <digits>', 'tech prefix on the Request-URI user that identifies the account (0-9 # *, up to 16); "" clears it')
    .addOption(new Option('--create', 'fail if the account already exists').conflicts('update'))
    .addOption(new Option('--update', 'fail if the account does not exist').conflicts('create'))
    .action(async (id: string, o: PutOptions) => {
      const input = {
        type: o.type,
        name: o.name,
        creditLimit: o.creditLimit,
        channels: o.channels,
        cps: o.cps,
        burst: o.burst,
        fusfOnFile: o.fusfOnFile,
        billingCountry: o.billingCountry,
        lowBalanceThreshold: o.lowBalanceThreshold,
        deckId: o.deck,
        ips: o.ip,
        techPrefix: o.techPrefix,
      };
      const mode: PutMode = o.create ? 'create' : o.update ? 'update' : 'upsert';
      const r = await withService((s) => s.putAccount(id, input, { mode }));
      out(`${r.created ? 'created' : 'updated'} account ${id}`);
      out(formatAccountTable(r.account));
    });

  account
    .command('get')
    .description('show an account: status, balance, limits, live calls, identification')
    .argument('<id>', 'account id')
    .option('--json', 'print JSON instead of a table (money as micro-dollars and as dollar strings)')
    .addHelpText('after', JSON_FIELDS_HELP)
    .action(async (id: string, o: { json?: boolean }) => {
      const a = await withService((s) => s.getAccount(id));
      out(o.json ? JSON.stringify(accountToJson(a), null, 2) : formatAccountTable(a));
    });

  account
    .command('list')
    .description('list account ids, a page at a time')
    .option('--cursor <cursor>', 'where to continue: the cursor printed by the previous page', '0')
    .option('--limit <n>', 'about how many ids per page (1-1000)', '100')
    .action(async (o: { cursor: string; limit: string }) => {
      const page = await withService((s) => s.listAccounts({ cursor: o.cursor, limit: o.limit }));
      for (const id of page.ids) out(id);
      if (page.cursor !== '0') out(`# more: callgate account list --cursor ${page.cursor}`);
    });

  account
    .command('funds')
    .description(
      'apply a payment or top-up. Applied once per payment id, so a retry never credits twice. It turns an ' +
        'account that went OFF for funds back ON once available funds reach the configured minimum; ' +
        'a manual OFF stays OFF.',
    )
    .argument('<id>', 'account id')
    .argument('<usd>', 'amount in dollars, more than 0, at most 6 decimals (e.g. 250 or 19.99)')
    .option('--payment-id <id>', 'your reference for this payment (1-128 of A-Z a-z 0-9 _ . : -); generated when absent')
    .action(async (id: string, amount: string, o: { paymentId?: string }) => {
      const r = await withService((s) => s.applyFunds(id, amount, o.paymentId));
      const a = r.account;
      const state = a.status === 'on' ? 'on' : `off (${a.offReason ?? ''})`;
      out(
        r.outcome === 'applied'
          ? `applied ${usd(r.amount)} to ${id} (payment ${r.paymentId}): balance ${usd(a.balance)}, available ${usd(a.available)}, status ${state}`
          : `payment ${r.paymentId} was already applied to ${id}: nothing changed (balance ${usd(a.balance)}, status ${state})`,
      );
    });

  account
    .command('status')
    .description(
      'switch an account ON or OFF. OFF is a manual suspension (an MSA violation, for example): live calls ' +
        'on every switch end at once, and only an engineer lifts it. ON lifts any OFF, but an account ' +
        'without funds goes straight back OFF.',
    )
    .argument('<id>', 'account id')
    .argument('<state>', 'on or off')
    .option('--note <text>', 'why, kept with the account and in the status event (up to 256 characters)')
    .action(async (id: string, state: string, o: { note?: string }) => {
      const a = await withService((s) => s.setStatus(id, state, o.note));
      out(`${id} is ${a.status === 'on' ? 'on' : `off (${a.offReason ?? ''})`}`);
    });

  account
    .command('limits')
    .description('change channel and CPS limits live: the next INVITE on every switch uses them')
    .argument('<id>', 'account id')
    .option('--channels <n>', 'concurrent calls allowed on EACH switch (0-100000)')
    .option('--cps <n>', 'new calls per second (0-10000); sets burst to the same value unless --burst is given')
    .option('--burst <n>', 'calls that may arrive at once above the cps rate (at least 1 when cps > 0)')
    .action(async (id: string, o: { channels?: string; cps?: string; burst?: string }) => {
      const a = await withService((s) => s.setLimits(id, { channels: o.channels, cps: o.cps, burst: o.burst }));
      out(`${id} limits: channels ${a.channels} per switch, cps ${a.cps}, burst ${a.burst}`);
    });
}
