/**
 * The customer-file assembler, the heart of the `callgate cdr-export` role. One instance works at a time,
 * the holder of the export lease (lease.ts); a standby renews nothing and takes over once the lease lapses.
 *
 * Each pass, while it holds the lease:
 *  1. drains every account's export stream (src/redis/lua/cdr-handoff-2.lua fills it): reads the entries
 *     after the last one it handled, appends their CDRs to the account's day masters (day-store.ts, which
 *     skips a call id it holds), and deletes the entries only once the masters are durable;
 *  2. publishes each day that has closed (`closeAfterMinutes` after midnight UTC) and holds CDRs its last
 *     file does not: revision 1 at day close, `_r2`, ... for CDRs that came later; each publication is
 *     recorded in the account's cdrFiles hash with one `cdr_file_ready` event (cdr-file-2.lua, once per
 *     revision);
 *  3. once a UTC day, prunes masters, files and records older than `retentionDays`.
 *
 * Every step is idempotent, so a crash or a lease handover at any point leads to the same files: entries
 * delivered again are skipped by call id, a publication recorded twice raises one event.
 */
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { loadLuaScript, runScript } from '../redis/script.js';
import { streamFields } from '../cdr/stream-entries.js';
import type { Cdr } from '../cdr/builder.js';
import type { Logger } from '../logger.js';
import type { DayStore, PublishedFile } from './day-store.js';
import { cdrFromExportEntry } from './entries.js';
import { encodeFileRecord } from './file-record.js';
import { createExportLease } from './lease.js';

const FILE = loadLuaScript('cdr-file', 2);
const DAY_MS = 86_400_000;

/** YYYYMMDD of a UTC instant. */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replace(/-/g, '');
}

export interface ExporterOptions {
  redis: Redis;
  keys: Keys;
  store: DayStore;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** This instance, as the lease names it. */
  instanceId: string;
  accountIds: () => Promise<readonly string[]>;
  closeAfterMinutes: number;
  retentionDays: number;
  intervalMs: number;
  leaseMs: number;
  /** Entries read per account and pass. Default 2,000. */
  batch?: number;
  /** Accounts whose streams are read at once. Default 200. */
  chunk?: number;
  now?: () => number;
  onRows?: (n: number) => void;
  onPublished?: (file: PublishedFile) => void;
  onActive?: (active: boolean) => void;
}

export interface PassResult {
  active: boolean;
  rows: number;
  duplicates: number;
  unreadable: number;
  published: PublishedFile[];
  pruned: number;
}

export function createCdrExporter(o: ExporterOptions) {
  const { redis, keys, store, logger, now = Date.now, batch = 2_000, chunk = 200 } = o;
  const lease = createExportLease({ redis, key: keys.exportLease, instanceId: o.instanceId, leaseMs: o.leaseMs, now });
  /** The last entry handled per account: unreadable entries stay in Redis without blocking the ones after. */
  const cursors = new Map<string, string>();
  /** Publications on disk not yet recorded in Redis (a failed record is retried each pass). */
  const unrecorded = new Map<string, PublishedFile>();
  let prunedDay = '';
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<PassResult> | null = null;
  let wasActive = false;
  let scanned = false;

  async function record(file: PublishedFile): Promise<void> {
    const key = `${file.accountId}/${file.dayField}`;
    unrecorded.set(key, file);
    const { accountId, dayField, ...rec } = file;
    await runScript(redis, FILE, [keys.cdrFiles(accountId), keys.events(accountId)], [
      accountId, dayField, rec.revision, encodeFileRecord(rec), keys.changes,
      'day', rec.day, 'name', rec.name, 'path', rec.path, 'revision', rec.revision, 'rows', rec.rows, 'bytes', rec.bytes, 'sha256', rec.sha256,
    ]);
    unrecorded.delete(key);
  }

  async function refusalsOptedOut(accountIds: readonly string[]): Promise<Set<string>> {
    const replies = await Promise.all(accountIds.map((id) => redis.hGet(keys.cdrAccess(id), 'refused')));
    return new Set(accountIds.filter((_, i) => replies[i] === '0'));
  }

  async function drain(result: PassResult): Promise<void> {
    const ids = await o.accountIds();
    for (let i = 0; i < ids.length; i += chunk) {
      const part = ids.slice(i, i + chunk);
      const replies = await Promise.all(part.map((id) => {
        const after = cursors.get(id);
        return redis.xRange(keys.cdrExport(id), after ? `(${after}` : '-', '+', { COUNT: batch });
      }));
      const withRefusals = part.filter((_, k) => replies[k]!.some((e) => streamFields(e.message).rejected !== undefined));
      const optedOut = withRefusals.length > 0 ? await refusalsOptedOut(withRefusals) : new Set<string>();
      for (let k = 0; k < part.length; k++) {
        const accountId = part[k]!;
        const entries = replies[k]!;
        if (entries.length === 0) continue;
        const byDay = new Map<string, Cdr[]>();
        const done: string[] = [];
        for (const e of entries) {
          const cdr = cdrFromExportEntry(accountId, e.id, streamFields(e.message));
          if (cdr === null) {
            result.unreadable++;
            logger.error({ accountId, entryId: e.id }, 'unreadable CDR in the export stream: left in Redis');
            continue;
          }
          done.push(e.id);
          if (cdr.disposition === 'rejected' && optedOut.has(accountId)) continue;
          const day = dayOf(cdr.endedAt);
          const list = byDay.get(day);
          if (list) list.push(cdr);
          else byDay.set(day, [cdr]);
        }
        for (const [day, cdrs] of byDay) {
          const added = await store.append(accountId, day, cdrs);
          result.rows += added;
          result.duplicates += cdrs.length - added;
        }
        // the masters are durable: only now may the entries go; a stale holder writes nothing more
        if (!lease.holds()) throw new Error('export lease lost during a pass');
        if (done.length > 0) await redis.xDel(keys.cdrExport(accountId), done);
        cursors.set(accountId, entries[entries.length - 1]!.id);
      }
    }
  }

  async function publishDue(result: PassResult): Promise<void> {
    for (const file of [...unrecorded.values()]) await record(file);
    const closedBefore = dayOf(now() - o.closeAfterMinutes * 60_000);
    for (const { accountId, day } of store.unpublished(closedBefore)) {
      if (!lease.holds()) return;
      const file = await store.publish(accountId, day);
      result.published.push(file);
      o.onPublished?.(file);
      logger.info({ accountId, day: file.day, revision: file.revision, rows: file.rows }, 'customer CDR file published');
      await record(file);
    }
  }

  async function prune(result: PassResult): Promise<void> {
    const today = dayOf(now());
    if (prunedDay === today) return;
    const before = dayOf(now() - o.retentionDays * DAY_MS);
    const removed = await store.prune(before);
    for (const { accountId, day } of removed) await redis.hDel(keys.cdrFiles(accountId), day);
    result.pruned = removed.length;
    prunedDay = today;
  }

  /** One pass: takes or renews the lease, and works only while holding it. */
  async function pass(): Promise<PassResult> {
    const result: PassResult = { active: false, rows: 0, duplicates: 0, unreadable: 0, published: [], pruned: 0 };
    result.active = await lease.acquire();
    if (result.active !== wasActive) {
      wasActive = result.active;
      o.onActive?.(result.active);
      logger.info({ instanceId: o.instanceId }, result.active ? 'export lease taken: assembling customer CDR files' : 'export lease held elsewhere: standing by');
      // another holder may have moved the streams and the files on: start again from Redis and disk
      cursors.clear();
      scanned = false;
    }
    if (!result.active) return result;
    if (!scanned) {
      await store.scan();
      for (const file of store.published()) unrecorded.set(`${file.accountId}/${file.dayField}`, file);
      scanned = true;
    }
    await drain(result);
    await publishDue(result);
    await prune(result);
    o.onRows?.(result.rows);
    return result;
  }

  function runOnce(): Promise<PassResult> {
    if (running) return running;
    running = pass().finally(() => {
      running = null;
    });
    return running;
  }

  function loop(): void {
    timer = setTimeout(() => {
      runOnce()
        .catch((err: unknown) => logger.error({ err }, 'customer CDR export pass failed; will retry'))
        .finally(() => {
          if (timer) loop();
        });
    }, o.intervalMs);
  }

  return {
    runOnce,
    start(): void {
      if (timer) return;
      lease.start();
      loop();
      void runOnce().catch((err: unknown) => logger.error({ err }, 'customer CDR export pass failed; will retry'));
    },
    async stop(): Promise<void> {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running?.catch(() => {});
      await lease.release();
    },
    isActive: () => lease.holds(),
  };
}

export type CdrExporter = ReturnType<typeof createCdrExporter>;
