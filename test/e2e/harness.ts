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
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { accessSync, constants, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, inject } from 'vitest';
import { freePort } from '../helpers/redis-servers.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { createKeys, type Keys } from '../../src/redis/keys.js';
import { createEngine } from '../../src/redis/engine.js';
import { decodeAccountHash } from '../../src/redis/account-fields.js';
import { createAccountService, type AccountInput, type AccountService } from '../../src/accounts/index.js';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const SCENARIO_DIR = join(REPO_ROOT, 'sipp-scenarios');
/** Scenarios this suite needed and wrote itself (sipp-scenarios/ belongs to the load-test tooling). */
export const OWN_SCENARIO_DIR = join(REPO_ROOT, 'test', 'e2e', 'scenarios');
export const OUTPUT_DIR = join(REPO_ROOT, 'test-output', 'e2e');
const DRACHTIO_CONF = join(REPO_ROOT, 'test', 'e2e', 'drachtio.conf.xml');

/** Timing every callgate under test runs with: short, so that ticks, leases and sweeps show within seconds. */
export const TIMING = {
  tickIntervalMs: 500,
  leaseTtlMs: 2000,
  sweepIntervalMs: 500,
  reservationSeconds: 6,
} as const;
export const TAXES_JSON = '[{"name":"fusf","rate":"0.174"},{"name":"state","rate":"0.05"}]';

// ------------------------------------------------------------------------------------------ tools

function onPath(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout?.trim();
  return r.status === 0 && path ? path : undefined;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The drachtio-server binary: DRACHTIO_BIN when set (and executable), else `drachtio` on PATH. */
export function findDrachtio(): string | undefined {
  const fromEnv = process.env.DRACHTIO_BIN;
  if (fromEnv) return executable(fromEnv) ? fromEnv : undefined;
  return onPath('drachtio');
}

/** The SIPp binary: SIPP_BIN when set (and executable), else `sipp` on PATH. */
export function findSipp(): string | undefined {
  const fromEnv = process.env.SIPP_BIN;
  if (fromEnv) return executable(fromEnv) ? fromEnv : undefined;
  return onPath('sipp');
}

export const drachtioBin = findDrachtio();
export const sippBin = findSipp();

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

// ---------------------------------------------------------------------------------------- helpers

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 5000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

function udpPortFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      done(false);
    });
    s.bind(port, '127.0.0.1', () => s.close(() => done(true)));
  });
}

/** A loopback port free for both TCP and UDP (SIP here is UDP; drachtio's admin port is TCP). */
export async function freeSipPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p < 65000 && (await udpPortFree(p))) return p;
  }
  throw new Error('no free loopback port for both TCP and UDP');
}

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      done(true);
    });
    sock.once('error', () => done(false));
  });
}

const slug = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 80);
const runStamp = `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
export function outputPath(name: string): string {
  const dir = join(OUTPUT_DIR, runStamp);
  mkdirSync(dir, { recursive: true });
  return join(dir, slug(name));
}

// -------------------------------------------------------------------------------- child processes

const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of liveChildren) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** A child process whose output goes to a log file under test-output/ and is kept in memory for waits. */
export class Child {
  readonly proc: ChildProcess;
  readonly logPath: string;
  /** Resolves once the process has exited and its output pipes are closed. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private text = '';
  private readonly log: WriteStream;
  private stopping: Promise<void> | undefined;

  constructor(readonly name: string, cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; keepText?: boolean } = {}) {
    this.logPath = `${outputPath(name)}.log`;
    this.log = createWriteStream(this.logPath, { flags: 'a' });
    this.log.on('error', () => {}); // a lost debug log must never fail a test
    this.write(`$ ${cmd} ${args.map((a) => (/[\s;'"]/.test(a) ? `'${a}'` : a)).join(' ')}\n`);
    this.proc = spawn(cmd, args, { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    liveChildren.add(this.proc);
    const keep = options.keepText ?? true;
    const onData = (chunk: Buffer) => {
      this.write(chunk);
      if (keep) {
        this.text += chunk.toString('utf8');
        if (this.text.length > 2_000_000) this.text = this.text.slice(-1_000_000);
      }
    };
    this.proc.stdout?.on('data', onData);
    this.proc.stderr?.on('data', onData);
    this.exited = new Promise((done) => {
      // 'close', not 'exit': the output pipes are drained by then, so nothing is written after the log ends
      this.proc.once('close', (code, signal) => {
        liveChildren.delete(this.proc);
        this.write(`\n[harness] exited code=${code} signal=${signal}\n`);
        done({ code, signal });
      });
    });
    this.proc.once('error', (err) => this.write(`\n[harness] spawn error: ${err.message}\n`));
  }

  private write(chunk: string | Buffer): void {
    if (!this.log.writableEnded) this.log.write(chunk);
  }

  get output(): string {
    return this.text;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.text)) {
      if (!this.running) throw new Error(`${this.name} exited before printing ${pattern}; see ${this.logPath}\n${this.text.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms; see ${this.logPath}\n${this.text.slice(-2000)}`);
      await sleep(25);
    }
  }

  /** Sends `signal`, waits up to graceMs, then SIGKILLs. Only ever signals this child, by its pid. Idempotent. */
  stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
    this.stopping ??= (async () => {
      if (this.running) {
        this.proc.kill(signal);
        const timedOut = await Promise.race([this.exited.then(() => false), sleep(graceMs).then(() => true)]);
        if (timedOut && this.running) {
          this.write(`\n[harness] no exit ${graceMs} ms after ${signal}: SIGKILL\n`);
          this.proc.kill('SIGKILL');
        }
      }
      await this.exited;
      await new Promise<void>((done) => this.log.end(() => done()));
    })();
    return this.stopping;
  }
}

// ------------------------------------------------------------------------------------ drachtio

export interface Drachtio {
  sipPort: number;
  adminPort: number;
  secret: string;
  child: Child;
  stop(): Promise<void>;
}

export async function startDrachtio(name: string): Promise<Drachtio> {
  if (!drachtioBin) throw new Error('no drachtio binary');
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const sipPort = await freeSipPort();
    const adminPort = await freeSipPort();
    const secret = `e2e-${randomBytes(6).toString('hex')}`;
    const child = new Child(`${name}-drachtio`, drachtioBin, [
      '-f', DRACHTIO_CONF,
      '--contact', `sip:127.0.0.1:${sipPort};transport=udp`,
      '-p', String(adminPort),
      '--address', '127.0.0.1',
      '--secret', secret,
    ]);
    try {
      await child.waitForOutput(/Starting sofia event loop/, 10_000);
      await waitFor(`drachtio admin port ${adminPort}`, () => tcpAccepts(adminPort), { timeoutMs: 10_000 });
      // the SIP port is ours once drachtio holds it: binding it here must now fail
      await waitFor(`drachtio SIP port ${sipPort}`, async () => !(await udpPortFree(sipPort)), { timeoutMs: 5000 });
      await sleep(100);
      if (!child.running) throw new Error(`drachtio exited at start; see ${child.logPath}`);
      return { sipPort, adminPort, secret, child, stop: () => child.stop('SIGTERM', 3000) };
    } catch (err) {
      lastError = err;
      await child.stop('SIGKILL', 1000);
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

// ------------------------------------------------------------------------------------------ SIPp

/** A scenario file: ours (test/e2e/scenarios) first, then the shared sipp-scenarios/. */
export function scenario(name: string): string {
  const file = name.endsWith('.xml') ? name : `${name}.xml`;
  const own = join(OWN_SCENARIO_DIR, file);
  if (existsSync(own)) return own;
  const shared = join(SCENARIO_DIR, file);
  if (existsSync(shared)) return shared;
  throw new Error(`SIPp scenario ${file} is missing (looked in ${OWN_SCENARIO_DIR} and ${SCENARIO_DIR})`);
}

export interface Uas {
  port: number;
  uri: string;
  child: Child;
  stop(): Promise<void>;
}

/** A SIPp UAS standing in for the carrier's switch: answers (or rings, or is busy) for every call it gets. */
export async function startUas(name: string, scenarioName: string): Promise<Uas> {
  if (!sippBin) throw new Error('no sipp binary');
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freeSipPort();
    const child = new Child(`${name}-uas-${scenarioName}`, sippBin, [
      '-sf', scenario(scenarioName), '-i', '127.0.0.1', '-p', String(port), '-nostdin', '-trace_err',
      '-error_file', `${outputPath(`${name}-uas-${scenarioName}`)}-errors.log`,
    ], { keepText: false });
    try {
      await waitFor(`SIPp UAS on port ${port}`, async () => {
        if (!child.running) throw new Error(`sipp UAS exited at start; see ${child.logPath}`);
        return !(await udpPortFree(port));
      }, { timeoutMs: 5000 });
      return { port, uri: `sip:127.0.0.1:${port}`, child, stop: () => child.stop('SIGTERM', 2000) };
    } catch (err) {
      lastError = err;
      await child.stop('SIGKILL', 1000);
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

export interface SippOptions {
  /** A name for the log files. */
  name: string;
  scenario: string;
  /** host:port to send to (the drachtio under test). */
  target: string;
  /** The Request-URI user: optional tech prefix + dialed number ([service]). */
  service?: string;
  /** Local address: 127.0.0.1 (a known account's ACL) or another loopback address. */
  localIp?: string;
  calls?: number;
  /** Pause (-d) in ms: the hold time of answered calls. */
  holdMs?: number;
  /** Calls per second (-r, with -rp 1000). */
  rate?: number;
  /** Concurrent calls limit (-l). */
  limit?: number;
  /** Hard bound on the whole run; SIPp's global -timeout is set to it and the process is killed after it. */
  timeoutMs: number;
  /** -inf file contents (the first line is written as given). */
  injection?: string;
  extra?: string[];
}

export interface SippResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last statistics row of -trace_stat, by column name ("SuccessfulCall(C)", ...). */
  stats: Record<string, string>;
  successful: number;
  failed: number;
  /** Lines of the scenario's <log> actions (-trace_logs). */
  logLines: string[];
  /** The Call-ID prefix this run used (-cid_str): every INVITE's Call-ID starts with it. */
  callIdPrefix: string;
  /** The -trace_msg file (every SIP message sent and received). */
  messages: string;
  logPath: string;
}

export interface SippRun {
  callIdPrefix: string;
  done: Promise<SippResult>;
  kill(): Promise<void>;
}

function parseStatCsv(text: string): Record<string, string> {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) return {};
  const header = lines[0]!.split(';');
  const row = lines[lines.length - 1]!.split(';');
  const out: Record<string, string> = {};
  header.forEach((h, i) => {
    if (h) out[h] = row[i] ?? '';
  });
  return out;
}

const readIfExists = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');

/** UAC runs still going: killed after each test, so that none outlives it. */
const activeSipps = new Set<Child>();
let sippSeq = 0;
/** Starts a bounded SIPp UAC run; `done` resolves with its exit code and parsed counts. */
export async function startSipp(o: SippOptions): Promise<SippRun> {
  if (!sippBin) throw new Error('no sipp binary');
  const base = outputPath(`${o.name}-${++sippSeq}`);
  const callIdPrefix = `e2e${randomBytes(5).toString('hex')}`;
  const port = await freeSipPort();
  const args = [
    o.target, '-sf', scenario(o.scenario), '-i', o.localIp ?? '127.0.0.1', '-p', String(port),
    '-m', String(o.calls ?? 1), '-nostdin',
    '-cid_str', `${callIdPrefix}-%u-%p@%s`,
    '-timeout', `${Math.ceil(o.timeoutMs / 1000)}s`, '-timeout_error',
    '-trace_stat', '-stf', `${base}-stat.csv`, '-fd', '1',
    '-trace_err', '-error_file', `${base}-errors.log`,
    '-trace_logs', '-log_file', `${base}-actions.log`,
    '-trace_msg', '-message_file', `${base}-messages.log`,
  ];
  if (o.service !== undefined) args.push('-s', o.service);
  if (o.holdMs !== undefined) args.push('-d', String(o.holdMs));
  if (o.rate !== undefined) args.push('-r', String(o.rate), '-rp', '1000');
  if (o.limit !== undefined) args.push('-l', String(o.limit));
  if (o.injection !== undefined) {
    writeFileSync(`${base}-inject.csv`, o.injection);
    args.push('-inf', `${base}-inject.csv`);
  }
  args.push(...(o.extra ?? []));
  const child = new Child(`${o.name}-${sippSeq}-sipp`, sippBin, args, { keepText: false });
  const hardKill = setTimeout(() => void child.stop('SIGKILL', 0), o.timeoutMs + 5000);
  const done = child.exited.then(({ code, signal }) => {
    clearTimeout(hardKill);
    const stats = parseStatCsv(readIfExists(`${base}-stat.csv`));
    const count = (k: string) => Number(stats[k] ?? 'NaN');
    return {
      code,
      signal,
      stats,
      successful: count('SuccessfulCall(C)'),
      failed: count('FailedCall(C)'),
      logLines: readIfExists(`${base}-actions.log`).split('\n').filter((l) => l.trim() !== ''),
      callIdPrefix,
      messages: readIfExists(`${base}-messages.log`),
      logPath: child.logPath,
    } satisfies SippResult;
  });
  activeSipps.add(child);
  void done.finally(() => activeSipps.delete(child));
  return { callIdPrefix, done, kill: () => child.stop('SIGKILL', 0) };
}

export async function runSipp(o: SippOptions): Promise<SippResult> {
  return (await startSipp(o)).done;
}


// -------------------------------------------------------------------------------------- callgate

export interface Callgate {
  switchId: string;
  child: Child;
  /** SIGTERM: drains, as in production. */
  stop(): Promise<void>;
  /** SIGKILL: the instance dies with its calls up. */
  kill(): Promise<void>;
}

export interface CallgateOptions {
  name: string;
  switchId: string;
  redisUrl: string;
  keyPrefix: string;
  cdrDir: string;
  drachtio: Drachtio;
  routeUris: string[];
  env?: Record<string, string>;
}

export async function startCallgate(o: CallgateOptions): Promise<Callgate> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'test',
    CALLGATE_REDIS_URL: o.redisUrl,
    CALLGATE_REDIS_KEY_PREFIX: o.keyPrefix,
    CALLGATE_SWITCH_ID: o.switchId,
    CALLGATE_DRACHTIO_HOST: '127.0.0.1',
    CALLGATE_DRACHTIO_PORT: String(o.drachtio.adminPort),
    CALLGATE_DRACHTIO_SECRET: o.drachtio.secret,
    CALLGATE_ROUTE_URIS: o.routeUris.join(','),
    CALLGATE_CDR_DIR: o.cdrDir,
    CALLGATE_TICK_INTERVAL_MS: String(TIMING.tickIntervalMs),
    CALLGATE_LEASE_TTL_MS: String(TIMING.leaseTtlMs),
    CALLGATE_SWEEP_INTERVAL_MS: String(TIMING.sweepIntervalMs),
    CALLGATE_RESERVATION_SECONDS: String(TIMING.reservationSeconds),
    CALLGATE_TAXES: TAXES_JSON,
    CALLGATE_LOG_LEVEL: 'info',
    CALLGATE_DRAIN_TIMEOUT_MS: '1000',
    // every instance under test has its own admin API: let the kernel pick the port
    CALLGATE_ADMIN_LISTEN: '127.0.0.1:0',
    CALLGATE_ADMIN_TOKEN: randomBytes(16).toString('hex'),
    // a loaded machine must not turn admission into 503s
    CALLGATE_REDIS_COMMAND_TIMEOUT_MS: '2000',
    ...o.env,
  };
  const child = new Child(`${o.name}-callgate-${o.switchId}`, process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], { env });
  try {
    await child.waitForOutput(/connected to drachtio-server/, 45_000);
  } catch (err) {
    await child.stop('SIGKILL', 0);
    throw err;
  }
  return {
    switchId: o.switchId,
    child,
    stop: () => child.stop('SIGTERM', 5000),
    kill: () => child.stop('SIGKILL', 0),
  };
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
  startCallgate(o: { switchId: string; drachtio?: Drachtio; routeUris?: string[]; env?: Record<string, string> }): Promise<Callgate> {
    return startCallgate({
      name: this.options.name,
      switchId: o.switchId,
      redisUrl: this.redisUrl,
      keyPrefix: this.keyPrefix,
      cdrDir: this.cdrDir,
      drachtio: o.drachtio ?? this.drachtio,
      routeUris: o.routeUris ?? [this.uas.uri],
      env: { ...this.options.env, ...o.env },
    });
  }

  /** Stopped in afterAll, after callgate. */
  own<T extends { stop(): Promise<void> }>(thing: T): T {
    this.extra.push(thing);
    return thing;
  }

  async stop(): Promise<void> {
    for (const s of activeSipps) await s.stop('SIGKILL', 0);
    const steps: (() => Promise<unknown>)[] = [
      async () => this.callgate?.stop(),
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
    // the put was announced on the change channel; give every callgate a moment to load the catalog entry
    await sleep(500);
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

  /** Raw live call records (see includes/common.lua: switch|rsv|com|cost|tax|bsec|talk|beat|ans, then the static JSON). */
  async callRecords(id: string): Promise<{ callId: string; sw: string; reserved: number; committed: number; answeredAt: number; beat: number }[]> {
    const all = (await this.conn.redis.hGetAll(this.keys.calls(id))) as Record<string, string>;
    return Object.entries(all).map(([callId, raw]) => {
      const [sw, rsv, com, , , , , beat, ans] = raw.split('\n', 1)[0]!.split('|');
      return { callId, sw: sw!, reserved: Number(rsv), committed: Number(com), answeredAt: Number(ans), beat: Number(beat) };
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
