/**
 * The SIP stack of end-to-end tests and of bench:sip, as child processes on loopback: drachtio-server, SIPp
 * (UAS switches and UAC runs), and callgate itself. No test-runner code here, so a bench can use it too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { accessSync, constants, createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './redis-servers.js';
import { waitFor } from './wait.js';

export { waitFor };

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const SCENARIO_DIR = join(REPO_ROOT, 'sipp-scenarios');
/** Scenarios the e2e suite needed and wrote itself (sipp-scenarios/ belongs to the load-test tooling). */
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

// ---------------------------------------------------------------------------------------- helpers

export function udpPortFree(port: number): Promise<boolean> {
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

export const slug = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 80);
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
      // a window, not a wait: drachtio that fails just after binding its ports exits within it
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
export const activeSipps = new Set<Child>();
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
  /** Its admin API, e.g. http://127.0.0.1:PORT (the port the kernel picked). */
  adminUrl: string;
  /** A label-less metric's value, read from its /metrics (NaN when absent). */
  metric(name: string): Promise<number>;
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
  /** Run the built dist/ (as production does) instead of the TypeScript sources through tsx. */
  built?: boolean;
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
    // nor into overload sheds: a shared test machine's stalls are the test run's load, not callgate's; the guard has
    // its own tests (src/admission/overload.test.ts, test/e2e/overload.test.ts), which turn it back on
    CALLGATE_OVERLOAD_ENABLED: 'false',
    ...o.env,
  };
  const entry = o.built ? ['dist/cli/main.js', 'serve'] : ['--import', 'tsx', 'src/cli/main.ts', 'serve'];
  const child = new Child(`${o.name}-callgate-${o.switchId}`, process.execPath, entry, { env });
  try {
    await child.waitForOutput(/connected to drachtio-server/, 45_000);
  } catch (err) {
    await child.stop('SIGKILL', 0);
    throw err;
  }
  const listening = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"admin API listening"/.exec(child.output);
  if (!listening) {
    await child.stop('SIGKILL', 0);
    throw new Error(`${child.name} did not log its admin API address; see ${child.logPath}`);
  }
  const adminUrl = listening[1]!;
  const metric = async (name: string): Promise<number> => {
    const body = await (await fetch(`${adminUrl}/metrics`)).text();
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
    return m ? Number(m[1]) : Number.NaN;
  };
  return {
    switchId: o.switchId,
    child,
    adminUrl,
    metric,
    stop: () => child.stop('SIGTERM', 5000),
    kill: () => child.stop('SIGKILL', 0),
  };
}

