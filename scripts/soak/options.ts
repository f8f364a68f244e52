/** The soak's command line, and the callgate timing it runs with. */
export const USAGE = 'usage: npm run soak -- [--minutes 30] [--cps N | --max-cps M] [--topup-seconds 5] [--keep]';

export interface SoakOptions {
  minutes: number;
  /** bench:sip's callgate_max_cps; the soak runs at half of it unless --cps is given. */
  maxCps: number;
  cps: number;
  topupSeconds: number;
  /** Keep the work dir even when the soak passed. */
  keep: boolean;
  trafficSeconds: number;
  cpsGiven: boolean;
  maxCpsGiven: boolean;
}

/** callgate's timing for the soak: production-like units, short enough that teardowns and sweeps show. */
export const TIMING = { tickIntervalMs: 2000, leaseTtlMs: 10_000, sweepIntervalMs: 5000, reservationSeconds: 30 } as const;

/** Reads the options; prints the usage and exits on --help, exits 2 on a bad value. */
export function parseOptions(args: string[]): SoakOptions {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    console.log('Mixed SIPp traffic through callgate for --minutes, then the books are checked; see scripts/soak/main.ts.');
    process.exit(0);
  }
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const num = (name: string, dflt: number): number => {
    const v = opt(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) {
      console.error(`soak: ${name} must be a positive number, got ${JSON.stringify(v)}`);
      process.exit(2);
    }
    return n;
  };
  const minutes = num('--minutes', 30);
  const maxCps = num('--max-cps', 100);
  const cps = num('--cps', maxCps / 2);
  const topupSeconds = num('--topup-seconds', 5);
  return {
    minutes, maxCps, cps, topupSeconds,
    keep: args.includes('--keep'),
    trafficSeconds: Math.round(minutes * 60),
    cpsGiven: opt('--cps') !== undefined,
    maxCpsGiven: opt('--max-cps') !== undefined,
  };
}
