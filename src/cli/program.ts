/**
 * The `callgate` command line. buildProgram() only wires commands to the account service; runCli() runs
 * one command line and turns its outcome into an exit code and, on failure, ONE line on stderr, so the
 * same code runs in-process in tests and as the installed binary.
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import {
  AccountExistsError,
  AccountNotFoundError,
  DeckNotFoundError,
  RateDeckInvalidError,
  ValidationError,
  accountToJson,
  createAccountService,
  type Account,
  type AccountService,
  type PutMode,
} from '../accounts/index.js';
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { formatUsd } from '../rating/money.js';
import { connectRedis, type RedisConnection } from '../redis/client.js';
import { createEngine } from '../redis/engine.js';
import { createKeys } from '../redis/keys.js';

/** Exit codes, also listed in `callgate --help`. */
export const EXIT = {
  ok: 0,
  /** Bad arguments, a refused request, an invalid rate deck or configuration. Nothing was changed. */
  invalid: 1,
  /** The account or rate deck does not exist. */
  notFound: 2,
  /** `account put --create` for an id that is taken. */
  exists: 3,
  /** Redis could not be reached, or an unexpected failure. */
  unavailable: 4,
} as const;

export interface CliDeps {
  /** Used as is when given (tests); otherwise loadConfig() reads files and env once. */
  config?: Config;
  loadConfig?: () => Config;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  connect?: (config: Config) => Promise<RedisConnection>;
  /** Loads the SIP server module for `serve`. */
  importServe?: () => Promise<unknown>;
  /** How long to wait for Redis before giving up. */
  connectTimeoutMs?: number;
}

/** Redis could not be reached in time. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
  readonly code = 'unavailable';
}

/** A file named on the command line could not be read. */
export class InputFileError extends Error {
  override readonly name = 'InputFileError';
  readonly code = 'invalid_request';
}

/** `serve` could not load or start the SIP server module. */
export class ServeUnavailableError extends Error {
  override readonly name = 'ServeUnavailableError';
  readonly code = 'unavailable';
}

const MAX_DECK_BYTES = 64 * 1024 * 1024;

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

const usd = (micros: number) => `${formatUsd(micros)} USD`;

/** A two-column table of an account for people: money in decimal dollars. */
export function formatAccountTable(a: Account): string {
  const rows: [string, string][] = [
    ['account', a.id],
    ['name', a.name || '-'],
    ['type', a.type],
    ['status', a.status === 'on' ? 'on' : `off (${a.offReason ?? 'unknown reason'})`],
  ];
  if (a.statusNote) rows.push(['status note', a.statusNote]);
  rows.push(['balance', usd(a.balance)]);
  if (a.type === 'postpaid') {
    rows.push(['credit limit', usd(a.creditLimit)]);
    rows.push(['owed', usd(a.owed ?? 0)]);
  }
  rows.push(
    ['reserved', usd(a.reserved)],
    ['available', usd(a.available)],
    ['low balance at', a.lowBalanceThreshold > 0 ? usd(a.lowBalanceThreshold) : '-'],
    ['channels', `${a.channels} per switch`],
    ['cps', a.cps > 0 ? `${a.cps} (burst ${a.burst})` : '0 (no new calls)'],
  );
  if (a.liveCalls) {
    const bySwitch = Object.entries(a.liveCalls.bySwitch)
      .sort(([x], [y]) => x.localeCompare(y))
      .map(([sw, n]) => `${sw}: ${n}`)
      .join(', ');
    rows.push(['live calls', bySwitch ? `${a.liveCalls.total} (${bySwitch})` : String(a.liveCalls.total)]);
  }
  rows.push(
    ['source ips', a.ips.join(', ') || '-'],
    ['tech prefix', a.techPrefix ?? '-'],
    ['rate deck', a.deckId || '-'],
    ['billing country', a.billingCountry || '-'],
    ['fusf on file', a.fusfOnFile ? 'yes' : 'no'],
    ['tax exempt', a.taxExempt ? 'yes' : 'no (taxes appear in CDRs)'],
    ['updated', a.updatedAt ?? '-'],
  );
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${k.padEnd(width)}${v}`).join('\n');
}

const JSON_FIELDS_HELP = `
JSON fields (--json):
  id, name, type ("prepaid"|"postpaid"), status ("on"|"off"),
  offReason ("depleted"|"credit_limit"|"manual"|null), statusNote,
  balance, reserved, available, owed, creditLimit, lowBalanceThreshold
      money as integer micro-dollars (1 USD = 1000000); owed is null for prepaid
  balanceUsd, reservedUsd, availableUsd, owedUsd, creditLimitUsd, lowBalanceThresholdUsd
      the same amounts as decimal dollar strings ("12.500000")
  channels, cps, burst, ips[], techPrefix, deckId, billingCountry, fusfOnFile, taxExempt,
  updatedAt (ISO 8601 UTC), liveCalls {total, bySwitch {<switchId>: count}}`;

const EXIT_HELP = `
Exit codes:
  0  done
  1  refused: bad arguments or values (nothing was changed)
  2  no such account or rate deck
  3  account put --create: the account already exists
  4  Redis unreachable, or an unexpected failure

Configuration comes from config/default.json, config/<NODE_ENV>.json and CALLGATE_* variables
(CALLGATE_REDIS_URL, CALLGATE_REDIS_CLUSTER_NODES, CALLGATE_REDIS_KEY_PREFIX, ...).`;

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

/**
 * Builds the command tree. Every action goes through `withService`, which connects to Redis for the one
 * operation and always closes the connection, so the process exits promptly.
 */
export function buildProgram(deps: CliDeps = {}): Command {
  const out = deps.stdout ?? ((text: string) => void process.stdout.write(`${text}\n`));
  const config = (): Config => deps.config ?? (deps.loadConfig ?? loadConfig)();
  let lastRedisError: Error | undefined;
  const connect = deps.connect ?? ((c: Config) => connectRedis(c, (e) => (lastRedisError = e)));
  const connectTimeoutMs = deps.connectTimeoutMs ?? 5000;

  async function withService<T>(fn: (service: AccountService) => Promise<T>): Promise<T> {
    const cfg = config();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          const why = lastRedisError ? `: ${lastRedisError.message || lastRedisError.name}` : '';
          reject(new RedisUnavailableError(`cannot reach Redis (${describeRedis(cfg)}) within ${connectTimeoutMs} ms${why}`));
        },
        connectTimeoutMs,
      );
    });
    const connecting = connect(cfg);
    let conn: RedisConnection;
    try {
      conn = await Promise.race([connecting, timeout]);
    } catch (err) {
      // a connection that arrives after the deadline is closed at once
      void connecting.then((c) => c.close()).catch(() => {});
      if (err instanceof RedisUnavailableError) throw err;
      throw new RedisUnavailableError(`cannot reach Redis (${describeRedis(cfg)}): ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    try {
      const keys = createKeys(cfg.redis.keyPrefix);
      const engine = createEngine({ redis: conn.redis, keys, switchId: cfg.switchId, leaseTtlMs: cfg.billing.leaseTtlMs });
      return await fn(createAccountService({ redis: conn.redis, keys, engine, config: cfg }));
    } finally {
      await conn.close();
    }
  }

  const program = new Command('callgate')
    .description('callgate: SIP admission control for carrier accounts (limits, status, funds, rate decks)')
    .version(packageVersion(), '-V, --version', 'print the callgate version')
    .helpOption('-h, --help', 'show help for a command')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => out(text.replace(/\n$/, '')),
      // errors and help-on-error are reported by runCli as one line, never as commander's text
      writeErr: () => {},
      outputError: () => {},
    })
    .showHelpAfterError(false)
    .addHelpText('after', EXIT_HELP);

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

  const ratedeck = program.command('ratedeck').description('per-minute rates by destination prefix').addHelpCommand(false);
  ratedeck
    .command('load')
    .description(
      'load or replace a rate deck from CSV. Columns (header line, any order): prefix, rate_per_min, ' +
        'first_increment, next_increment, and optional connect_fee, description. Longest prefix wins. ' +
        'The whole file is checked first; if any line is wrong nothing is stored.',
    )
    .argument('<deckId>', 'rate deck id: 1-64 characters from A-Z a-z 0-9 _ . -')
    .argument('<file>', 'CSV file')
    .action(async (deckId: string, file: string) => {
      const csv = await readDeckFile(file);
      const r = await withService((s) => s.loadRateDeck(deckId, csv));
      out(`loaded rate deck ${r.deckId}: ${r.prefixes} prefixes, version ${r.version}`);
    });

  program
    .command('serve')
    .description('run callgate: connect to drachtio-server and admit calls (runs until stopped)')
    .action(async () => {
      const cfg = config();
      let mod: unknown;
      try {
        mod = await (deps.importServe ?? importServeModule)();
      } catch (err) {
        throw new ServeUnavailableError(`cannot load the SIP server: ${(err as Error).message}`);
      }
      const runServe = (mod as { runServe?: unknown } | null)?.runServe;
      if (typeof runServe !== 'function') throw new ServeUnavailableError('cannot load the SIP server: it exports no runServe(config)');
      await (runServe as (c: Config) => Promise<unknown>)(cfg);
    });

  return program;
}

async function importServeModule(): Promise<unknown> {
  // a computed specifier: the module belongs to src/sip and is resolved only when serve runs
  const specifier = '../sip/serve.js';
  return import(specifier);
}

async function readDeckFile(file: string): Promise<string> {
  try {
    const buffer = await readFile(file);
    if (buffer.length > MAX_DECK_BYTES) throw new InputFileError(`${file} is larger than ${MAX_DECK_BYTES / 1024 / 1024} MiB`);
    return buffer.toString('utf8');
  } catch (err) {
    if (err instanceof InputFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputFileError(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}`);
  }
}

function describeRedis(config: Config): string {
  return config.redis.clusterNodes.length > 0 ? `cluster ${config.redis.clusterNodes.join(',')}` : config.redis.url.replace(/\/\/[^@/]*@/, '//');
}

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();

/** Exit code and message of a failure. */
export function describeFailure(err: unknown, argv: readonly string[]): { code: number; message: string } {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') {
      const path = ['callgate', ...argv.filter((a) => !a.startsWith('-'))].slice(0, 3).join(' ');
      return { code: EXIT.invalid, message: `a command is missing: see ${path} --help` };
    }
    return { code: err.exitCode === 0 ? EXIT.ok : EXIT.invalid, message: oneLine(err.message.replace(/^error: /, '')) };
  }
  if (err instanceof ValidationError) return { code: EXIT.invalid, message: `refused, nothing changed: ${err.problems.join('; ')}` };
  if (err instanceof RateDeckInvalidError) return { code: EXIT.invalid, message: `rate deck refused, nothing stored: ${oneLine(err.message)}` };
  if (err instanceof ConfigError) return { code: EXIT.invalid, message: `invalid configuration: ${err.problems.join('; ')}` };
  if (err instanceof InputFileError) return { code: EXIT.invalid, message: err.message };
  if (err instanceof AccountNotFoundError || err instanceof DeckNotFoundError) return { code: EXIT.notFound, message: err.message };
  if (err instanceof AccountExistsError) return { code: EXIT.exists, message: err.message };
  // `serve` that cannot start is a usage failure of this install, as for any command that cannot run
  if (err instanceof ServeUnavailableError) return { code: EXIT.invalid, message: oneLine(err.message) };
  if (err instanceof RedisUnavailableError) return { code: EXIT.unavailable, message: oneLine(err.message) };
  return { code: EXIT.unavailable, message: `unexpected failure: ${oneLine(err instanceof Error ? err.message : String(err))}` };
}

/** Runs one command line (without the node and script arguments) and returns the process exit code. */
export async function runCli(argv: readonly string[], deps: CliDeps = {}): Promise<number> {
  const err = deps.stderr ?? ((text: string) => void process.stderr.write(`${text}\n`));
  const program = buildProgram(deps);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    const failure = describeFailure(e, argv);
    if (failure.code !== EXIT.ok) err(`callgate: ${failure.message}`);
    return failure.code;
  }
}
