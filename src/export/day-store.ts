/**
 * The export role's disk: one master per account and UTC day, and the files published from it.
 *
 *   <dir>/days/<account>/<YYYYMMDD>.jsonl        every CDR of that account and day, one JSON per line, each call id once
 *   <dir>/days/<account>/<YYYYMMDD>.state.json   the revision published last and how many CDRs it held
 *   <dir>/files/<account>/<YYYY>/<MM>/<account>_<YYYYMMDD>[_r<N>].csv.gz, and .sha256 beside each
 *
 * A master is appended to and fsynced before the export stream entries are deleted, so a crash between the
 * two delivers them again: the master skips a call id it holds (read back from the file when the day is
 * first touched; a torn last line is cut off). Published files are written to a temporary name, fsynced
 * and renamed, and never rewritten: a late CDR publishes the next revision beside the last.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { ID_PATTERN } from '../config/schema.js';
import type { Cdr } from '../cdr/builder.js';
import { customerCsv } from './customer-csv.js';
import { cdrFromJson } from './entries.js';
import type { CdrFileRecord } from './file-record.js';

const gzipAsync = promisify(gzip);
const DAY = /^\d{8}$/;

export class DayStoreInputError extends Error {
  override readonly name = 'DayStoreInputError';
}

interface DayState {
  /** Call ids the master holds; null until read from the file. */
  ids: Set<string> | null;
  rows: number;
  /** The file published last, as its state file keeps it. */
  published: PublishedFile | null;
  lastUsed: number;
}

export interface DayStoreOptions {
  dir: string;
  /** Days whose call ids stay in memory; the least recently used are read back from their master when needed. Default 2,000. */
  maxCachedDays?: number;
  now?: () => number;
}

export interface PublishedFile extends CdrFileRecord {
  accountId: string;
  /** YYYYMMDD */
  dayField: string;
}

/** `<account>_<YYYYMMDD>.csv.gz`, `_r<N>` before the extension from revision 2. */
export function fileName(accountId: string, day: string, revision: number): string {
  return `${accountId}_${day}${revision > 1 ? `_r${revision}` : ''}.csv.gz`;
}

/** The path of a day's file under the files root, which is also its SFTP path below the account's folder. */
export function filePath(accountId: string, day: string, revision: number): string {
  return `${accountId}/${day.slice(0, 4)}/${day.slice(4, 6)}/${fileName(accountId, day, revision)}`;
}

const isoDay = (day: string) => `${day.slice(0, 4)}-${day.slice(4, 6)}-${day.slice(6, 8)}`;

function check(accountId: string, day: string): void {
  if (!ID_PATTERN.test(accountId)) throw new DayStoreInputError(`bad account id ${JSON.stringify(accountId)}`);
  if (!DAY.test(day)) throw new DayStoreInputError(`bad day ${JSON.stringify(day)}: YYYYMMDD`);
}

async function writeDurably(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

async function syncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function createDayStore({ dir, maxCachedDays = 2_000, now = Date.now }: DayStoreOptions) {
  const daysDir = join(dir, 'days');
  const filesDir = join(dir, 'files');
  const days = new Map<string, DayState>();
  const keyOf = (accountId: string, day: string) => `${accountId}/${day}`;
  const masterPath = (accountId: string, day: string) => join(daysDir, accountId, `${day}.jsonl`);
  const statePath = (accountId: string, day: string) => join(daysDir, accountId, `${day}.state.json`);

  async function readState(accountId: string, day: string): Promise<DayState['published']> {
    try {
      const v = JSON.parse(await readFile(statePath(accountId, day), 'utf8')) as Partial<PublishedFile>;
      if (Number.isSafeInteger(v.revision) && Number.isSafeInteger(v.rows) && typeof v.sha256 === 'string') return v as PublishedFile;
    } catch {
      /* none yet */
    }
    return null;
  }

  /** The master's CDRs, after cutting a torn last line a crash left. */
  async function readMaster(accountId: string, day: string): Promise<Cdr[]> {
    const path = masterPath(accountId, day);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const end = text.lastIndexOf('\n') + 1;
    if (end < text.length) await truncate(path, Buffer.byteLength(text.slice(0, end)));
    // each call id once, also if two holders of the lease on shared storage both appended it
    const cdrs = new Map<string, Cdr>();
    for (const line of text.slice(0, end).split('\n')) {
      if (line === '') continue;
      const cdr = cdrFromJson(line);
      if (cdr && !cdrs.has(cdr.callId)) cdrs.set(cdr.callId, cdr);
    }
    return [...cdrs.values()];
  }

  function evict(): void {
    if (days.size <= maxCachedDays) return;
    const byAge = [...days.entries()].filter(([, s]) => s.ids !== null).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [, s] of byAge.slice(0, days.size - maxCachedDays)) s.ids = null;
  }

  async function dayState(accountId: string, day: string, withIds: boolean): Promise<DayState> {
    const key = keyOf(accountId, day);
    let s = days.get(key);
    if (!s) {
      s = { ids: null, rows: 0, published: await readState(accountId, day), lastUsed: now() };
      days.set(key, s);
    }
    s.lastUsed = now();
    if (withIds && s.ids === null) {
      const cdrs = await readMaster(accountId, day);
      s.ids = new Set(cdrs.map((c) => c.callId));
      s.rows = s.ids.size;
      evict();
    }
    return s;
  }

  return {
    /** Reads what is on disk at start: every master's rows and published state, so unpublished days are known. */
    async scan(): Promise<void> {
      let accounts: string[];
      try {
        accounts = await readdir(daysDir);
      } catch {
        return;
      }
      for (const accountId of accounts) {
        if (!ID_PATTERN.test(accountId)) continue;
        for (const name of await readdir(join(daysDir, accountId))) {
          const m = /^(\d{8})\.jsonl$/.exec(name);
          if (m) await dayState(accountId, m[1]!, true);
        }
      }
    },

    /** Appends the CDRs the master does not hold yet, durably; resolves with how many it appended. */
    async append(accountId: string, day: string, cdrs: readonly Cdr[]): Promise<number> {
      check(accountId, day);
      const s = await dayState(accountId, day, true);
      const fresh: Cdr[] = [];
      for (const cdr of cdrs) {
        if (s.ids!.has(cdr.callId)) continue;
        s.ids!.add(cdr.callId);
        fresh.push(cdr);
      }
      if (fresh.length === 0) return 0;
      const folder = join(daysDir, accountId);
      await mkdir(folder, { recursive: true });
      const fh = await open(masterPath(accountId, day), 'a', 0o644);
      try {
        await fh.write(fresh.map((c) => JSON.stringify(c) + '\n').join(''));
        await fh.sync();
      } catch (err) {
        for (const c of fresh) s.ids!.delete(c.callId);
        throw err;
      } finally {
        await fh.close();
      }
      s.rows += fresh.length;
      return fresh.length;
    },

    /** Days holding CDRs their last published file does not (or that were never published), ended before `dayBefore` (YYYYMMDD, exclusive). */
    unpublished(dayBefore: string): { accountId: string; day: string }[] {
      const out: { accountId: string; day: string }[] = [];
      for (const [key, s] of days) {
        const [accountId, day] = key.split('/') as [string, string];
        if (day < dayBefore && s.rows > (s.published?.rows ?? 0)) out.push({ accountId, day });
      }
      return out.sort((a, b) => (a.day === b.day ? (a.accountId < b.accountId ? -1 : 1) : a.day < b.day ? -1 : 1));
    },

    /** Publishes the day's next revision from its master: the gzip file, its .sha256, then the state. */
    async publish(accountId: string, day: string): Promise<PublishedFile> {
      check(accountId, day);
      const s = await dayState(accountId, day, true);
      const cdrs = await readMaster(accountId, day);
      const revision = (s.published?.revision ?? 0) + 1;
      const path = filePath(accountId, day, revision);
      const full = join(filesDir, path);
      const folder = join(full, '..');
      await mkdir(folder, { recursive: true });
      const gz = await gzipAsync(Buffer.from(customerCsv(cdrs), 'utf8'));
      const sha256 = createHash('sha256').update(gz).digest('hex');
      const name = fileName(accountId, day, revision);
      await writeDurably(full, gz);
      await writeDurably(`${full}.sha256`, `${sha256}  ${name}\n`);
      await syncDir(folder);
      const published: PublishedFile = {
        accountId, dayField: day, day: isoDay(day), name, path, revision, rows: cdrs.length, bytes: gz.length, sha256,
        publishedAt: new Date(now()).toISOString(),
      };
      await writeDurably(statePath(accountId, day), JSON.stringify(published));
      s.published = published;
      s.rows = cdrs.length;
      return published;
    },

    /** The file published last of every day known, as the state files keep them. */
    published(): PublishedFile[] {
      const out: PublishedFile[] = [];
      for (const s of days.values()) if (s.published) out.push(s.published);
      return out;
    },

    /** Removes every master and file of days before `dayBefore` (YYYYMMDD, exclusive); resolves with the days removed. */
    async prune(dayBefore: string): Promise<{ accountId: string; day: string }[]> {
      const removed: { accountId: string; day: string }[] = [];
      let accounts: string[] = [];
      try {
        accounts = await readdir(daysDir);
      } catch {
        /* nothing yet */
      }
      for (const accountId of accounts) {
        if (!ID_PATTERN.test(accountId)) continue;
        for (const name of await readdir(join(daysDir, accountId))) {
          const m = /^(\d{8})\.(jsonl|state\.json)$/.exec(name);
          if (!m || m[1]! >= dayBefore) continue;
          const day = m[1]!;
          await rm(join(daysDir, accountId, name), { force: true });
          if (m[2] === 'jsonl') removed.push({ accountId, day });
          days.delete(keyOf(accountId, day));
        }
      }
      let fileAccounts: string[] = [];
      try {
        fileAccounts = await readdir(filesDir);
      } catch {
        /* nothing yet */
      }
      for (const accountId of fileAccounts) {
        if (!ID_PATTERN.test(accountId)) continue;
        const root = join(filesDir, accountId);
        for (const year of await readdir(root).catch(() => [] as string[])) {
          for (const month of await readdir(join(root, year)).catch(() => [] as string[])) {
            const folder = join(root, year, month);
            for (const name of await readdir(folder).catch(() => [] as string[])) {
              const m = /_(\d{8})(?:_r\d+)?\.csv\.gz(?:\.sha256)?$/.exec(name);
              if (m && m[1]! < dayBefore) await rm(join(folder, name), { force: true });
            }
            if ((await readdir(folder)).length === 0) await rm(folder, { recursive: true, force: true });
          }
          if ((await readdir(join(root, year)).catch(() => ['x'])).length === 0) await rm(join(root, year), { recursive: true, force: true });
        }
      }
      return removed;
    },

    /** The files root: `<dir>/files`, what the SFTP server serves. */
    filesRoot: filesDir,
    /** How many CDRs a day's master holds (reads it if needed). */
    async rows(accountId: string, day: string): Promise<number> {
      check(accountId, day);
      return (await dayState(accountId, day, true)).rows;
    },
    /** Size of a published file, for tests and checks. */
    async fileSize(path: string): Promise<number> {
      return (await stat(join(filesDir, path))).size;
    },
  };
}

export type DayStore = ReturnType<typeof createDayStore>;
