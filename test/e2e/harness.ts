/**
 * End-to-end harness: real drachtio-server, real SIPp, real Redis, and callgate as a child process
 * (`node --import tsx src/cli/main.ts serve`), all on loopback.
 *
 * - One "switch" (drachtio + a SIPp UAS standing in for the carrier switch + callgate) per test file or per
 *   describe block (`useE2E`), on free ports, so files run in parallel without colliding.
 * - Accounts and rate decks are written with the account service, straight into callgate's Redis prefix.
 * - After every test, `assertAccountsSettled` proves the money invariants for every account the test used:
 *   the balance moved by exactly the sum of the totals of the CDRs written for it, no lease, reservation or
 *   live call is left, the CDR stream is drained, and no call has two CDRs.
 *
 * Without a drachtio binary (DRACHTIO_BIN or `drachtio` on PATH) or sipp, every e2e file skips, loudly.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config/index.js';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { createKeys, type Keys } from '../../src/redis/keys.js';
import { createEngine } from '../../src/redis/engine.js';
import { decodeAccountHash } from '../../src/redis/codecs/account-hash.js';
import { decodeCallRecord, isCallField } from '../../src/redis/codecs/call-record.js';
import { createAccountService, type AccountInput, type AccountService } from '../../src/accounts/index.js';

export * from '../helpers/sip-stack.js';
import { activeSipps, slug, drachtioBin, sippBin, TIMING, startCallgate, startDrachtio, startUas, waitFor, type Callgate, type Drachtio, type Uas } from '../helpers/sip-stack.js';

function skipBanner(suite: string): string {
  const line = '!'.repeat(100);
  const missing: string[] = [];
  if (!drachtioBin) {
    missing.push(
      process.env.DRACHTIO_BIN
        ? `no drachtio binary: DRACHTIO_BIN=${process.env.DRACHTIO_BIN} is not an executable file`
        : 'no drachtio binary was found (DRACHTIO_BIN is unset and there is no `drachtio` on PATH)',
    );
  }
  if (!sippBin) missing.push('no sipp binary was found (SIPP_BIN is unset and there is no `sipp` on PATH)');
  return [
    '',
    line,
    `!!  END-TO-END TESTS SKIPPED: ${suite}`,
    ...missing.map((m) => `!!  ${m}`),
    '!!  These tests drive SIPp through a real drachtio-server; nothing SIP-level was tested.',
    '!!  To run them: build or install drachtio-server (https://github.com/drachtio/drachtio-server) and put',
    '!!  `drachtio` on PATH or set DRACHTIO_BIN=/path/to/drachtio; install SIPp (Debian: apt-get install sip-tester)',
    '!!  or set SIPP_BIN. Then: npm run test:e2e',
    line,
    '',
  ].join('\n');
}

/** A describe block that skips, with a loud banner, when drachtio or sipp is missing. */
export function describeE2E(name: string, body: () => void): void {
  const ready = drachtioBin !== undefined && sippBin !== undefined;
  if (!ready) console.warn(skipBanner(name));
  describe.skipIf(!ready)(name, body);
}

// ------------------------------------------------------------------------------------------- CDRs

export interface CdrLine {
  call_id: string;
  sip_call_id: string;
  account_id: string | null;
  switch_id: string;
  from: string;
  to: string;
  source_ip: string;
  invited_at: string | null;
  answered_at: string | null;
  ended_at: string;
  duration_ms: number | null;
  billsec: number;
  billed_sec: number;
  sip_code: number;
  disposition: string;
  reason: string;
  prefix: string;
  rate_per_min: number | null;
  connect_fee: number | null;
  cost: number;
  tax?: number;
  total: number;
  /** Where it was read from (not part of the CDR). */
  file: string;
}

function listFiles(dir: string, ext: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const day of readdirSync(dir, { withFileTypes: true })) {
    if (!day.isDirectory()) continue;
    for (const f of readdirSync(join(dir, day.name))) if (f.endsWith(ext)) out.push(join(dir, day.name, f));
  }
  return out.sort();
}

/** Every CDR in the JSONL files under `cdrDir` (a torn last line, if any, is ignored). */
export function readJsonlCdrs(cdrDir: string): CdrLine[] {
  const out: CdrLine[] = [];
  for (const file of listFiles(cdrDir, '.jsonl')) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        out.push({ ...(JSON.parse(line) as Omit<CdrLine, 'file'>), file });
      } catch {
        /* a record being written */
      }
    }
  }
  return out;
}

/** Every CSV record under `cdrDir`, as column -> raw text (RFC 4180 quoting undone). */
export function readCsvCdrs(cdrDir: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const file of listFiles(cdrDir, '.csv')) {
    const records = parseCsv(readFileSync(file, 'utf8'));
    const header = records.shift();
    if (!header) continue;
    for (const r of records) {
      if (r.length !== header.length) continue;
      out.push(Object.fromEntries(header.map((h, i) => [h, r[i]!])));
    }
  }
  return out;
}

function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  return rows;
}

// ---------------------------------------------------------------------------------- the e2e world

export interface AccountSpec {
  type?: 'prepaid' | 'postpaid';
  /** Dollars applied as a payment after creation ('0' or undefined: none). */
  funds?: string;
  creditLimit?: string;
  billingCountry?: string;
  fusfOnFile?: boolean;
  channels?: number;
  cps?: number;
  burst?: number;
  deckId?: string;
  /** Extra fields for putAccount. */
  input?: Partial<AccountInput>;
}

export interface TestAccount {
  id: string;
  techPrefix: string;
  /** The Request-URI user that reaches this account and dials `number`. */
  dial(number: string): string;
}

export interface AccountSnapshot {
  balance: number;
  reserved: number;
  status: string;
  offReason: string;
}

interface Tracked {
  id: string;
  balance: number;
  /** CDR call ids of this account that existed when tracking began. */
  seen: Set<string>;
}

export interface E2EOptions {
  name: string;
  /** UAS scenario behind callgate (default uas-answer). */
  uas?: string;
  /** Start a callgate for this block (default true). */
  callgate?: boolean;
  switchId?: string;
  env?: Record<string, string>;
  /** Rate decks to load, id -> CSV. */
  decks?: Record<string, string>;
}

/** The rates every e2e file can dial. Each row is used by the test named beside it. */
export const DECK_ID = 'e2e';
export const DECK_CSV = [
  'prefix,rate_per_min,first_increment,next_increment,connect_fee',
  '44,0.012345,6,6,0.001', // answered-call pricing
  '4477,20,6,6,', // first reservation ($2.00 + tax) above a $1.50 balance
  '4478,30,1,1,', // $0.50 a second, per second: mid-call teardown
  '4479,30,6,6,', // $3.00 per 6 s increment: teardown when the last increment empties the balance
  '',
].join('\n');
export const NUMBERS = {
  london: '4420712345678',
  premium: '447700900123',
  perSecond: '447800900123',
  sixBySix: '447900900123',
  /** Matches nothing in the deck. */
  unrated: '999123456',
} as const;

export class E2E {
  redisUrl = '';
  keyPrefix = '';
  cdrDir = '';
  conn!: RedisConnection;
  keys!: Keys;
  service!: AccountService;
  config!: Config;
  drachtio!: Drachtio;
  uas!: Uas;
  callgate: Callgate | undefined;
  private extra: { stop(): Promise<void> }[] = [];
  /** Every callgate this block started, its own and the tests' (they all must know an account before it dials). */
  private callgates: Callgate[] = [];
  private tracked = new Map<string, Tracked>();
  private accountSeq = 0;

  constructor(readonly options: E2EOptions) {}

  get target(): string {
    return `127.0.0.1:${this.drachtio.sipPort}`;
  }

  async start(): Promise<void> {
    this.redisUrl = inject('redisUrl');
    this.keyPrefix = `e2e${randomBytes(4).toString('hex')}:`;
    this.cdrDir = mkdtempSync(join(tmpdir(), `callgate-e2e-cdr-${slug(this.options.name)}-`));
    this.config = loadConfig({
      env: { NODE_ENV: 'test' },
      overrides: {
        redis: { url: this.redisUrl, clusterNodes: [], keyPrefix: this.keyPrefix },
        billing: { reservationSeconds: TIMING.reservationSeconds, tickIntervalMs: TIMING.tickIntervalMs, leaseTtlMs: TIMING.leaseTtlMs },
      },
    });
    this.conn = await connectRedis(this.config);
    this.keys = createKeys(this.keyPrefix);
    const engine = createEngine({ redis: this.conn.redis, keys: this.keys, switchId: 'e2e-admin', leaseTtlMs: TIMING.leaseTtlMs });
    this.service = createAccountService({ redis: this.conn.redis, keys: this.keys, engine, config: this.config });
    for (const [id, csv] of Object.entries(this.options.decks ?? { [DECK_ID]: DECK_CSV })) await this.service.loadRateDeck(id, csv);

    this.drachtio = await startDrachtio(this.options.name);
    this.uas = await startUas(this.options.name, this.options.uas ?? 'uas-answer');
    if (this.options.callgate !== false) {
      this.callgate = await this.startCallgate({ switchId: this.options.switchId ?? 'sw1', env: this.options.env });
    }
  }

  /** Another callgate on this block's Redis prefix and CDR dir; on `drachtio` (default: this block's). */
  async startCallgate(o: { switchId: string; drachtio?: Drachtio; routeUris?: string[]; env?: Record<string, string> }): Promise<Callgate> {
    const callgate = await startCallgate({
      name: this.options.name,
      switchId: o.switchId,
      redisUrl: this.redisUrl,
      keyPrefix: this.keyPrefix,
      cdrDir: this.cdrDir,
      drachtio: o.drachtio ?? this.drachtio,
      routeUris: o.routeUris ?? [this.uas.uri],
      env: { ...this.options.env, ...o.env },
    });
    this.callgates.push(callgate);
    return callgate;
  }

  /** Stopped in afterAll, after callgate. */
  own<T extends { stop(): Promise<void> }>(thing: T): T {
    this.extra.push(thing);
    return thing;
  }

  async stop(): Promise<void> {
    for (const s of activeSipps) await s.stop('SIGKILL', 0);
    const steps: (() => Promise<unknown>)[] = [
      // every callgate this block started, its own and the tests' (stopping one twice is a no-op)
      ...this.callgates.map((c) => () => c.stop()),
      ...this.extra.reverse().map((x) => () => x.stop()),
      async () => this.uas?.stop(),
      async () => this.drachtio?.stop(),
      async () => this.conn?.close(),
    ];
    for (const step of steps) await step().catch(() => {});
    if (this.cdrDir && process.env.CALLGATE_E2E_KEEP_CDRS !== '1') rmSync(this.cdrDir, { recursive: true, force: true });
  }

  // ------------------------------------------------------------------------------------ accounts

  /**
   * A fresh account on source IP 127.0.0.1 with its own tech prefix (fixed-length, so no prefix is the
   * start of another), funded, tracked for the money checks, and visible to the running callgates.
   */
  async createAccount(spec: AccountSpec = {}): Promise<TestAccount> {
    const n = ++this.accountSeq;
    const id = `acct-${slug(this.options.name).slice(0, 20)}-${n}-${randomBytes(2).toString('hex')}`;
    const techPrefix = String(7000 + n);
    const type = spec.type ?? 'prepaid';
    await this.service.putAccount(
      id,
      {
        type,
        name: `e2e ${this.options.name} ${n}`,
        channels: String(spec.channels ?? 10),
        cps: String(spec.cps ?? 50),
        ...(spec.burst !== undefined ? { burst: String(spec.burst) } : {}),
        billingCountry: spec.billingCountry ?? 'US',
        fusfOnFile: spec.fusfOnFile ?? false,
        deckId: spec.deckId ?? DECK_ID,
        ips: ['127.0.0.1'],
        techPrefix,
        ...(type === 'postpaid' ? { creditLimit: spec.creditLimit ?? '100' } : {}),
        ...spec.input,
      },
      { mode: 'create' },
    );
    if (spec.funds && spec.funds !== '0') await this.service.applyFunds(id, spec.funds, `e2e-initial-${id}`);
    // the put was announced on the change channel: wait until every running callgate's catalog holds it
    const inCatalog = Number(await this.conn.redis.hLen(this.keys.catalog));
    for (const callgate of this.callgates.filter((c) => c.child.running)) {
      await waitFor(`${callgate.child.name} to load account ${id} into its catalog`, async () => (await callgate.metric('callgate_catalog_accounts')) >= inCatalog, { timeoutMs: 10_000 });
    }
    await this.track(id);
    return { id, techPrefix, dial: (number: string) => `${techPrefix}${number}` };
  }

  async snapshot(id: string): Promise<AccountSnapshot> {
    const hash = (await this.conn.redis.hGetAll(this.keys.account(id))) as Record<string, string>;
    const a = decodeAccountHash(hash);
    return { balance: a.balance, reserved: a.reserved, status: a.status, offReason: a.offReason };
  }

  /** Starts the money bookkeeping of an account: its balance now, and the CDRs it already has. */
  async track(id: string): Promise<void> {
    const { balance } = await this.snapshot(id);
    const seen = new Set(readJsonlCdrs(this.cdrDir).filter((c) => c.account_id === id).map((c) => c.call_id));
    this.tracked.set(id, { id, balance, seen });
  }

  async liveCalls(id: string): Promise<number> {
    return Number(await this.conn.redis.hLen(this.keys.calls(id)));
  }

  async leaseCount(id: string): Promise<number> {
    return Number(await this.conn.redis.zCard(this.keys.expiry(id)));
  }

  /** The account's live call records, decoded by their codec (src/redis/codecs/call-record.ts); answeredAt 0 while ringing. */
  async callRecords(id: string): Promise<{ callId: string; sw: string; reserved: number; committed: number; answeredAt: number; beat: number }[]> {
    const all = (await this.conn.redis.hGetAll(this.keys.calls(id))) as Record<string, string>;
    return Object.entries(all).filter(([field]) => isCallField(field)).map(([callId, raw]) => {
      const r = decodeCallRecord(callId, raw);
      return { callId, sw: r.switchId, reserved: r.reserved, committed: r.committed, answeredAt: r.answeredAt ?? 0, beat: r.lastBeatAt };
    });
  }

  cdrs(filter: (c: CdrLine) => boolean = () => true): CdrLine[] {
    return readJsonlCdrs(this.cdrDir).filter(filter);
  }

  /** CDRs whose SIP Call-ID starts with a SIPp run's prefix, once `count` of them are on disk. */
  async cdrsOfRun(callIdPrefix: string, count: number, timeoutMs = 5000): Promise<CdrLine[]> {
    return waitFor(
      `${count} CDR(s) for Call-ID ${callIdPrefix}*`,
      () => {
        const found = this.cdrs((c) => c.sip_call_id.startsWith(callIdPrefix));
        return found.length >= count ? found : undefined;
      },
      { timeoutMs },
    );
  }

  csvRowsOfRun(callIdPrefix: string): Record<string, string>[] {
    return readCsvCdrs(this.cdrDir).filter((r) => r.sip_call_id?.startsWith(callIdPrefix));
  }

  /**
   * The money and lease invariants for every account the test used. Waits (a few seconds) for the CDR writer
   * and for calls that are still hanging up, then asserts with exact figures.
   */
  async assertAccountsSettled(): Promise<void> {
    const accounts = [...this.tracked.values()];
    this.tracked.clear();
    for (const t of accounts) {
      const r = this.conn.redis;
      const state = async () => {
        const [snap, calls, expiry, cdrStream] = await Promise.all([
          this.snapshot(t.id),
          r.hLen(this.keys.calls(t.id)),
          r.zCount(this.keys.expiry(t.id), '-inf', '+inf'),
          r.exists(this.keys.cdrs(t.id)).then((e) => (e ? r.xLen(this.keys.cdrs(t.id)) : 0)),
        ]);
        const cdrs = readJsonlCdrs(this.cdrDir).filter((c) => c.account_id === t.id && !t.seen.has(c.call_id));
        const charged = cdrs.reduce((sum, c) => sum + c.total, 0);
        return { snap, calls: Number(calls), expiry: Number(expiry), cdrStream: Number(cdrStream), cdrs, charged };
      };
      let s = await state();
      const settled = (x: typeof s) =>
        x.calls === 0 && x.expiry === 0 && x.cdrStream === 0 && x.snap.reserved === 0 && t.balance - x.snap.balance === x.charged;
      const deadline = Date.now() + 8000;
      while (!settled(s) && Date.now() < deadline) {
        await sleep(100);
        s = await state();
      }
      const context = `account ${t.id}: ${JSON.stringify({ ...s, cdrs: s.cdrs.map((c) => [c.disposition, c.reason, c.total]) })}`;
      expect(s.calls, `live calls left: ${context}`).toBe(0);
      expect(s.expiry, `leases left: ${context}`).toBe(0);
      expect(s.snap.reserved, `reservation left: ${context}`).toBe(0);
      expect(s.cdrStream, `CDR stream not drained: ${context}`).toBe(0);
      expect(t.balance - s.snap.balance, `money not conserved (balance moved != sum of CDR totals): ${context}`).toBe(s.charged);
      const ids = s.cdrs.map((c) => c.call_id);
      expect(new Set(ids).size, `a call has more than one CDR: ${context}`).toBe(ids.length);
    }
  }
}

/**
 * Registers the lifecycle of one e2e world on the enclosing describe block: start in beforeAll, the money
 * and lease checks after each test, everything stopped in afterAll.
 */
export function useE2E(options: E2EOptions): E2E {
  const world = new E2E(options);
  beforeAll(async () => {
    await world.start();
  }, 90_000);
  afterEach(async () => {
    for (const s of activeSipps) await s.stop('SIGKILL', 0);
    await world.assertAccountsSettled();
  }, 30_000);
  afterAll(async () => {
    await world.stop();
  }, 30_000);
  return world;
}

/** Micro-dollars of a CSV money column ("0.002736" -> 2736); '' stays ''. */
export function csvMicros(text: string | undefined): number | '' {
  if (text === undefined || text === '') return '';
  const m = /^(-?)(\d+)\.(\d{6})$/.exec(text);
  if (!m) throw new Error(`not a 6-decimal dollar amount: ${text}`);
  return (m[1] ? -1 : 1) * (Number(m[2]) * 1_000_000 + Number(m[3]));
}

/** A SIPp statistics duration ("HH:MM:SS:uuuuuu") in ms. */
export function sippDurationMs(text: string | undefined): number {
  const m = /^(\d+):(\d+):(\d+):(\d{6})$/.exec(text ?? '');
  if (!m) throw new Error(`not a SIPp duration: ${text}`);
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]) / 1000;
}
