/**
 * Daily CDR files of one switch (see day-paths.ts for where they are), written in batches.
 *
 * A batch is acknowledged only once it is durable (write, then fsync). The writer acknowledges stream
 * entries (XDEL) only after that, so a crash at any point leads to the same entries being written again:
 * each file therefore skips a call id it already holds, and the ids are re-read from both files when a day
 * is opened (day-files.ts), so a restart does not duplicate either.
 *
 * Rejected attempts are never re-delivered (they do not go through Redis), so their ids are not kept for
 * the day, which would cost memory under a flood of refused INVITEs; they are only guarded across the
 * retry of a failed batch.
 *
 * Memory stays bounded however long a day is: see day-call-ids.ts for how long each id is held.
 */
import { ID_PATTERN } from '../config/schema.js';
import { appendToFile, truncateFile } from './append-file.js';
import { cdrDay, CSV_LINE_END, toCsvRow, toJsonLine, type Cdr } from './builder.js';
import { openDayFiles, type DayFiles } from './day-files.js';
import { dayFilePaths } from './day-paths.js';
import { silentCdrLogger, type CdrLogger } from './logger.js';
import { OpenDays } from './open-days.js';

export type { CdrLogger } from './logger.js';

export class CdrFilesClosedError extends Error {
  override readonly name = 'CdrFilesClosedError';
}

export class CdrFilesConfigError extends Error {
  override readonly name = 'CdrFilesConfigError';
}

export interface CdrFilesOptions {
  dir: string;
  switchId: string;
  /** fsync each file after each batch (default true). false gives up durability: benchmarks only. */
  fsyncEach?: boolean;
  logger?: CdrLogger;
  /** Days whose files stay open (the newest ones); older days are closed after each batch. Default 2. */
  keepOpenDays?: number;
  /** Wall clock, epoch ms: when a day was opened (see forgetScans). */
  now?: () => number;
}

export interface AppendResult {
  /** CDRs that reached at least one of the two files in this batch. */
  written: number;
  /** CDRs both files already held. */
  skipped: number;
}

export interface CdrFiles {
  /** Appends the CDRs, one write and one fsync per file; resolves once they are durable. Serialised. */
  appendBatch(cdrs: readonly Cdr[]): Promise<AppendResult>;
  /** The two paths of a day (YYYY-MM-DD). */
  paths(day: string): { csv: string; jsonl: string };
  /**
   * These CDRs' stream entries are deleted: they can never be delivered again, so their ids are no
   * longer held in memory. After this the files would write such a call id again.
   */
  release(callIds: readonly string[]): void;
  /**
   * Every stream entry that existed when a day was opened before `openedBefore` (epoch ms) has been
   * delivered again and settled: the call ids read from that day's files at open are no longer held.
   */
  forgetScans(openedBefore: number): void;
  /** Call ids held in memory to skip a redelivered CDR, over the open days. */
  heldIds(): number;
  /** Waits for queued batches, then closes every file. */
  close(): Promise<void>;
}

export function createCdrFiles({ dir, switchId, fsyncEach = true, logger = silentCdrLogger, keepOpenDays = 2, now = Date.now }: CdrFilesOptions): CdrFiles {
  if (typeof switchId !== 'string' || !ID_PATTERN.test(switchId)) {
    throw new CdrFilesConfigError('switchId must match [A-Za-z0-9_.-]{1,64}');
  }
  if (!Number.isInteger(keepOpenDays) || keepOpenDays < 1) throw new CdrFilesConfigError('keepOpenDays must be a positive integer');

  const days = new OpenDays((day) => openDayFiles(day, { dir, switchId, fsyncEach, logger, now }), keepOpenDays);
  /** Rejected ids written by a batch that failed elsewhere, so that its retry does not write them twice. */
  const rejectedSinceLastSuccess = new Set<string>();
  let tail: Promise<unknown> = Promise.resolve();
  let closed = false;

  const paths = (day: string) => dayFilePaths(dir, switchId, day);

  /** Puts a file back to its size before the failed batch; a file that cannot be repaired is reopened (and rescanned) later. */
  async function rollBack(d: DayFiles, sizes: { csv: number; jsonl: number }): Promise<void> {
    try {
      await truncateFile(d.csv, sizes.csv);
      await truncateFile(d.jsonl, sizes.jsonl);
    } catch (err) {
      logger.error({ day: d.day, err }, 'could not roll back a failed CDR write; the day files will be rescanned');
      await days.close(d);
    }
  }

  async function appendDay(day: string, cdrs: readonly Cdr[], batchIds: Set<string>): Promise<AppendResult> {
    const d = await days.get(day);
    const csvRows: string[] = [];
    const jsonLines: string[] = [];
    const written: Cdr[] = [];
    let skipped = 0;
    for (const cdr of cdrs) {
      const id = cdr.callId;
      const rejected = cdr.disposition === 'rejected';
      const key = `${rejected ? 'r' : 'c'}:${id}`;
      if (batchIds.has(key) || (rejected && rejectedSinceLastSuccess.has(id))) {
        skipped++;
        continue;
      }
      batchIds.add(key);
      const inCsv = !rejected && d.ids.csvHolds(id);
      const inJsonl = !rejected && d.ids.jsonlHolds(id);
      if (inCsv && inJsonl) {
        skipped++;
        continue;
      }
      if (!inCsv) csvRows.push(toCsvRow(cdr) + CSV_LINE_END);
      if (!inJsonl) jsonLines.push(toJsonLine(cdr) + '\n');
      written.push(cdr);
    }
    if (written.length === 0) return { written: 0, skipped };

    const sizes = { csv: d.csv.size, jsonl: d.jsonl.size };
    try {
      const csvData = Buffer.from(csvRows.join(''));
      const jsonlData = Buffer.from(jsonLines.join(''));
      await appendToFile(d.csv, csvData);
      await appendToFile(d.jsonl, jsonlData);
      if (fsyncEach) {
        await Promise.all([csvData.length > 0 ? d.csv.handle.sync() : undefined, jsonlData.length > 0 ? d.jsonl.handle.sync() : undefined]);
      }
    } catch (err) {
      await rollBack(d, sizes);
      throw err;
    }
    for (const cdr of written) {
      if (cdr.disposition === 'rejected') rejectedSinceLastSuccess.add(cdr.callId);
      else d.ids.markWritten(cdr.callId);
    }
    return { written: written.length, skipped };
  }

  async function append(cdrs: readonly Cdr[]): Promise<AppendResult> {
    const byDay = new Map<string, Cdr[]>();
    for (const cdr of cdrs) {
      const day = cdrDay(cdr);
      const list = byDay.get(day);
      if (list) list.push(cdr);
      else byDay.set(day, [cdr]);
    }
    const result: AppendResult = { written: 0, skipped: 0 };
    const batchIds = new Set<string>();
    for (const day of [...byDay.keys()].sort()) {
      const r = await appendDay(day, byDay.get(day)!, batchIds);
      result.written += r.written;
      result.skipped += r.skipped;
    }
    rejectedSinceLastSuccess.clear();
    await days.closeAllButNewest();
    return result;
  }

  function appendBatch(cdrs: readonly Cdr[]): Promise<AppendResult> {
    if (closed) return Promise.reject(new CdrFilesClosedError('CDR files are closed'));
    const run = tail.then(() => append(cdrs));
    tail = run.catch(() => {});
    return run;
  }

  async function close(): Promise<void> {
    if (closed) return;
    const drained = tail;
    closed = true;
    await drained;
    await days.closeAll();
  }

  function release(callIds: readonly string[]): void {
    for (const d of days.values()) {
      for (const id of callIds) d.ids.release(id);
    }
  }

  function forgetScans(openedBefore: number): void {
    for (const d of days.values()) {
      if (d.openedAt < openedBefore) d.ids.forgetScanned();
    }
  }

  function heldIds(): number {
    let n = 0;
    for (const d of days.values()) n += d.ids.size;
    return n;
  }

  return { appendBatch, paths, close, release, forgetScans, heldIds };
}
