/** `callgate account ...`: create, inspect and change accounts through the admin API. */
import { Option, type Command } from 'commander';
import type { AccountJson } from '../../accounts/account.js';
import { JSON_FIELDS_HELP, formatAccountTable, type LatestPayment } from '../account-format.js';
import { path } from '../api-client.js';
import { given, wholeNumbers } from '../arguments.js';
import type { CommandContext } from '../context.js';
import { usd } from '../format.js';

const collect = (value: string, previous: string[] | undefined) => [
  ...(previous ?? []),
  ...value.split(',').map((s) => s.trim()),
];

interface FieldOptions {
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
  json?: boolean;
}

interface PutOptions extends FieldOptions {
  create?: boolean;
  update?: boolean;
}

interface PaymentReply {
  outcome: 'applied' | 'duplicate';
  paymentId: string;
  amount: number;
  amountUsd: string;
  account: AccountJson;
}

/** The account fields of the command line as the API's body: counts as integers, money as strings. */
function accountBody(o: FieldOptions) {
  const counts = wholeNumbers({ channels: o.channels, cps: o.cps, burst: o.burst }, ['channels', 'cps', 'burst']);
  return given({
    type: o.type,
    name: o.name,
    creditLimit: o.creditLimit,
    ...counts,
    fusfOnFile: o.fusfOnFile,
    billingCountry: o.billingCountry,
    lowBalanceThreshold: o.lowBalanceThreshold,
    deckId: o.deck,
    ips: o.ip,
    techPrefix: o.techPrefix,
  });
}

const stateText = (a: AccountJson) => (a.status === 'on' ? 'on' : `off (${a.offReason ?? ''})`);
const jsonOption = () => new Option('--json', 'print JSON instead of text');

/** The options every account-writing command takes. */
function fieldOptions(cmd: Command): Command {
  return cmd
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
    .addOption(jsonOption())
    .addHelpText('after', JSON_FIELDS_HELP);
}

export function registerAccountCommands(program: Command, { api, print }: CommandContext): void {
  const account = program
    .command('account')
    .description('create, inspect and change carrier accounts live (no restart)')
    .addHelpCommand(false);

  const NEW_ACCOUNT =
    'A new account needs --type, --channels, --cps, --billing-country, --deck and at least one --ip, ' +
    'and --credit-limit when postpaid. It starts OFF (depleted) until funds reach the re-enable minimum. ' +
    'Balance and status are never set here: use funds and status.';

  fieldOptions(
    account.command('create').description(`create an account; fails (exit 3) if the id is taken. ${NEW_ACCOUNT}`).argument('<id>', 'account id: 1-64 characters from A-Z a-z 0-9 _ . -'),
  ).action(async (id: string, o: FieldOptions) => {
    const body = { id, ...accountBody(o) };
    const a = await api().request<AccountJson>({ method: 'POST', path: '/v1/accounts', json: body });
    print(o.json, a, () => `created account ${id}\n${formatAccountTable(a)}`);
  });

  fieldOptions(
    account
      .command('put')
      .description(`create an account, or change the given fields of an existing one. Fields not given keep their value. ${NEW_ACCOUNT}`)
      .argument('<id>', 'account id: 1-64 characters from A-Z a-z 0-9 _ . -')
      .addOption(new Option('--create', 'fail if the account already exists (as account create)').conflicts('update'))
      .addOption(new Option('--update', 'fail if the account does not exist (as account patch)').conflicts('create')),
  ).action(async (id: string, o: PutOptions) => {
    const body = accountBody(o);
    let a: AccountJson;
    let created: boolean;
    if (o.create) {
      a = await api().request<AccountJson>({ method: 'POST', path: '/v1/accounts', json: { id, ...body } });
      created = true;
    } else if (o.update) {
      a = await api().request<AccountJson>({ method: 'PATCH', path: path`/v1/accounts/${id}`, json: body });
      created = false;
    } else {
      // the upsert's status says which it did: 201 created, 200 updated
      const r = await api().requestWithStatus<AccountJson>({ method: 'PUT', path: path`/v1/accounts/${id}`, json: body });
      a = r.body;
      created = r.status === 201;
    }
    print(o.json, a, () => `${created ? 'created' : 'updated'} account ${id}\n${formatAccountTable(a)}`);
  });

  fieldOptions(
    account
      .command('patch')
      .description('change the given fields of an existing account; fails (exit 2) if it does not exist')
      .argument('<id>', 'account id'),
  ).action(async (id: string, o: FieldOptions) => {
    const a = await api().request<AccountJson>({ method: 'PATCH', path: path`/v1/accounts/${id}`, json: accountBody(o) });
    print(o.json, a, () => `updated account ${id}\n${formatAccountTable(a)}`);
  });

  account
    .command('get')
    .description('show an account: status, balance, last payment, limits, live calls, identification')
    .argument('<id>', 'account id')
    .addOption(jsonOption())
    .addHelpText('after', JSON_FIELDS_HELP)
    .action(async (id: string, o: { json?: boolean }) => {
      const a = await api().request<AccountJson>({ method: 'GET', path: path`/v1/accounts/${id}` });
      const { latest } = await api().request<{ latest: LatestPayment | null }>({ method: 'GET', path: path`/v1/accounts/${id}/payments/latest` });
      print(o.json, { ...a, lastPayment: latest }, () => formatAccountTable(a, latest));
    });

  account
    .command('list')
    .description('list account ids, a page at a time (or --all)')
    .option('--cursor <cursor>', 'where to continue: the cursor printed by the previous page')
    .option('--limit <n>', 'about how many ids per page (1-1000)', '100')
    .option('--all', 'follow the cursor to the end and print every id')
    .addOption(jsonOption())
    .addHelpText('after', '\nJSON (--json): {"ids": [...], "nextCursor": "<cursor>" | null}')
    .action(async (o: { cursor?: string; limit: string; all?: boolean; json?: boolean }) => {
      const ids: string[] = [];
      let cursor: string | null = o.cursor ?? null;
      do {
        const page: { ids: string[]; nextCursor: string | null } = await api().request({
          method: 'GET',
          path: '/v1/accounts',
          query: { cursor: cursor ?? undefined, limit: o.limit },
        });
        ids.push(...page.ids);
        cursor = page.nextCursor;
      } while (o.all && cursor !== null);
      print(o.json, { ids, nextCursor: cursor }, () =>
        [...ids, ...(cursor !== null ? [`# more: callgate account list --cursor ${cursor}`] : [])].join('\n'),
      );
    });

  account
    .command('funds')
    .description(
      'apply a payment or top-up. Applied once per payment id: the same id and amount again is a duplicate ' +
        '(exit 0, nothing changes); the same id with another amount is a conflict (exit 5, nothing changes). ' +
        'It turns an account that went OFF for funds back ON once available funds reach the configured ' +
        'minimum; a manual OFF stays OFF.',
    )
    .argument('<id>', 'account id')
    .argument('<usd>', 'amount in dollars, more than 0, at most 6 decimals, no exponent or separators (e.g. 250 or 19.99)')
    .requiredOption('--payment-id <id>', 'your reference for this payment (1-128 of A-Z a-z 0-9 _ . : -): a retry with it never credits twice')
    .addOption(jsonOption())
    .addHelpText('after', '\nJSON (--json): {"outcome": "applied"|"duplicate", "paymentId", "amount", "amountUsd", "account": {...}}')
    .action(async (id: string, amount: string, o: { paymentId: string; json?: boolean }) => {
      const r = await api().request<PaymentReply>({
        method: 'POST',
        path: path`/v1/accounts/${id}/payments`,
        json: { amountUsd: amount, paymentId: o.paymentId },
      });
      const a = r.account;
      print(o.json, r, () =>
        r.outcome === 'applied'
          ? `applied ${usd(r.amount)} to ${id} (payment ${r.paymentId}): balance ${usd(a.balance)}, available ${usd(a.available)}, status ${stateText(a)}`
          : `payment ${r.paymentId} was already applied to ${id}: nothing changed (balance ${usd(a.balance)}, status ${stateText(a)})`,
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
    .addOption(jsonOption())
    .action(async (id: string, state: string, o: { note?: string; json?: boolean }) => {
      const a = await api().request<AccountJson>({ method: 'PUT', path: path`/v1/accounts/${id}/status`, json: given({ status: state, note: o.note }) });
      print(o.json, a, () => `${id} is ${stateText(a)}`);
    });

  account
    .command('limits')
    .description('change channel and CPS limits live: the next INVITE on every switch uses them')
    .argument('<id>', 'account id')
    .option('--channels <n>', 'concurrent calls allowed on EACH switch (0-100000)')
    .option('--cps <n>', 'new calls per second (0-10000); sets burst to the same value unless --burst is given')
    .option('--burst <n>', 'calls that may arrive at once above the cps rate (at least 1 when cps > 0)')
    .addOption(jsonOption())
    .action(async (id: string, o: { channels?: string; cps?: string; burst?: string; json?: boolean }) => {
      const body = wholeNumbers({ channels: o.channels, cps: o.cps, burst: o.burst }, ['channels', 'cps', 'burst']);
      const a = await api().request<AccountJson>({ method: 'PUT', path: path`/v1/accounts/${id}/limits`, json: body });
      print(o.json, a, () => `${id} limits: channels ${a.channels} per switch, cps ${a.cps}, burst ${a.burst}`);
    });
}
