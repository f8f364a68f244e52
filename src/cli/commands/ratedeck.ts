/** `callgate ratedeck ...`: rate decks from CSV files. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { InputFileError } from '../errors.js';

const MAX_DECK_BYTES = 64 * 1024 * 1024;

export function registerRatedeckCommands(program: Command, { out, withService }: CommandContext): void {
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
