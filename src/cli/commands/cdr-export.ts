/** `callgate cdr-export`: runs the export role (src/export), loaded only when asked for. */
import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { ServeUnavailableError } from '../errors.js';

export function registerCdrExportCommand(program: Command, { config }: CommandContext): void {
  program
    .command('cdr-export')
    .description('run the export role: assemble the customer daily CDR files and serve them over SFTP (runs until stopped)')
    .action(async () => {
      const cfg = config();
      let mod: { runCdrExport?: unknown };
      try {
        // a computed specifier: the role belongs to src/export and is resolved only when it runs
        const specifier = '../../export/run.js';
        mod = (await import(specifier)) as { runCdrExport?: unknown };
      } catch (err) {
        throw new ServeUnavailableError(`cannot load the export role: ${(err as Error).message}`);
      }
      if (typeof mod.runCdrExport !== 'function') throw new ServeUnavailableError('cannot load the export role: it exports no runCdrExport(config)');
      await (mod.runCdrExport as (c: typeof cfg) => Promise<void>)(cfg);
    });
}
