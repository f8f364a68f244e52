/**
 * Opening the two files of one day: creating them (and their directory) durably, reading back the call ids
 * they hold, cutting off a torn last record, and writing the CSV header of a new file.
 *
 * A torn last record comes from a crash in the middle of a write; it was never acknowledged, so it is
 * written again whole once its stream entry is delivered again.
 */
import { mkdir } from 'node:fs/promises';
import {
  appendToFile,
  closeFileQuietly,
  openAppendFile,
  syncDirectory,
  truncateFile,
  type AppendFile,
} from './append-file.js';
import { CSV_HEADER, CSV_LINE_END } from './builder.js';
import { scanCsvCallIds, scanJsonlCallIds } from './call-id-scan.js';
import { DayCallIds } from './day-call-ids.js';
import { dayDirectory, dayFilePaths } from './day-paths.js';
import type { CdrLogger } from './logger.js';

export interface DayFiles {
  day: string;
  csv: AppendFile;
  jsonl: AppendFile;
  /** When the files were opened (and scanned), epoch ms. */
  openedAt: number;
  ids: DayCallIds;
}

export interface DayFilesOptions {
  dir: string;
  switchId: string;
  fsyncEach: boolean;
  logger: CdrLogger;
  now: () => number;
}

async function cutTornTail(file: AppendFile, completeBytes: number, logger: CdrLogger): Promise<void> {
  if (completeBytes >= file.size) return;
  logger.warn({ path: file.path, from: completeBytes, bytes: file.size - completeBytes }, 'cutting a torn last CDR record');
  await truncateFile(file, completeBytes);
}

export async function openDayFiles(day: string, { dir, switchId, fsyncEach, logger, now }: DayFilesOptions): Promise<DayFiles> {
  const openedAt = now();
  const p = dayFilePaths(dir, switchId, day);
  const dayDir = dayDirectory(dir, day);
  const createdDir = await mkdir(dayDir, { recursive: true });
  const csv = await openAppendFile(p.csv);
  let jsonl: AppendFile;
  try {
    jsonl = await openAppendFile(p.jsonl);
  } catch (err) {
    await closeFileQuietly(csv);
    throw err;
  }
  try {
    const created = csv.size === 0 || jsonl.size === 0;
    const fromCsv = await scanCsvCallIds(csv.handle, csv.size);
    await cutTornTail(csv, fromCsv.completeBytes, logger);
    const inBoth = new Set<string>();
    const jsonlOnly = new Set<string>();
    const fromJsonl = await scanJsonlCallIds(jsonl.handle, jsonl.size, (id) => {
      if (fromCsv.ids.delete(id)) inBoth.add(id);
      else jsonlOnly.add(id);
    });
    await cutTornTail(jsonl, fromJsonl.completeBytes, logger);
    const csvOnly = fromCsv.ids;
    if (csvOnly.size > 0 || jsonlOnly.size > 0) {
      logger.warn({ day, csvOnly: csvOnly.size, jsonlOnly: jsonlOnly.size }, 'CDR files disagree; completing each from the redelivered entries');
    }
    if (csv.size === 0) {
      await appendToFile(csv, Buffer.from(CSV_HEADER + CSV_LINE_END));
      if (fsyncEach) await csv.handle.sync();
    }
    if (fsyncEach && created) {
      await syncDirectory(dayDir);
      if (createdDir !== undefined) await syncDirectory(dir);
    }
    return { day, csv, jsonl, openedAt, ids: new DayCallIds({ inBoth, csvOnly, jsonlOnly }) };
  } catch (err) {
    await closeDayFiles({ csv, jsonl });
    throw err;
  }
}

export async function closeDayFiles(d: Pick<DayFiles, 'csv' | 'jsonl'>): Promise<void> {
  await Promise.all([closeFileQuietly(d.csv), closeFileQuietly(d.jsonl)]);
}
