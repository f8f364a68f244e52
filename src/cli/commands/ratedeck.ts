/** `callgate ratedeck ...`: load rate decks from CSV files, and show what is loaded. */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { path } from '../api-client.js';
import type { CommandContext } from '../context.js';
import { InputFileError } from '../errors.js';
import { table } from '../format.js';

/** The admin API's default CSV body limit is 20 MiB; a larger file is refused here before it is sent. */
const MAX_DECK_BYTES = 64 * 1024 * 1024;
/** Progress is drawn for files at least this large (smaller ones upload in an instant). */
const PROGRESS_FROM_BYTES = 256 * 1024;
/** A 100,000-line deck is checked and stored by the server in seconds; it may take longer than a plain request. */
const LOAD_TIMEOUT_MS = 120_000;

interface DeckRates {
  deckId: string;
  version: string;
  prefixes: number;
  prefix: string | null;
  matched: number;
  offset: number;
  limit: number;
  rates: {
    prefix: string;
    ratePerMin: number;
    ratePerMinUsd: string;
    firstIncrement: number;
    nextIncrement: number;
    connectFee: number;
    connectFeeUsd: string;
  }[];
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

export function registerRatedeckCommands(program: Command, { api, print, deps, nameFields }: CommandContext): void {
  const ratedeck = program.command('ratedeck').description('per-minute rates by destination prefix').addHelpCommand(false);
  ratedeck
    .command('load')
    .description(
      'load or replace a rate deck from CSV. Columns (header line, any order): prefix, rate_per_min, ' +
        'first_increment, next_increment, and optional connect_fee, description. Longest prefix wins. ' +
        'The whole file is checked first; if any line is wrong nothing is stored. On a terminal, the upload ' +
        'of a large file shows its progress on stderr.',
    )
    .argument('<deckId>', 'rate deck id: 1-64 characters from A-Z a-z 0-9 _ . -')
    .argument('<file>', 'CSV file')
    .addOption(new Option('--json', 'print JSON instead of text: {"deckId", "prefixes", "version"}'))
    .action(async (deckId: string, file: string, o: { json?: boolean }) => {
      nameFields({ deckId: '<deckId>' });
      const bytes = await readDeckFile(file);
      const tty = deps.stderrIsTTY ?? process.stderr.isTTY === true;
      const raw = deps.stderrRaw ?? ((text: string) => void process.stderr.write(text));
      const showProgress = tty && bytes.length >= PROGRESS_FROM_BYTES;
      let lines = 0;
      if (showProgress) for (const b of bytes) if (b === 10) lines++;
      let drawn = -1;
      const onProgress = showProgress
        ? (sent: number, total: number) => {
            const pct = Math.floor((sent / total) * 100);
            if (pct === drawn) return;
            drawn = pct;
            raw(`\r\x1b[Kuploading ${file}: ${lines} lines, ${mib(sent)}/${mib(total)} MiB (${pct}%)`);
            if (sent >= total) raw(`\r\x1b[Kchecking and storing ${lines} lines on the server...`);
          }
        : undefined;
      try {
        const r = await api().request<{ deckId: string; prefixes: number; version: string }>({
          method: 'PUT',
          path: path`/v1/ratedecks/${deckId}`,
          csv: { bytes, onProgress },
          timeoutMs: LOAD_TIMEOUT_MS,
        });
        if (showProgress) raw('\r\x1b[K');
        print(o.json, r, () => `loaded rate deck ${r.deckId}: ${r.prefixes} prefixes, version ${r.version}`);
      } catch (err) {
        if (showProgress) raw('\r\x1b[K');
        throw err;
      }
    });

  ratedeck
    .command('show')
    .description("show a loaded deck: its version, how many prefixes it has, and its rates in prefix order")
    .argument('<deckId>', 'rate deck id')
    .option('--prefix <digits>', 'only the prefixes that start with these digits')
    .option('--limit <n>', 'rates shown (1-10000)', '100')
    .option('--offset <n>', 'matching rates skipped, for the next page', '0')
    .addOption(new Option('--json', 'print JSON instead of a table'))
    .addHelpText(
      'after',
      '\nJSON (--json): {"deckId", "version", "prefixes", "prefix", "matched", "offset", "limit",\n' +
        '  "rates": [{"prefix", "ratePerMin", "ratePerMinUsd", "firstIncrement", "nextIncrement", "connectFee", "connectFeeUsd"}]}\n' +
        '  money as integer micro-dollars and as decimal dollar strings',
    )
    .action(async (deckId: string, o: { prefix?: string; limit: string; offset: string; json?: boolean }) => {
      nameFields({ deckId: '<deckId>' });
      const d = await api().request<DeckRates>({
        method: 'GET',
        path: path`/v1/ratedecks/${deckId}/rates`,
        query: { prefix: o.prefix, limit: o.limit, offset: o.offset },
      });
      print(o.json, d, () => {
        const head = [
          `rate deck ${d.deckId}: ${d.prefixes} prefixes, version ${d.version}`,
          d.prefix === null ? null : `prefixes starting with ${d.prefix}: ${d.matched}`,
        ].filter((l): l is string => l !== null);
        const rows = d.rates.map((r) => [r.prefix, r.ratePerMinUsd, `${r.firstIncrement}/${r.nextIncrement}`, r.connectFeeUsd]);
        const shown = d.rates.length === 0 ? [] : [table([{ title: 'PREFIX' }, { title: 'USD/MIN', right: true }, { title: 'INCREMENTS' }, { title: 'CONNECT USD', right: true }], rows)];
        const last = d.offset + d.rates.length;
        const more = last < d.matched ? [`# rates ${d.offset + 1}-${last} of ${d.matched}: more with --offset ${last}`] : [];
        return [...head, ...shown, ...more].join('\n');
      });
    });
}

async function readDeckFile(file: string): Promise<Uint8Array> {
  try {
    const buffer = await readFile(file);
    if (buffer.length > MAX_DECK_BYTES) throw new InputFileError(`${file} is larger than ${MAX_DECK_BYTES / 1024 / 1024} MiB`);
    return buffer;
  } catch (err) {
    if (err instanceof InputFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputFileError(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}`);
  }
}
