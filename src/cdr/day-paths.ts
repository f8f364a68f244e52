/**
 * Where one switch's CDRs of one day are kept: `<dir>/<YYYY-MM-DD>/<switchId>.csv` (what customers
 * download) and `.jsonl` (for machines), the day being the UTC day a call ended.
 */
import { join } from 'node:path';

export interface DayFilePaths {
  csv: string;
  jsonl: string;
}

export function dayDirectory(dir: string, day: string): string {
  return join(dir, day);
}

export function dayFilePaths(dir: string, switchId: string, day: string): DayFilePaths {
  return {
    csv: join(dir, day, `${switchId}.csv`),
    jsonl: join(dir, day, `${switchId}.jsonl`),
  };
}
