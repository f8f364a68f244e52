/**
 * Customer CDR files (src/export), on a single Redis and on the Cluster: two switches (two CDR writers with
 * their own switch ids and files) hand their CDRs over, the exporter assembles each account's day file. The
 * account's file holds exactly the CDRs of both switches' own files for that account, each once; a day
 * closes at its time after midnight UTC (injected clock), a late CDR publishes `_r2` with its own event, and
 * a standby exporter takes over the lease without duplicating anything.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, expect, it } from 'vitest';
import { pino } from 'pino';
import { describeOnRedis, type TestContext } from '../helpers/context.js';
import { createCdrFiles } from '../../src/cdr/files.js';
import { createCdrWriter, type CdrWriter } from '../../src/cdr/writer.js';
import { createEngine, type Engine } from '../../src/redis/engine.js';
import type { AdmittedSeed } from '../../src/model/index.js';
import type { AccountLimits } from '../../src/redis/codecs/account-hash.js';
import { createCdrExporter, type CdrExporter } from '../../src/export/assembler.js';
import { createDayStore } from '../../src/export/day-store.js';
import { CUSTOMER_CSV_HEADER } from '../../src/export/customer-csv.js';
import { decodeFileRecord } from '../../src/export/file-record.js';

const logger = pino({ level: 'silent' });
const DAY_START = Date.UTC(2026, 11, 3, 0, 0, 0);
const T0 = DAY_START + 12 * 3_600_000; // 2026-12-03T12:00Z
const CLOSE = DAY_START + 86_400_000 + 30 * 60_000; // 2026-12-04T00:30Z
const limits: AccountLimits = { type: 'prepaid', creditLimit: 0, channels: 100, cps: 1000, burst: 1000, lowBalanceThreshold: 0 };

let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;

async function call(engine: Engine, accountId: string, endedAt: number): Promise<{ callId: string; entryId: string }> {
  const callId = uniq('call');
  const seed: AdmittedSeed = {
    sipCallId: `${callId}@198.51.100.7`, accountId, from: '+15551230000', to: '442071234567', srcIp: '198.51.100.7',
    invitedAt: endedAt - 40_000, prefix: '4420', ratePerMin: 12_000, connectFee: 0, firstIncrement: 6, nextIncrement: 6, taxExempt: false,
  };
  const admitted = await engine.admitCall({ accountId, callId, reservation: 60_000, seed: JSON.stringify(seed) });
  if (admitted.outcome !== 'admitted') throw new Error(`admit: ${admitted.outcome}`);
  const r = await engine.finalizeCall({
    accountId, callId, total: 8_400, cost: 8_000, tax: 400, billedSec: 36, talkMs: 35_000, answeredAt: endedAt - 35_000, endedAt,
    disposition: 'answered', reason: 'normal_clearing', sipCode: 200,
  });
  if (r.outcome !== 'finalized') throw new Error(`finalize: ${r.outcome}`);
  return { callId, entryId: r.cdrEntryId };
}

/** The call ids of one account in a switch file (CSV: call_id first, account_id third). */
async function switchFileIds(dir: string, switchId: string, accountId: string): Promise<string[]> {
  const text = await readFile(join(dir, '2026-12-03', `${switchId}.csv`), 'utf8');
  return text.split('\r\n').slice(1).filter((l) => l !== '').map((l) => l.split(',')).filter((f) => f[2] === accountId).map((f) => f[0]!);
}

function csvIds(gz: Buffer): { header: string; ids: string[]; rows: string[][] } {
  const lines = gunzipSync(gz).toString('utf8').split('\r\n');
  expect(lines.pop()).toBe('');
  const rows = lines.slice(1).map((l) => l.split(','));
  return { header: lines[0]!, ids: rows.map((r) => r[0]!), rows };
}

describeOnRedis('customer CDR files', (ctx) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'callgate-export-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  async function account(c: TestContext): Promise<string> {
    const id = uniq('acct');
    await c.engine.putAccount(id, limits);
    await c.engine.applyFunds(id, uniq('pay'), 100_000_000, 0);
    return id;
  }

  async function switchOf(c: TestContext, switchId: string, accounts: string[]) {
    const dir = await tempDir();
    const engine = createEngine({ redis: c.conn.redis, keys: c.keys, switchId, leaseTtlMs: c.config.billing.leaseTtlMs });
    const files = createCdrFiles({ dir, switchId });
    const writer: CdrWriter = createCdrWriter({
      redis: c.conn.redis, keys: c.keys, files, switchId, listAccounts: () => accounts, batchMs: 5, handOff: true,
    });
    cleanups.push(async () => {
      await writer.stop();
      await files.close();
    });
    return { dir, engine, writer, switchId };
  }

  function exporterOn(c: TestContext, dir: string, accounts: string[], clock: { now: number }, instanceId = 'x1'): CdrExporter {
    const store = createDayStore({ dir, now: () => clock.now });
    const exporter = createCdrExporter({
      redis: c.conn.redis, keys: c.keys, store, logger, instanceId, accountIds: async () => accounts,
      closeAfterMinutes: 30, retentionDays: 180, intervalMs: 60_000, leaseMs: 5_000, now: () => clock.now,
    });
    cleanups.push(() => exporter.stop());
    return exporter;
  }

  const eventsOf = async (c: TestContext, id: string, type: string) =>
    (await c.conn.redis.xRange(c.keys.events(id), '-', '+')).filter((e) => e.message.type === type).map((e) => e.message);

  it('assembles one account\'s day from two switches, each CDR once, refusals marked; closes at 00:30 and revises for a late CDR', async () => {
    const c = ctx();
    const acct = await account(c);
    const other = await account(c);
    const accounts = [acct, other];
    const sw1 = await switchOf(c, 'swA', accounts);
    const sw2 = await switchOf(c, 'swB', accounts);
    for (let i = 0; i < 6; i++) {
      const sw = i % 2 === 0 ? sw1 : sw2;
      const a = await call(sw.engine, acct, T0 + i * 1000);
      sw.writer.submit(acct, a.entryId);
      const b = await call(sw.engine, other, T0 + i * 1000);
      sw.writer.submit(other, b.entryId);
    }
    sw2.writer.recordRejection({
      callId: 'refused-1', switchId: 'swB', endedAt: T0 + 10_000, sipCode: 402, reason: 'insufficient_funds',
      seed: { sipCallId: 'r1@x', accountId: acct, from: '+1555', to: '4420', srcIp: '198.51.100.7', invitedAt: T0 + 10_000, prefix: '4420', ratePerMin: 12_000, connectFee: 0, firstIncrement: 6, nextIncrement: 6, taxExempt: false },
    });
    await sw1.writer.flush();
    await sw2.writer.flush();
    expect(await c.conn.redis.xLen(c.keys.cdrs(acct))).toBe(0);
    expect(await c.conn.redis.xLen(c.keys.cdrExport(acct))).toBe(7);

    const dir = await tempDir();
    const clock = { now: T0 + 60_000 };
    const exporter = exporterOn(c, dir, accounts, clock);
    const first = await exporter.runOnce();
    expect(first).toMatchObject({ active: true, rows: 13, duplicates: 0, unreadable: 0, published: [] });
    expect(await c.conn.redis.xLen(c.keys.cdrExport(acct))).toBe(0);

    // 00:29:59: not yet closed; 00:30: revision 1
    clock.now = CLOSE - 1000;
    expect((await exporter.runOnce()).published).toEqual([]);
    clock.now = CLOSE;
    const closed = await exporter.runOnce();
    expect(closed.published.map((f) => [f.accountId, f.revision, f.rows]).sort()).toEqual([[acct, 1, 7], [other, 1, 6]].sort());
    const path = join(dir, 'files', acct, '2026', '12', `${acct}_20261203.csv.gz`);
    const gz = await readFile(path);
    const sha = createHash('sha256').update(gz).digest('hex');
    expect(await readFile(`${path}.sha256`, 'utf8')).toBe(`${sha}  ${acct}_20261203.csv.gz\n`);
    const file = csvIds(gz);
    expect(file.header).toBe(CUSTOMER_CSV_HEADER);
    const expected = [...(await switchFileIds(sw1.dir, 'swA', acct)), ...(await switchFileIds(sw2.dir, 'swB', acct))];
    expect(expected).toHaveLength(7);
    expect([...file.ids].sort()).toEqual([...expected].sort());
    expect(new Set(file.ids).size).toBe(file.ids.length);
    const refused = file.rows.find((r) => r[0] === 'refused-1')!;
    expect(refused[10]).toBe('rejected');
    expect(file.rows.find((r) => r[0] !== 'refused-1')!.slice(12, 22)).toEqual(['40', '35', '36', '6/6', '0.012000', '0.000000', '0.008000', '0.000400', '0.008400', 'USD']);
    const record = decodeFileRecord(await c.conn.redis.hGet(c.keys.cdrFiles(acct), '20261203'));
    expect(record).toMatchObject({ day: '2026-12-03', revision: 1, rows: 7, bytes: gz.length, sha256: sha, path: `${acct}/2026/12/${acct}_20261203.csv.gz` });
    expect(await eventsOf(c, acct, 'cdr_file_ready')).toHaveLength(1);

    // nothing new: no revision, no event
    expect((await exporter.runOnce()).published).toEqual([]);

    // a switch that was down delivers a CDR of that day late: _r2 beside the first file, one more event
    const late = await call(sw1.engine, acct, T0 + 3_600_000);
    sw1.writer.submit(acct, late.entryId);
    await sw1.writer.flush();
    clock.now = CLOSE + 3_600_000;
    const revised = await exporter.runOnce();
    expect(revised.published.map((f) => [f.name, f.rows])).toEqual([[`${acct}_20261203_r2.csv.gz`, 8]]);
    expect(csvIds(await readFile(path)).ids).toHaveLength(7); // the first file is never rewritten
    const r2 = csvIds(await readFile(join(dir, 'files', acct, '2026', '12', `${acct}_20261203_r2.csv.gz`)));
    expect(r2.ids).toContain(late.callId);
    expect(r2.ids).toHaveLength(8);
    const events = await eventsOf(c, acct, 'cdr_file_ready');
    expect(events.map((e) => [e.revision, e.rows, e.name])).toEqual([['1', '7', `${acct}_20261203.csv.gz`], ['2', '8', `${acct}_20261203_r2.csv.gz`]]);
  });

  it('delivers again after a crash between the master and the delete, and a standby takes over: nothing twice', async () => {
    const c = ctx();
    const acct = await account(c);
    const sw = await switchOf(c, 'swA', [acct]);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const a = await call(sw.engine, acct, T0 + i);
      ids.push(a.callId);
      sw.writer.submit(acct, a.entryId);
    }
    await sw.writer.flush();
    const dir = await tempDir();
    const clock = { now: T0 + 1000 };
    // the first exporter wrote the masters but "crashed" before deleting: put the entries back as they were
    const entries = await c.conn.redis.xRange(c.keys.cdrExport(acct), '-', '+');
    const a = exporterOn(c, dir, [acct], clock, 'a');
    expect((await a.runOnce()).rows).toBe(5);
    for (const e of entries) await c.conn.redis.xAdd(c.keys.cdrExport(acct), '*', e.message);
    await a.stop(); // releases the lease
    const b = exporterOn(c, dir, [acct], clock, 'b');
    const again = await b.runOnce();
    expect(again).toMatchObject({ active: true, rows: 0, duplicates: 5 });
    expect(await c.conn.redis.xLen(c.keys.cdrExport(acct))).toBe(0);
    // while b holds the lease, a third instance stands by and touches nothing
    const standby = exporterOn(c, dir, [acct], clock, 'c');
    expect((await standby.runOnce()).active).toBe(false);
    clock.now = CLOSE;
    const closed = await b.runOnce();
    expect(closed.published).toHaveLength(1);
    expect([...csvIds(await readFile(join(dir, 'files', closed.published[0]!.path))).ids].sort()).toEqual([...ids].sort());
  });

  it('leaves refused attempts out for an account that opted out, and prunes past the retention', async () => {
    const c = ctx();
    const acct = await account(c);
    await c.conn.redis.hSet(c.keys.cdrAccess(acct), 'refused', '0');
    const sw = await switchOf(c, 'swA', [acct]);
    const kept = await call(sw.engine, acct, T0);
    sw.writer.submit(acct, kept.entryId);
    sw.writer.recordRejection({
      callId: 'refused-x', switchId: 'swA', endedAt: T0, sipCode: 403, reason: 'account_off',
      seed: { sipCallId: 'rx@x', accountId: acct, from: '+1', to: '44', srcIp: '198.51.100.7', invitedAt: T0, prefix: '', ratePerMin: null, connectFee: null, firstIncrement: null, nextIncrement: null, taxExempt: false },
    });
    await sw.writer.flush();
    const dir = await tempDir();
    const clock = { now: CLOSE };
    const exporter = exporterOn(c, dir, [acct], clock);
    const pass = await exporter.runOnce();
    expect(pass.published.map((f) => f.rows)).toEqual([1]);
    expect(await c.conn.redis.xLen(c.keys.cdrExport(acct))).toBe(0);
    // 181 days later the day is pruned, files, master and record
    clock.now = CLOSE + 181 * 86_400_000;
    expect((await exporter.runOnce()).pruned).toBe(1);
    expect(await readdir(join(dir, 'files', acct)).catch(() => [])).toEqual([]);
    expect(await c.conn.redis.hLen(c.keys.cdrFiles(acct))).toBe(0);
  });
});
