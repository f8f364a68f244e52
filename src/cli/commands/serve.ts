/** `callgate serve`: runs the SIP server, loaded only when asked for. */
import type { Command } from 'commander';
import type { Config } from '../../config/index.js';
import type { CommandContext } from '../context.js';
import { ServeUnavailableError } from '../errors.js';

export function registerServeCommand(program: Command, { deps, config }: CommandContext): void {
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
}

async function importServeModule(): Promise<unknown> {
  // a computed specifier: the module belongs to src/sip and is resolved only when serve runs
  const specifier = '../../sip/serve.js';
  return import(specifier);
}
