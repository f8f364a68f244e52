/**
 * Customer CDR files under faults. Exactly once, whatever dies:
 *  - a switch (a child process finalizing calls and handing them over) is SIGKILLed mid-flow, on a single
 *    Redis and on the Cluster; its restart's recovery delivers what it had not handed over;
 *  - Redis itself restarts (a server of the test's own, with an fsynced append-only file) between passes.
 * Each time the account's day file holds exactly the CDRs of both switches' own files for that account, none twice.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../src/config/index.js';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { createKeys, type Keys } from '../../src/redis/keys.js';
import { createEngine } from '../../src/redis/engine.js';
import { createCdrFiles } from '../../src/cdr/files.js';
import { createCdrWriter } from '../../src/cdr/writer.js';
import { createCdrExporter } from '../../src/export/assembler.js';
import { createDayStore } from '../../src/export/day-store.js';

const logger = pino({ level: 'silent' });
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/export-switch.ts', import.meta.url));
const ENDED_AT = Date.UTC(2026, 11, 3, 15, 0, 0);
const CLOSE = Date.UTC(2026, 11, 4, 0, 30, 0);
const DAY = '2026-12-03';
const limits = { type: 'prepaid' as const, creditLimit: 0, channels: 1000, cps: 100_000, burst: 100_000, lowBalanceThreshold: 0 };

function runFixture(mode: 'calls' | 'recover', env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, mode], {
    cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, lines, exited, stderr: () => stderr };
}

async function switchFileIds(dir: string, switchId: string, accountId: string): Promise<string[]> {
  const text = await readFile(join(dir, DAY, `${switchId}.csv`), 'utf8').catch(() => '');
  return text.split('\r\n').slice(1).filter((l) => l !== '').map((l) => l.split(',')).filter((f) => f[2] === accountId).map((f) => f[0]!);
}

function fileIds(gz: Buffer): string[] {
  return gunzipSync(gz).toString('utf8').split('\r\n').slice(1).filter((l) => l !== '').map((l) => l.split(',')[0]!);
}

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  });
});

describe('fault: customer CDR files stay exactly once', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });
  const temp = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'callgate-export-fault-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };

  /** Switch B in this process: `n` calls finalized and handed over. */
  async function switchB(config: Config, conn: RedisConnection, keys: Keys, accountId: string, dir: string, n: number, from: number): Promise<void> {
    const engine = createEngine({ redis: conn.redis, keys, switchId: 'swB', leaseTtlMs: config.billing.leaseTtlMs });
    const files = createCdrFiles({ dir, switchId: 'swB' });
    const writer = createCdrWriter({ redis: conn.redis, keys, files, switchId: 'swB', listAccounts: () => [accountId], batchMs: 5, handOff: true, logger });
    for (let i = from; i < from + n; i++) {
      const callId = `swB-${i}`;
      const seed = { sipCallId: `${callId}@x`, accountId, from: '+1', to: '44', srcIp: '198.51.100.7', invitedAt: ENDED_AT - 30_000, prefix: '44', ratePerMin: 12_000, connectFee: 0, firstIncrement: 6, nextIncrement: 6, taxExempt: false };
      for (;;) {
        try {
          const a = await engine.admitCall({ accountId, callId, reservation: 10_000, seed: JSON.stringify(seed) });
          if (a.outcome !== 'admitted') throw new Error(`admit ${a.outcome}`);
          const r = await engine.finalizeCall({ accountId, callId, total: 6_000, cost: 6_000, tax: 0, billedSec: 30, talkMs: 29_000, answeredAt: ENDED_AT - 29_000, endedAt: ENDED_AT, disposition: 'answered', reason: 'normal_clearing', sipCode: 200 });
          if (r.outcome !== 'finalized') throw new Error(`finalize ${r.outcome}`);
          writer.submit(accountId, r.cdrEntryId);
          break;
        } catch (err) {
          if (!String((err as Error).message).match(/ECONNREFUSED|closed|timeout|Socket|LOADING|no answer/i)) throw err;
          await sleep(50);
        }
      }
    }
    await writer.stop();
    await files.close();
  }

  const targets = inject('clusterNodes').length > 0 ? (['single', 'cluster'] as const) : (['single'] as const);
  it.each(targets)('a switch SIGKILLed mid-flow [redis %s]: its recovery delivers the rest, the day file holds every CDR once', { timeout: 60_000 }, async (target) => {
    const prefix = `ex${randomBytes(3).toString('hex')}:`;
    const redis = target === 'cluster'
      ? { url: 'redis://127.0.0.1:1', clusterNodes: inject('clusterNodes'), keyPrefix: prefix }
      : { url: inject('redisUrl'), clusterNodes: [], keyPrefix: prefix };
    const config = loadConfig({ env: { NODE_ENV: 'test' }, overrides: { redis } });
    const conn = await connectRedis(config);
    cleanups.push(() => conn.close());
    const keys = createKeys(prefix);
    const engine = createEngine({ redis: conn.redis, keys, switchId: 'admin', leaseTtlMs: config.billing.leaseTtlMs });
    const acct = 'acme';
    await engine.putAccount(acct, limits);
    await engine.applyFunds(acct, 'p1', 1_000_000_000, 0);
    const dirA = await temp();
    const dirB = await temp();
    const exportDir = await temp();
    const env = { CG_CONFIG: JSON.stringify({ switchId: 'swA', redis }), CG_ACCOUNT: acct, CG_CDR_DIR: dirA, CG_ENDED_AT: String(ENDED_AT) };
    const a = runFixture('calls', env);
    cleanups.push(async () => { a.child.kill('SIGKILL'); await a.exited; });
    const deadline = Date.now() + 30_000;
    while (a.lines.length < 150 && Date.now() < deadline) await sleep(10);
    expect(a.lines.length, a.stderr()).toBeGreaterThanOrEqual(150);
    a.child.kill('SIGKILL');
    await a.exited;
    await switchB(config, conn, keys, acct, dirB, 40, 0);
    const clock = { now: ENDED_AT + 60_000 };
    const store = createDayStore({ dir: exportDir, now: () => clock.now });
    const exporter = createCdrExporter({
      redis: conn.redis, keys, store, logger, instanceId: 'x', accountIds: async () => [acct],
      closeAfterMinutes: 30, retentionDays: 180, intervalMs: 60_000, leaseMs: 5_000, now: () => clock.now,
    });
    cleanups.push(() => exporter.stop());
    await exporter.runOnce(); // mid-day, before switch A's restart

    const r = runFixture('recover', env);
    await r.exited;
    const recovered = r.lines.find((l) => l.startsWith('RECOVERED'));
    expect(recovered, r.stderr()).toBeDefined();
    console.info(`[${target}] switch A finalized ${a.lines.length}+ calls before SIGKILL; its restart ${recovered}`);
    expect(await conn.redis.xLen(keys.cdrs(acct))).toBe(0);
    clock.now = CLOSE;
    const pass = await exporter.runOnce();
    expect(pass.published).toHaveLength(1);
    const ids = fileIds(await readFile(join(exportDir, 'files', pass.published[0]!.path)));
    const expected = [...(await switchFileIds(dirA, 'swA', acct)), ...(await switchFileIds(dirB, 'swB', acct))];
    // every call A printed as finalized is there (one more may have finalized unprinted), and B's 40
    const printed = a.lines.filter((l) => l.startsWith('CALL ')).map((l) => l.slice(5));
    expect(expected.length).toBeGreaterThanOrEqual(printed.length + 40);
    for (const id of printed) expect(ids).toContain(id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual([...expected].sort());
  });

  it('Redis restarts mid-day (append-only file, fsync always): the day file holds every CDR once', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const dataDir = await temp();
    const start = () => {
      const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dataDir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: 'ignore' });
      cleanups.push(async () => { p.kill('SIGKILL'); });
      return p;
    };
    let server = start();
    const config = loadConfig({ env: { NODE_ENV: 'test' }, overrides: { redis: { url: `redis://127.0.0.1:${port}`, clusterNodes: [], keyPrefix: 'rr:' } } });
    let conn: RedisConnection | undefined;
    for (let i = 0; i < 100 && !conn; i++) {
      try {
        conn = await connectRedis(config);
      } catch {
        await sleep(50);
      }
    }
    cleanups.push(() => conn!.close());
    const keys = createKeys('rr:');
    const engine = createEngine({ redis: conn!.redis, keys, switchId: 'admin', leaseTtlMs: config.billing.leaseTtlMs });
    const acct = 'acme';
    await engine.putAccount(acct, limits);
    await engine.applyFunds(acct, 'p1', 1_000_000_000, 0);
    const dirB = await temp();
    const exportDir = await temp();
    const clock = { now: ENDED_AT + 60_000 };
    const store = createDayStore({ dir: exportDir, now: () => clock.now });
    const exporter = createCdrExporter({
      redis: conn!.redis, keys, store, logger, instanceId: 'x', accountIds: async () => [acct],
      closeAfterMinutes: 30, retentionDays: 180, intervalMs: 60_000, leaseMs: 5_000, now: () => clock.now,
    });
    cleanups.push(() => exporter.stop());

    await switchB(config, conn!, keys, acct, dirB, 30, 0);
    await exporter.runOnce();
    // more calls handed over but not yet exported when Redis goes down
    await switchB(config, conn!, keys, acct, dirB, 20, 30);
    expect(await conn!.redis.xLen(keys.cdrExport(acct))).toBe(20);
    server.kill('SIGTERM'); // a restart: the append-only file keeps what was acknowledged
    await new Promise((r) => server.once('exit', r));
    server = start();
    const until = Date.now() + 20_000;
    for (;;) {
      try {
        if ((await conn!.redis.ping()) === 'PONG') break;
      } catch {
        if (Date.now() > until) throw new Error('redis did not come back');
        await sleep(100);
      }
    }
    await switchB(config, conn!, keys, acct, dirB, 10, 50);
    clock.now = CLOSE;
    let pass = await exporter.runOnce().catch(() => null);
    if (!pass || pass.published.length === 0) pass = await exporter.runOnce();
    expect(pass.published).toHaveLength(1);
    const ids = fileIds(await readFile(join(exportDir, 'files', pass.published[0]!.path)));
    const expected = await switchFileIds(dirB, 'swB', acct);
    expect(expected).toHaveLength(60);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual([...expected].sort());
  });
});
