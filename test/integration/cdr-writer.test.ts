import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it, vi } from 'vitest';
import { describeOnRedis, type TestContext } from '../helpers/context.js';
import { waitFor } from '../helpers/wait.js';
import { cdrDay, cdrFromStreamEntry, CSV_HEADER } from '../../src/cdr/builder.js';
import type { AdmittedSeed } from '../../src/model/index.js';
import { createCdrFiles, type CdrFiles } from '../../src/cdr/files.js';
import { CdrFlushError, createCdrWriter, type CdrWriter, type CdrWriterOptions } from '../../src/cdr/writer.js';
import { createEngine, type Engine } from '../../src/redis/engine.js';
import type { Redis } from '../../src/redis/client.js';
import type { AccountLimits } from '../../src/redis/codecs/account-hash.js';

const T0 = Date.UTC(2024, 2, 1, 12, 0, 0, 0); // 2024-03-01T12:00:00.000Z
const DAY = '2024-03-01';

let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;

const limits: AccountLimits = { type: 'prepaid', creditLimit: 0, channels: 10, cps: 1000, burst: 1000, lowBalanceThreshold: 0 };

async function account(c: TestContext): Promise<string> {
  const id = uniq('acct');
  await c.engine.putAccount(id, limits);
  await c.engine.applyFunds(id, uniq('pay'), 10_000_000, 0);
  return id;
}

interface CallSpec {
  callId?: string;
  staticCdr?: Partial<AdmittedSeed>;
  answeredAt?: number;
  endedAt: number;
  talkMs?: number;
  billedSec?: number;
  cost?: number;
  tax?: number;
  disposition?: 'answered' | 'cancelled';
  reason?: string;
  sipCode?: number;
}

/** Admits and finalizes one call as the owner would; returns its CDR stream entry id. */
async function call(engine: Engine, accountId: string, spec: CallSpec): Promise<{ callId: string; entryId: string }> {
  const callId = spec.callId ?? uniq('call');
  const staticCdr: AdmittedSeed = {
    sipCallId: `${callId}@198.51.100.7`,
    accountId,
    from: 'sip:+15551230000@198.51.100.7',
    to: 'sip:442071234567@gw.example.net',
    srcIp: '198.51.100.7',
    invitedAt: T0,
    prefix: '4420',
    ratePerMin: 12_000,
    connectFee: 500,
    firstIncrement: 6,
    nextIncrement: 6,
    taxExempt: false,
    ...spec.staticCdr,
  };
  const admitted = await engine.admitCall({ accountId, callId, reservation: 60_000, seed: JSON.stringify(staticCdr) });
  if (admitted.outcome !== 'admitted') throw new Error(`admit: ${admitted.outcome}`);
  const cost = spec.cost ?? 0;
  const tax = spec.tax ?? 0;
  const r = await engine.finalizeCall({
    accountId,
    callId,
    total: cost + tax,
    cost,
    tax,
    billedSec: spec.billedSec ?? 0,
    talkMs: spec.talkMs ?? 0,
    answeredAt: spec.answeredAt ?? 0,
    endedAt: spec.endedAt,
    disposition: spec.disposition ?? 'answered',
    reason: spec.reason ?? 'normal_clearing',
    sipCode: spec.sipCode ?? 200,
  });
  if (r.outcome !== 'finalized') throw new Error(`finalize: ${r.outcome}`);
  return { callId, entryId: r.cdrEntryId };
}

const csvFile = (...rows: string[]) => [CSV_HEADER, ...rows].map((r) => `${r}\r\n`).join('');

describeOnRedis(
  'CDR writer',
  (ctx) => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function tempDir(): Promise<string> {
      const dir = await mkdtemp(join(tmpdir(), 'callgate-cdr-writer-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      return dir;
    }

    function writerOn(dir: string, accounts: string[], options: Partial<CdrWriterOptions> = {}): { files: CdrFiles; writer: CdrWriter } {
      const c = ctx();
      const files = options.files ?? createCdrFiles({ dir, switchId: c.config.switchId });
      const writer = createCdrWriter({
        redis: c.conn.redis,
        keys: c.keys,
        switchId: c.config.switchId,
        listAccounts: () => accounts,
        batchMs: 10,
        ...options,
        files,
      });
      cleanups.push(async () => {
        await writer.stop();
        await files.close();
      });
      return { files, writer };
    }

    const read = (dir: string, ext: 'csv' | 'jsonl') => readFile(join(dir, DAY, `${ctx().config.switchId}.${ext}`), 'utf8');
    const streamLength = (accountId: string) => ctx().conn.redis.xLen(ctx().keys.cdrs(accountId));

    it('writes one CSV row and one JSON line per call, then deletes the entries', async () => {
      const c = ctx();
      const sw = c.config.switchId;
      const taxed = await account(c);
      const exempt = await account(c);
      const a = await call(c.engine, taxed, {
        answeredAt: T0 + 2_500, endedAt: T0 + 63_250, talkMs: 60_750, billedSec: 66, cost: 13_700, tax: 2_384,
      });
      const b = await call(c.engine, taxed, {
        staticCdr: { invitedAt: T0 + 1_000 }, endedAt: T0 + 5_000, disposition: 'cancelled', reason: 'caller_cancel', sipCode: 487,
      });
      const e = await call(c.engine, exempt, {
        staticCdr: { taxExempt: true, prefix: '1', ratePerMin: 12_000, to: 'sip:12125550100@gw.example.net' },
        answeredAt: T0 + 1_000, endedAt: T0 + 31_000, talkMs: 30_000, billedSec: 30, cost: 6_500,
      });
      const dir = await tempDir();
      const { writer } = writerOn(dir, [taxed, exempt]);
      writer.submit(taxed, [a.entryId, b.entryId]);
      writer.submit(exempt, e.entryId);
      expect(writer.stats().pending).toBe(3);
      await writer.flush();

      const from = 'sip:+15551230000@198.51.100.7';
      const to = 'sip:442071234567@gw.example.net';
      expect(await read(dir, 'csv')).toBe(
        csvFile(
          `${a.callId},${a.callId}@198.51.100.7,${taxed},${sw},${from},${to},198.51.100.7,2024-03-01T12:00:00.000Z,` +
            '2024-03-01T12:00:02.500Z,2024-03-01T12:01:03.250Z,63250,61,66,200,answered,normal_clearing,4420,0.012000,0.000500,' +
            '0.013700,0.002384,0.016084',
          `${b.callId},${b.callId}@198.51.100.7,${taxed},${sw},${from},${to},198.51.100.7,2024-03-01T12:00:01.000Z,` +
            ',2024-03-01T12:00:05.000Z,4000,0,0,487,cancelled,caller_cancel,4420,0.012000,0.000500,0.000000,0.000000,0.000000',
          `${e.callId},${e.callId}@198.51.100.7,${exempt},${sw},${from},sip:12125550100@gw.example.net,198.51.100.7,` +
            '2024-03-01T12:00:00.000Z,2024-03-01T12:00:01.000Z,2024-03-01T12:00:31.000Z,31000,30,30,200,answered,normal_clearing,' +
            '1,0.012000,0.000500,0.006500,,0.006500',
        ),
      );
      const common = (callId: string, accountId: string) =>
        `"call_id":"${callId}","sip_call_id":"${callId}@198.51.100.7","account_id":"${accountId}","switch_id":"${sw}","from":"${from}"`;
      expect(await read(dir, 'jsonl')).toBe(
        [
          `{${common(a.callId, taxed)},"to":"${to}","source_ip":"198.51.100.7","invited_at":"2024-03-01T12:00:00.000Z",` +
            '"answered_at":"2024-03-01T12:00:02.500Z","ended_at":"2024-03-01T12:01:03.250Z","duration_ms":63250,"billsec":61,' +
            '"billed_sec":66,"sip_code":200,"disposition":"answered","reason":"normal_clearing","prefix":"4420","rate_per_min":12000,' +
            '"connect_fee":500,"cost":13700,"tax":2384,"total":16084}',
          `{${common(b.callId, taxed)},"to":"${to}","source_ip":"198.51.100.7","invited_at":"2024-03-01T12:00:01.000Z",` +
            '"answered_at":null,"ended_at":"2024-03-01T12:00:05.000Z","duration_ms":4000,"billsec":0,"billed_sec":0,"sip_code":487,' +
            '"disposition":"cancelled","reason":"caller_cancel","prefix":"4420","rate_per_min":12000,"connect_fee":500,"cost":0,' +
            '"tax":0,"total":0}',
          `{${common(e.callId, exempt)},"to":"sip:12125550100@gw.example.net","source_ip":"198.51.100.7",` +
            '"invited_at":"2024-03-01T12:00:00.000Z","answered_at":"2024-03-01T12:00:01.000Z","ended_at":"2024-03-01T12:00:31.000Z",' +
            '"duration_ms":31000,"billsec":30,"billed_sec":30,"sip_code":200,"disposition":"answered","reason":"normal_clearing",' +
            '"prefix":"1","rate_per_min":12000,"connect_fee":500,"cost":6500,"total":6500}',
          '',
        ].join('\n'),
      );
      expect(await streamLength(taxed)).toBe(0);
      expect(await streamLength(exempt)).toBe(0);
      expect(writer.stats()).toMatchObject({ pending: 0, awaitingDelete: 0, written: 3, duplicates: 0, lagMs: 0, consecutiveFailures: 0 });
      expect(writer.stats().lastFlushAt).not.toBeNull();
    });

    it('writes on its own timer, and neutralises formula injection from SIP headers in the CSV only', async () => {
      const c = ctx();
      const id = await account(c);
      const hostile = { from: '=HYPERLINK("http://evil.example/","x")', to: '@SUM(1+1)*cmd|" /C calc"!A0', sipCallId: '-2+3,a' };
      const x = await call(c.engine, id, { staticCdr: hostile, endedAt: T0 + 1_000, disposition: 'cancelled', sipCode: 487 });
      const dir = await tempDir();
      const { writer } = writerOn(dir, [id]);
      writer.submit(id, x.entryId);
      await vi.waitFor(async () => expect(await streamLength(id)).toBe(0), { timeout: 5_000, interval: 20 });
      expect(await read(dir, 'csv')).toBe(
        csvFile(
          `${x.callId},"'-2+3,a",${id},${c.config.switchId},"'=HYPERLINK(""http://evil.example/"",""x"")",` +
            `"'@SUM(1+1)*cmd|"" /C calc""!A0",198.51.100.7,2024-03-01T12:00:00.000Z,,2024-03-01T12:00:01.000Z,1000,0,0,487,` +
            'cancelled,normal_clearing,4420,0.012000,0.000500,0.000000,0.000000,0.000000',
        ),
      );
      const json = JSON.parse(await read(dir, 'jsonl')) as Record<string, unknown>;
      expect([json.from, json.to, json.sip_call_id]).toEqual([hostile.from, hostile.to, hostile.sipCallId]);
    });

    it('does not duplicate a CDR when a restarted writer finds entries it had already written', async () => {
      const c = ctx();
      const id = await account(c);
      const dir = await tempDir();
      const first = writerOn(dir, [id]);
      const a = await call(c.engine, id, { endedAt: T0 + 1_000, disposition: 'cancelled', sipCode: 487 });
      first.writer.submit(id, a.entryId);
      await first.writer.flush();
      // b is durable in the files but the process dies before XDEL; c dies before it is even submitted
      const b = await call(c.engine, id, { endedAt: T0 + 2_000, disposition: 'cancelled', sipCode: 487 });
      const [entryB] = await c.conn.redis.xRange(c.keys.cdrs(id), b.entryId, b.entryId);
      await first.files.appendBatch([cdrFromStreamEntry(entryB!.message, { entryId: b.entryId, accountId: id })]);
      const cc = await call(c.engine, id, { endedAt: T0 + 3_000, disposition: 'cancelled', sipCode: 487 });
      await first.writer.stop();
      await first.files.close();
      expect(await streamLength(id)).toBe(2);

      // the restarted files were opened a minute ago, as far as the recovery pass can tell
      const files = createCdrFiles({ dir, switchId: c.config.switchId, now: () => Date.now() - 60_000 });
      const second = writerOn(dir, [id], { recoverGraceMs: 0, files });
      expect(await second.writer.recover()).toBe(2);
      second.writer.submit(id, [a.entryId, b.entryId]); // late or repeated submissions of gone entries are harmless
      await second.writer.flush();
      expect(await streamLength(id)).toBe(0);
      expect(second.writer.stats()).toMatchObject({ written: 1, duplicates: 1, recovered: 2, pending: 0, awaitingDelete: 0 });
      // every entry is deleted and the pass has seen all that was in Redis at open: no call id is held
      expect(files.heldIds()).toBe(0);
      const csv = await read(dir, 'csv');
      const jsonl = await read(dir, 'jsonl');
      expect(csv.split('\r\n').slice(1, -1).map((row) => row.split(',')[0])).toEqual([a.callId, b.callId, cc.callId]);
      expect(jsonl.split('\n').slice(0, -1).map((line) => (JSON.parse(line) as { call_id: string }).call_id)).toEqual([
        a.callId,
        b.callId,
        cc.callId,
      ]);
    });

    it('holds no call id once entries are deleted, and a recovery pass that read an entry since deleted writes nothing twice', async () => {
      const c = ctx();
      const id = await account(c);
      const dir = await tempDir();
      // the recovery's XRANGE replies (the ones with a COUNT) are held back until the test lets them through
      let hold: Promise<void> | null = null;
      let held = 0;
      const redis = new Proxy(c.conn.redis, {
        get(target, prop, receiver) {
          const value: unknown = Reflect.get(target, prop, receiver);
          if (typeof value !== 'function') return value;
          if (prop !== 'xRange') return value.bind(target);
          return async (...args: unknown[]) => {
            const reply: unknown = await value.apply(target, args);
            if (hold && args.length === 4) {
              held++;
              await hold;
            }
            return reply;
          };
        },
      }) as Redis;
      const { files, writer } = writerOn(dir, [id], { redis, recoverGraceMs: 0 });
      const a = await call(c.engine, id, { endedAt: T0 + 1_000, disposition: 'cancelled', sipCode: 487 });
      let letGo!: () => void;
      hold = new Promise((resolve) => (letGo = resolve));
      const recovering = writer.recover();
      await waitFor('the recovery to read the stream (its reply is held)', () => held > 0, { intervalMs: 5 });
      // the owner's submission is written and deleted while the recovery holds its reply with the entry
      writer.submit(id, a.entryId);
      await writer.flush();
      expect(await streamLength(id)).toBe(0);
      expect(files.heldIds()).toBe(0);
      letGo();
      expect(await recovering).toBe(0);
      await writer.flush();
      expect((await read(dir, 'csv')).split('\r\n').slice(1, -1).map((r) => r.split(',')[0])).toEqual([a.callId]);
      expect(writer.stats()).toMatchObject({ written: 1, duplicates: 0, pending: 0, awaitingDelete: 0, heldCallIds: 0 });
    });

    it('recovers entries never submitted, but only its own switch and only past the grace period', async () => {
      const c = ctx();
      const id = await account(c);
      const idle = await account(c);
      const otherSwitch = createEngine({ redis: c.conn.redis, keys: c.keys, switchId: 'sw-other', leaseTtlMs: c.config.billing.leaseTtlMs });
      const mine = await call(c.engine, id, { endedAt: T0 + 1_000, disposition: 'cancelled', sipCode: 487 });
      const theirs = await call(otherSwitch, id, { endedAt: T0 + 2_000, disposition: 'cancelled', sipCode: 487 });
      const dir = await tempDir();

      const patient = writerOn(dir, [id, idle]); // default grace: 30 s
      expect(await patient.writer.recover()).toBe(0);
      expect(await streamLength(id)).toBe(2);

      const eager = writerOn(dir, [id, idle, 'no-such-account'], { recoverGraceMs: 0 });
      expect(await eager.writer.recover()).toBe(1);
      const rows = (await read(dir, 'csv')).split('\r\n').slice(1, -1);
      expect(rows.map((r) => r.split(',')[0])).toEqual([mine.callId]);
      const left = await c.conn.redis.xRange(c.keys.cdrs(id), '-', '+');
      expect(left.map((e) => [e.id, e.message.callId, e.message.switchId])).toEqual([[theirs.entryId, theirs.callId, 'sw-other']]);
    });

    it('recovers streams longer than one page, from many accounts', async () => {
      const c = ctx();
      const accounts = await Promise.all(Array.from({ length: 5 }, () => account(c)));
      const entries = await Promise.all(
        accounts.flatMap((id) => Array.from({ length: 9 }, (_, i) => call(c.engine, id, { endedAt: T0 + i, disposition: 'cancelled', sipCode: 487 }))),
      );
      const dir = await tempDir();
      const { writer } = writerOn(dir, accounts, { recoverGraceMs: 0, recoverChunk: 2, maxBatch: 7 });
      expect(await writer.recover()).toBe(45);
      const ids = (await read(dir, 'csv')).split('\r\n').slice(1, -1).map((r) => r.split(',')[0]);
      expect(new Set(ids)).toEqual(new Set(entries.map((e) => e.callId)));
      expect(ids).toHaveLength(45);
      for (const id of accounts) expect(await streamLength(id)).toBe(0);
    });

    it('keeps entries in Redis and retries when the files or Redis fail', async () => {
      const c = ctx();
      const id = await account(c);
      const x = await call(c.engine, id, { endedAt: T0 + 1_000, disposition: 'cancelled', sipCode: 487 });
      const dir = await tempDir();
      const real = createCdrFiles({ dir, switchId: c.config.switchId });
      let diskFull = true;
      const flaky: CdrFiles = {
        ...real,
        appendBatch: (cdrs) => (diskFull ? Promise.reject(new Error('ENOSPC: no space left on device')) : real.appendBatch(cdrs)),
      };
      let redisDown = false;
      const redis = new Proxy(c.conn.redis, {
        get(target, prop, receiver) {
          if (redisDown && (prop === 'xRange' || prop === 'xDel')) return () => Promise.reject(new Error('connection lost'));
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      }) as Redis;
      const { writer } = writerOn(dir, [id], { files: flaky, redis, maxRetryMs: 20 });

      writer.submit(id, x.entryId);
      await expect(writer.flush()).rejects.toBeInstanceOf(CdrFlushError);
      expect(writer.stats()).toMatchObject({ pending: 1, written: 0 });
      expect(writer.stats().lastError).toMatch(/ENOSPC/);
      expect(await streamLength(id)).toBe(1);

      diskFull = false;
      redisDown = true; // the write succeeds, the XDEL does not
      await expect(writer.flush()).rejects.toBeInstanceOf(CdrFlushError);
      expect(writer.stats()).toMatchObject({ pending: 0, awaitingDelete: 1, written: 1 });
      expect(await streamLength(id)).toBe(1);

      redisDown = false; // the retry timer finishes the job
      await vi.waitFor(async () => expect(await streamLength(id)).toBe(0), { timeout: 5_000, interval: 20 });
      expect(writer.stats()).toMatchObject({ pending: 0, awaitingDelete: 0, written: 1, consecutiveFailures: 0 });
      expect((await read(dir, 'csv')).split('\r\n')).toHaveLength(3);
    });

    it('writes the orphaned CDR of a swept call', async () => {
      const c = ctx();
      const id = await account(c);
      const callId = uniq('call');
      const staticCdr = JSON.stringify({ sipCallId: 's@h', accountId: id, from: 'f', to: 't', srcIp: '192.0.2.9', invitedAt: T0, prefix: '44', ratePerMin: 12_000, connectFee: 0, firstIncrement: 6, nextIncrement: 6, taxExempt: false });
      expect((await c.engine.admitCall({ accountId: id, callId, reservation: 60_000, seed: staticCdr })).outcome).toBe('admitted');
      await c.engine.tickCall({
        accountId: id, callId, total: 2_818, cost: 2_400, tax: 418, billedSec: 12, talkMs: 11_500, answeredAt: T0 + 1_000, nextReservation: 60_000,
      });
      await sleep(c.config.billing.leaseTtlMs + 50); // the scenario: the lease expires (Redis TIME) with no heartbeat
      const { swept } = await c.engine.sweepAccount(id);
      expect(swept).toHaveLength(1);
      // the sweep ends the call at its last heartbeat (Redis TIME): that decides the day file
      const [entry] = await c.conn.redis.xRange(c.keys.cdrs(id), swept[0]!.cdrEntryId, swept[0]!.cdrEntryId);
      const day = cdrDay(cdrFromStreamEntry(entry!.message));
      const dir = await tempDir();
      const { writer, files } = writerOn(dir, [id]);
      writer.submit(id, swept.map((s) => s.cdrEntryId));
      await writer.stop(); // stop flushes what is pending
      expect(await streamLength(id)).toBe(0);
      const row = JSON.parse(await readFile(files.paths(day).jsonl, 'utf8')) as Record<string, unknown>;
      expect(row).toMatchObject({
        call_id: callId, switch_id: c.config.switchId, disposition: 'orphaned', reason: 'lease_expired', sip_code: 200,
        answered_at: '2024-03-01T12:00:01.000Z', billsec: 12, billed_sec: 12, cost: 2_400, tax: 418, total: 2_818,
      });
    });

    it('records rejected attempts without Redis', async () => {
      const dir = await tempDir();
      const { writer } = writerOn(dir, []);
      writer.recordRejection({
        callId: 'r-1', switchId: ctx().config.switchId, endedAt: T0 + 2, sipCode: 403, reason: 'unknown_account',
        seed: {
          sipCallId: 'x@198.51.100.7', accountId: null, from: '+15551230000', to: 'sip:1@b', srcIp: '198.51.100.7', invitedAt: T0,
          prefix: '', ratePerMin: null, connectFee: null, firstIncrement: null, nextIncrement: null, taxExempt: false,
        },
      });
      await writer.flush();
      expect(await read(dir, 'csv')).toBe(
        csvFile(
          `r-1,x@198.51.100.7,,${ctx().config.switchId},'+15551230000,sip:1@b,198.51.100.7,2024-03-01T12:00:00.000Z,,` +
            '2024-03-01T12:00:00.002Z,2,0,0,403,rejected,unknown_account,,,,0.000000,,0.000000',
        ),
      );
      expect(writer.stats()).toMatchObject({ written: 1, pending: 0 });
    });
  },
  { billing: { leaseTtlMs: 400, tickIntervalMs: 200 } },
);
