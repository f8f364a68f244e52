/**
 * Daily CDR files of one switch: `<dir>/<YYYY-MM-DD>/<switchId>.csv` (what customers download) and
 * `.jsonl` (for machines), the day being the UTC day a call ended.
 *
 * A batch is acknowledged only once it is durable (write, then fsync). The writer acknowledges stream
 * entries (XDEL) only after that, so a crash at any point leads to the same entries being written again:
 * each file therefore skips a call id it already holds, and the ids are re-read from both files when a day
 * is opened, so a restart does not duplicate either. A torn last record (a crash in the middle of a write)
 * is cut off when the file is opened; it was never acknowledged, so it is written again whole.
 *
 * Rejected attempts are never re-delivered (they do not go through Redis), so their ids are not kept for
 * the day, which would cost memory under a flood of refused INVITEs; they are only guarded across the
 * retry of a failed batch.
 *
 * Memory stays bounded however long a day is. The ids of CDRs this instance writes are held only until
 * the writer has deleted their stream entries (`release`): an entry that is gone cannot come back. The
 * ids read from the files when a day is opened are held until the writer has seen every entry that was
 * in Redis at that time (`forgetScans`, after a full recovery pass).
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ID_PATTERN } from '../config/schema.js';
import { cdrDay, CSV_COLUMNS, CSV_HEADER, CSV_LINE_END, toCsvRow, toJsonLine, type Cdr } from './builder.js';

/** The part of a pino logger the CDR code uses. */
export interface CdrLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const silentLogger: CdrLogger = { warn: () => {}, error: () => {} };

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

interface DayFile {
  path: string;
  handle: FileHandle;
  /** Bytes in the file: a failed batch is cut back to this. */
  size: number;
}

interface Day {
  day: string;
  csv: DayFile;
  jsonl: DayFile;
  /** When the files were opened (and scanned), epoch ms. */
  openedAt: number;
  /**
   * Call ids (not rejected attempts) the files held when they were opened. Almost every id is in both, so
   * that set is shared. Emptied by forgetScans.
   */
  inBoth: Set<string>;
  csvOnly: Set<string>;
  jsonlOnly: Set<string>;
  /** Call ids this instance wrote to both files, until release(). */
  written: Set<string>;
}

const NEWLINE = 0x0a;
const QUOTE = 0x22;
const COMMA = 0x2c;
const CR = 0x0d;
const READ_CHUNK = 1 << 20;
const DISPOSITION_COLUMN = CSV_COLUMNS.indexOf('disposition');
const JSON_CALL_ID = /^\{"call_id":("(?:[^"\\]|\\.)*")/;

async function readChunks(handle: FileHandle, size: number, onChunk: (chunk: Buffer, offset: number) => void): Promise<void> {
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  for (let offset = 0; offset < size; ) {
    const { bytesRead } = await handle.read(buf, 0, Math.min(READ_CHUNK, size - offset), offset);
    if (bytesRead === 0) break;
    onChunk(buf.subarray(0, bytesRead), offset);
    offset += bytesRead;
  }
}

/** Undoes neutraliseFormula on a CSV value, to compare it with a raw call id. */
function unneutralise(text: string): string {
  return /^'[=+\-@\t\r]/.test(text) ? text.slice(1) : text;
}

/**
 * Reads the CSV's records (RFC 4180: quoted fields may hold commas, quotes and line breaks) and returns
 * the call ids of its non-rejected rows, with the byte length of its complete records.
 */
async function scanCsv(handle: FileHandle, size: number): Promise<{ ids: Set<string>; completeBytes: number }> {
  const ids = new Set<string>();
  const S = { FieldStart: 0, Unquoted: 1, Quoted: 2, QuoteInQuoted: 3 } as const;
  let state: number = S.FieldStart;
  let field = 0;
  let record = 0;
  let completeBytes = 0;
  let idBytes: number[] = [];
  let dispositionBytes: number[] = [];
  const keep = (b: number) => {
    if (field === 0) idBytes.push(b);
    else if (field === DISPOSITION_COLUMN) dispositionBytes.push(b);
  };
  const text = (bytes: number[]) => {
    const s = Buffer.from(bytes).toString('utf8');
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  };
  await readChunks(handle, size, (chunk, offset) => {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (state === S.Quoted) {
        if (b === QUOTE) state = S.QuoteInQuoted;
        else keep(b);
        continue;
      }
      if (state === S.QuoteInQuoted && b === QUOTE) {
        keep(b);
        state = S.Quoted;
        continue;
      }
      if (b === COMMA) {
        field++;
        state = S.FieldStart;
      } else if (b === NEWLINE) {
        // record 0 is the header
        if (record > 0 && text(dispositionBytes) !== 'rejected') ids.add(unneutralise(text(idBytes)));
        record++;
        completeBytes = offset + i + 1;
        field = 0;
        idBytes = [];
        dispositionBytes = [];
        state = S.FieldStart;
      } else if (state === S.FieldStart && b === QUOTE) {
        state = S.Quoted;
      } else {
        // the CR of a quoted field's CRLF line end is not part of the field
        if (b !== CR || state !== S.QuoteInQuoted) keep(b);
        state = S.Unquoted;
      }
    }
  });
  return { ids, completeBytes };
}

/** Reads the JSONL's complete lines and calls back with the call id of each non-rejected CDR. */
async function scanJsonl(handle: FileHandle, size: number, onId: (id: string) => void): Promise<{ completeBytes: number }> {
  let completeBytes = 0;
  let carry: Buffer = Buffer.alloc(0);
  const line = (bytes: Buffer) => {
    const text = bytes.toString('utf8');
    if (text.includes('"disposition":"rejected"')) return;
    const m = JSON_CALL_ID.exec(text);
    try {
      const id: unknown = m ? JSON.parse(m[1]!) : (JSON.parse(text) as { call_id?: unknown }).call_id;
      if (typeof id === 'string') onId(id);
    } catch {
      // a line this module did not write: nothing to deduplicate against
    }
  };
  await readChunks(handle, size, (chunk, offset) => {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, nl);
      line(carry.length > 0 ? Buffer.concat([carry, piece]) : piece);
      carry = Buffer.alloc(0);
      start = nl + 1;
      completeBytes = offset + nl + 1;
    }
    if (start < chunk.length) carry = Buffer.concat([carry, chunk.subarray(start)]);
  });
  return { completeBytes };
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  for (let off = 0; off < data.length; ) {
    const { bytesWritten } = await handle.write(data, off, data.length - off, null);
    off += bytesWritten;
  }
}

/** Makes a new directory entry durable; not every platform can open a directory, which is then skipped. */
async function syncDir(path: string): Promise<void> {
  let dir: FileHandle | undefined;
  try {
    dir = await open(path, 'r');
    await dir.sync();
  } catch {
    // best effort: EISDIR/EPERM on platforms without directory fsync
  } finally {
    await dir?.close().catch(() => {});
  }
}

export function createCdrFiles({ dir, switchId, fsyncEach = true, logger = silentLogger, keepOpenDays = 2, now = Date.now }: CdrFilesOptions): CdrFiles {
  if (typeof switchId !== 'string' || !ID_PATTERN.test(switchId)) {
    throw new CdrFilesConfigError('switchId must match [A-Za-z0-9_.-]{1,64}');
  }
  if (!Number.isInteger(keepOpenDays) || keepOpenDays < 1) throw new CdrFilesConfigError('keepOpenDays must be a positive integer');

  const days = new Map<string, Day>();
  /** Rejected ids written by a batch that failed elsewhere, so that its retry does not write them twice. */
  const rejectedSinceLastSuccess = new Set<string>();
  let tail: Promise<unknown> = Promise.resolve();
  let closed = false;

  const paths = (day: string) => ({
    csv: join(dir, day, `${switchId}.csv`),
    jsonl: join(dir, day, `${switchId}.jsonl`),
  });

  async function openFile(path: string): Promise<DayFile> {
    const handle = await open(path, 'a+');
    try {
      const { size } = await handle.stat();
      return { path, handle, size };
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
  }

  async function cutTornTail(file: DayFile, completeBytes: number): Promise<void> {
    if (completeBytes >= file.size) return;
    logger.warn({ path: file.path, from: completeBytes, bytes: file.size - completeBytes }, 'cutting a torn last CDR record');
    await file.handle.truncate(completeBytes);
    file.size = completeBytes;
  }

  async function openDay(day: string): Promise<Day> {
    const openedAt = now();
    const p = paths(day);
    const dayDir = join(dir, day);
    const createdDir = await mkdir(dayDir, { recursive: true });
    const csv = await openFile(p.csv);
    let jsonl: DayFile;
    try {
      jsonl = await openFile(p.jsonl);
    } catch (err) {
      await csv.handle.close().catch(() => {});
      throw err;
    }
    try {
      const created = csv.size === 0 || jsonl.size === 0;
      const fromCsv = await scanCsv(csv.handle, csv.size);
      await cutTornTail(csv, fromCsv.completeBytes);
      const inBoth = new Set<string>();
      const jsonlOnly = new Set<string>();
      const fromJsonl = await scanJsonl(jsonl.handle, jsonl.size, (id) => {
        if (fromCsv.ids.delete(id)) inBoth.add(id);
        else jsonlOnly.add(id);
      });
      await cutTornTail(jsonl, fromJsonl.completeBytes);
      const csvOnly = fromCsv.ids;
      if (csvOnly.size > 0 || jsonlOnly.size > 0) {
        logger.warn({ day, csvOnly: csvOnly.size, jsonlOnly: jsonlOnly.size }, 'CDR files disagree; completing each from the redelivered entries');
      }
      if (csv.size === 0) {
        const header = Buffer.from(CSV_HEADER + CSV_LINE_END);
        await writeAll(csv.handle, header);
        csv.size = header.length;
        if (fsyncEach) await csv.handle.sync();
      }
      if (fsyncEach && created) {
        await syncDir(dayDir);
        if (createdDir !== undefined) await syncDir(dir);
      }
      return { day, csv, jsonl, openedAt, inBoth, csvOnly, jsonlOnly, written: new Set() };
    } catch (err) {
      await Promise.all([csv.handle.close().catch(() => {}), jsonl.handle.close().catch(() => {})]);
      throw err;
    }
  }

  async function closeDay(d: Day): Promise<void> {
    days.delete(d.day);
    await Promise.all([d.csv.handle.close().catch(() => {}), d.jsonl.handle.close().catch(() => {})]);
  }

  async function getDay(day: string): Promise<Day> {
    const known = days.get(day);
    if (known) return known;
    const d = await openDay(day);
    days.set(day, d);
    return d;
  }

  /** Puts a file back to its size before the failed batch; a file that cannot be repaired is reopened (and rescanned) later. */
  async function rollBack(d: Day, sizes: { csv: number; jsonl: number }): Promise<void> {
    try {
      await d.csv.handle.truncate(sizes.csv);
      d.csv.size = sizes.csv;
      await d.jsonl.handle.truncate(sizes.jsonl);
      d.jsonl.size = sizes.jsonl;
    } catch (err) {
      logger.error({ day: d.day, err }, 'could not roll back a failed CDR write; the day files will be rescanned');
      await closeDay(d);
    }
  }

  async function appendDay(day: string, cdrs: readonly Cdr[], batchIds: Set<string>): Promise<AppendResult> {
    const d = await getDay(day);
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
      const inBoth = !rejected && (d.written.has(id) || d.inBoth.has(id));
      const inCsv = inBoth || (!rejected && d.csvOnly.has(id));
      const inJsonl = inBoth || (!rejected && d.jsonlOnly.has(id));
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
      if (csvData.length > 0) await writeAll(d.csv.handle, csvData);
      d.csv.size += csvData.length;
      if (jsonlData.length > 0) await writeAll(d.jsonl.handle, jsonlData);
      d.jsonl.size += jsonlData.length;
      if (fsyncEach) {
        await Promise.all([csvData.length > 0 ? d.csv.handle.sync() : undefined, jsonlData.length > 0 ? d.jsonl.handle.sync() : undefined]);
      }
    } catch (err) {
      await rollBack(d, sizes);
      throw err;
    }
    for (const cdr of written) {
      if (cdr.disposition === 'rejected') {
        rejectedSinceLastSuccess.add(cdr.callId);
      } else {
        d.written.add(cdr.callId);
        d.inBoth.delete(cdr.callId);
        d.csvOnly.delete(cdr.callId);
        d.jsonlOnly.delete(cdr.callId);
      }
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
    const stale = [...days.keys()].sort().slice(0, -keepOpenDays);
    await Promise.all(stale.map((day) => closeDay(days.get(day)!)));
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
    await Promise.all([...days.values()].map(closeDay));
  }

  function release(callIds: readonly string[]): void {
    for (const d of days.values()) {
      for (const id of callIds) {
        d.written.delete(id);
        d.inBoth.delete(id);
        d.csvOnly.delete(id);
        d.jsonlOnly.delete(id);
      }
    }
  }

  function forgetScans(openedBefore: number): void {
    for (const d of days.values()) {
      if (d.openedAt >= openedBefore) continue;
      d.inBoth.clear();
      d.csvOnly.clear();
      d.jsonlOnly.clear();
    }
  }

  function heldIds(): number {
    let n = 0;
    for (const d of days.values()) n += d.written.size + d.inBoth.size + d.csvOnly.size + d.jsonlOnly.size;
    return n;
  }

  return { appendBatch, paths, close, release, forgetScans, heldIds };
}
