/**
 * The `callgate` command line. buildProgram() only wires commands to the account service; runCli() runs
 * one command line and turns its outcome into an exit code and, on failure, ONE line on stderr, so the
 * same code runs in-process in tests and as the installed binary.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { loadConfig, type Config } from '../config/index.js';
import { registerAccountCommands } from './commands/account.js';
import { registerRatedeckCommands } from './commands/ratedeck.js';
import { registerServeCommand } from './commands/serve.js';
import type { CliDeps, CommandContext } from './context.js';
import { EXIT, EXIT_HELP, describeFailure } from './exit-codes.js';
import { createServiceRunner } from './service-runner.js';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Builds the command tree; every action reaches Redis through `withService`, for its one operation. */
export function buildProgram(deps: CliDeps = {}): Command {
  const out = deps.stdout ?? ((text: string) => void process.stdout.write(`${text}\n`));
  const config = (): Config => deps.config ?? (deps.loadConfig ?? loadConfig)();
  const context: CommandContext = { deps, out, config, withService: createServiceRunner(deps, config) };

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

  registerAccountCommands(program, context);
  registerRatedeckCommands(program, context);
  registerServeCommand(program, context);
  return program;
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
