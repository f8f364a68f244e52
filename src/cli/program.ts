/**
 * The `callgate` command line: a client of the admin API (every rule is enforced there, once). buildProgram()
 * wires commands to API requests; runCli() runs one command line and turns its outcome into an exit code
 * and, on failure, ONE line on stderr, so the same code runs in-process in tests and as the installed binary.
 * `serve` is the exception: it starts the server itself.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { loadConfig, resolveAdminClient, type Config } from '../config/index.js';
import { createApiClient, type ApiClient } from './api-client.js';
import { registerAccountCommands } from './commands/account.js';
import { registerCallCommands } from './commands/calls.js';
import { registerCdrCommands } from './commands/cdrs.js';
import { registerRatedeckCommands } from './commands/ratedeck.js';
import { registerServeCommand } from './commands/serve.js';
import { registerCdrExportCommand } from './commands/cdr-export.js';
import { registerTopCommand } from './commands/top.js';
import { registerTrafficCommands } from './commands/traffic.js';
import type { CliDeps, CommandContext } from './context.js';
import { EXIT, EXIT_HELP, describeFailure } from './exit-codes.js';
import { UsageError } from './errors.js';
import type { FieldOverrides } from './vocabulary.js';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

interface GlobalOptions {
  adminUrl?: string;
  token?: string;
  timeout: string;
}

/** Builds the command tree. `fieldOverrides` receives what the running command names its arguments. */
export function buildProgram(deps: CliDeps = {}, onFieldOverrides: (o: FieldOverrides) => void = () => {}): Command {
  const out = deps.stdout ?? ((text: string) => void process.stdout.write(`${text}\n`));
  const config = (): Config => deps.config ?? (deps.loadConfig ?? loadConfig)();
  let client: ApiClient | undefined;

  const program = new Command('callgate')
    .description('callgate: SIP admission control for carrier accounts (limits, status, funds, rate decks, live calls)')
    .version(packageVersion(), '-V, --version', 'print the callgate version')
    .helpOption('-h, --help', 'show help for a command')
    .option('--admin-url <url>', 'the admin API (default CALLGATE_ADMIN_URL, else http://127.0.0.1:8088)')
    .option('--token <token>', 'the admin token (default CALLGATE_ADMIN_TOKEN; prefer the variable: a flag shows in ps)')
    .addOption(new Option('--timeout <ms>', 'give up on an answer after this long').default('10000'))
    .exitOverride()
    .configureOutput({
      writeOut: (text) => out(text.replace(/\n$/, '')),
      // errors and help-on-error are reported by runCli as one line, never as commander's text
      writeErr: () => {},
      outputError: () => {},
    })
    .showHelpAfterError(false)
    .addHelpText('after', EXIT_HELP);

  const api = (): ApiClient => {
    if (client) return client;
    const o = program.opts<GlobalOptions>();
    const timeoutMs = Number(o.timeout);
    if (!/^\d+$/.test(o.timeout) || timeoutMs < 1) throw new UsageError([`--timeout: must be a whole number of milliseconds, got ${JSON.stringify(o.timeout)}`]);
    client = createApiClient(resolveAdminClient({ adminUrl: o.adminUrl, token: o.token }, deps.env ?? process.env), deps.fetch, timeoutMs);
    return client;
  };

  const context: CommandContext = {
    deps,
    out,
    config,
    api,
    nameFields: onFieldOverrides,
    print: (json, value, human) => out(json ? JSON.stringify(value, null, 2) : human()),
  };

  registerAccountCommands(program, context);
  registerRatedeckCommands(program, context);
  registerCallCommands(program, context);
  registerTrafficCommands(program, context);
  registerCdrCommands(program, context);
  registerTopCommand(program, context);
  registerServeCommand(program, context);
  registerCdrExportCommand(program, context);
  return program;
}

/** Runs one command line (without the node and script arguments) and returns the process exit code. */
export async function runCli(argv: readonly string[], deps: CliDeps = {}): Promise<number> {
  const err = deps.stderr ?? ((text: string) => void process.stderr.write(`${text}\n`));
  let overrides: FieldOverrides = {};
  const program = buildProgram(deps, (o) => (overrides = o));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    const failure = describeFailure(e, argv, overrides);
    if (failure.code !== EXIT.ok) err(`callgate: ${failure.message}`);
    return failure.code;
  }
}
