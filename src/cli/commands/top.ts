/**
 * `callgate top`: the live page (GET /v1/live) for a terminal. The busiest accounts, ranked by live calls,
 * redrawn every few seconds until q or Ctrl-C; one plain frame when stdout is not a terminal (or --once);
 * the snapshot as JSON with --json.
 */
import { Option, type Command } from 'commander';
import type { CommandContext, Terminal } from '../context.js';
import { UsageError } from '../errors.js';
import { describeFailure } from '../exit-codes.js';
import { duration, table } from '../format.js';

export interface LiveSnapshot {
  switchId: string;
  at: string;
  refreshSeconds: number;
  accounts: {
    total: number;
    liveCalls: number;
    cpsWindowSeconds: number;
    rows: {
      accountId: string;
      name: string;
      status: string;
      offReason: string | null;
      balanceUsd: string;
      availableUsd: string;
      channels: { limitPerSwitch: number; total: number; thisSwitch: number };
      cps: { limit: number; recent: number };
      burn: { perHourUsd: string };
      depletion: { secondsToDepletion: number | null; depletesAt: string | null };
    }[];
  };
  series: {
    windowSeconds: number;
    reasons: { reason: string; label: string }[];
    totals: { admitted: number; rejected: Record<string, number> };
  };
}

const LIVE_MAX_ROWS = 200;
const HEADER_LINES = 4;

/** One screen of `top`: at most `rows` lines of at most `columns` characters. Pure. */
export function renderTop(live: LiveSnapshot, size: { columns: number; rows: number }, note = '', intervalSeconds = live.refreshSeconds): string[] {
  const t = live.series.totals;
  const refused = Object.values(t.rejected).reduce((a, b) => a + b, 0);
  const why = live.series.reasons
    .filter((r) => (t.rejected[r.reason] ?? 0) > 0)
    .map((r) => `${r.label} ${t.rejected[r.reason]}`)
    .join(', ');
  const head = [
    `callgate top: switch ${live.switchId}, ${live.at.replace(/\.\d{3}Z$/, 'Z')}, every ${intervalSeconds} s, q quits${note ? ` | ${note}` : ''}`,
    `accounts ${live.accounts.total}, live calls ${live.accounts.liveCalls} on all switches`,
    `last ${live.series.windowSeconds / 60} min on this instance: ${t.admitted} admitted, ${refused} refused${why ? ` (${why})` : ''}`,
    '',
  ];
  // the header, the table's title line, and a line saying how many are left out when not all fit
  const fits = Math.max(0, size.rows - HEADER_LINES - 1);
  const room = live.accounts.total > fits ? Math.max(0, fits - 1) : fits;
  const shown = live.accounts.rows.slice(0, room);
  const body = table(
    [
      { title: 'ACCOUNT' },
      { title: 'STATUS' },
      { title: 'LIVE', right: true },
      { title: 'HERE/LIMIT', right: true },
      { title: 'CPS/LIMIT', right: true },
      { title: 'BALANCE', right: true },
      { title: 'AVAILABLE', right: true },
      { title: 'BURN/H', right: true },
      { title: 'DEPLETES' },
    ],
    shown.map((r) => [
      r.accountId,
      r.status === 'on' ? 'on' : `off ${r.offReason ?? ''}`.trim(),
      String(r.channels.total),
      `${r.channels.thisSwitch}/${r.channels.limitPerSwitch}`,
      `${r.cps.recent.toFixed(1)}/${r.cps.limit}`,
      r.balanceUsd,
      r.availableUsd,
      r.burn.perHourUsd,
      r.depletion.secondsToDepletion === null ? 'not spending' : `in ${duration(r.depletion.secondsToDepletion)}`,
    ]),
  ).split('\n');
  const hidden = live.accounts.total - shown.length;
  const tail = hidden > 0 ? [`... ${hidden} more accounts not shown`] : [];
  return [...head, ...body, ...tail].slice(0, Math.max(1, size.rows)).map((l) => (l.length > size.columns ? l.slice(0, size.columns) : l));
}

function processTerminal(): Terminal | null {
  if (!process.stdout.isTTY) return null;
  return {
    get columns() {
      return process.stdout.columns || 80;
    },
    get rows() {
      return process.stdout.rows || 24;
    },
    write: (text) => void process.stdout.write(text),
    onKey(listener) {
      if (!process.stdin.isTTY) return () => {};
      process.stdin.setRawMode(true);
      process.stdin.resume();
      const onData = (data: Buffer) => listener(data.toString('utf8'));
      process.stdin.on('data', onData);
      return () => {
        process.stdin.off('data', onData);
        process.stdin.setRawMode(false);
        process.stdin.pause();
      };
    },
  };
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

export function registerTopCommand(program: Command, { api, print, out, deps }: CommandContext): void {
  program
    .command('top')
    .description('the busiest accounts, ranked by live calls, redrawn every few seconds: what the live page (/live) shows, for a terminal')
    .option('--interval <seconds>', 'seconds between refreshes (default: what the API suggests, 3)')
    .option('--limit <n>', `accounts read per refresh (1-${LIVE_MAX_ROWS}; default: what fits the terminal)`)
    .option('--once', 'print one frame and exit (also when stdout is not a terminal)')
    .addOption(new Option('--json', 'print one snapshot as JSON (GET /v1/live) and exit'))
    .action(async (o: { interval?: string; limit?: string; once?: boolean; json?: boolean }) => {
      const problems: string[] = [];
      if (o.interval !== undefined && !(/^\d+(\.\d+)?$/.test(o.interval) && Number(o.interval) >= 0.2)) problems.push(`--interval: must be a number of seconds, at least 0.2, got ${JSON.stringify(o.interval)}`);
      if (o.limit !== undefined && !(/^\d+$/.test(o.limit) && Number(o.limit) >= 1 && Number(o.limit) <= LIVE_MAX_ROWS)) problems.push(`--limit: must be a whole number 1-${LIVE_MAX_ROWS}, got ${JSON.stringify(o.limit)}`);
      if (problems.length > 0) throw new UsageError(problems);

      const terminal = deps.terminal === undefined ? processTerminal() : deps.terminal;
      const rowsFor = (rows: number) => (o.limit !== undefined ? Number(o.limit) : Math.min(LIVE_MAX_ROWS, Math.max(1, rows - HEADER_LINES - 1)));
      const read = (rows: number) => api().request<LiveSnapshot>({ method: 'GET', path: '/v1/live', query: { limit: rowsFor(rows) } });

      if (o.json) {
        print(true, await read(terminal?.rows ?? LIVE_MAX_ROWS + HEADER_LINES + 1), () => '');
        return;
      }
      if (o.once || terminal === null) {
        const live = await read(terminal?.rows ?? LIVE_MAX_ROWS + HEADER_LINES + 1);
        out(renderTop(live, { columns: terminal?.columns ?? 1000, rows: terminal?.rows ?? 1000 }).join('\n'));
        return;
      }

      // the first read fails the command as any other would; later failures are shown and retried
      let live = await read(terminal.rows);
      const stop = new AbortController();
      const quit = () => stop.abort();
      const keys = terminal.onKey?.((key) => {
        if (key === 'q' || key === 'Q' || key === '\u0003') quit();
      });
      process.once('SIGTERM', quit);
      process.once('SIGINT', quit);
      deps.topSignal?.addEventListener('abort', quit);
      terminal.write('\x1b[?1049h\x1b[?25l'); // the alternate screen, no cursor: the shell comes back as it was
      try {
        let note = '';
        while (!stop.signal.aborted) {
          const every = o.interval !== undefined ? Number(o.interval) : live.refreshSeconds;
          terminal.write(`\x1b[H\x1b[2J${renderTop(live, terminal, note, every).join('\r\n')}`);
          await sleep(every * 1000, stop.signal);
          if (stop.signal.aborted) break;
          try {
            live = await read(terminal.rows);
            note = '';
          } catch (err) {
            note = `refresh failed, retrying: ${describeFailure(err, []).message.slice(0, 160)}`;
          }
        }
      } finally {
        keys?.();
        process.off('SIGTERM', quit);
        process.off('SIGINT', quit);
        terminal.write('\x1b[?25h\x1b[?1049l');
      }
    });
}
