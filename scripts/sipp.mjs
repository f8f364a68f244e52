#!/usr/bin/env node
// Runs one SIPp scenario from sipp-scenarios/ in the foreground, keeps every trace in one output directory,
// prints the outcome counts from the final -trace_stat row, and exits with SIPp's own exit code.
//
//   npm run sipp -- <scenario> [target] [sipp options] [--out <dir>]
//
// Plain Node, no dependencies. See sipp-scenarios/README.md.
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCENARIO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../sipp-scenarios');
const DEFAULT_TARGET = '127.0.0.1:5060';
const LONG_HOLD_MS = '60000';

const EXIT_MEANINGS = {
  0: 'all calls succeeded',
  1: 'at least one call failed',
  97: 'exit on internal command (calls may have been processed)',
  99: 'normal exit, no calls processed',
  254: 'fatal error binding a socket',
  255: 'fatal error',
};

// SIPp options that take no value, and those that take two. Every other option takes one value, so the
// first word that is neither an option nor an option's value is the remote host.
const FLAGS = new Set(
  ('h help v bg nostdin skip_rlimit bind_local aa nd pause_msg_ign callid_slash_ign rtp_echo rtpcheck_debug ' +
    'srtpcheck_debug random_base_ssrc no_rate_quit timeout_error nr trace_stat rfc3339 periodic_rtd trace_msg ' +
    'trace_shortmsg trace_counts trace_err trace_error_codes trace_calldebug trace_screen trace_rtt trace_logs').split(' '),
);
const TWO_VALUES = new Set(['key', 'set', 'infindex']);
// Options the runner sets itself.
const OWNED = new Set(['sf', 'sn', 'bg']);

const USAGE = `usage: npm run sipp -- <scenario> [target] [sipp options] [--out <dir>]

  <scenario>   a name in sipp-scenarios/ (uac-answered or uac-answered.xml), or a path containing a slash
  [target]     host[:port] for uac-* scenarios; default $CALLGATE_SIP_TARGET, else ${DEFAULT_TARGET}
  --out <dir>  where traces go; default ./sipp-output/<scenario>-<time>-<pid>
  anything else is passed to sipp unchanged (-s, -d, -m, -r, -inf, -key, -set, -p, -i ...)

Defaults the runner adds unless you give the option yourself:
  uac-*: -m 1; -i 127.0.0.1 when the target is on loopback; uac-long also -d ${LONG_HOLD_MS}
  always: -trace_stat -trace_err -trace_logs -trace_screen, their files in the output directory;
          -nostdin when stdin is not a terminal
  -inf <file>: a bare file name that is not in the current directory is looked up in sipp-scenarios/

Writes <out>/summary.json with the exit code, the counts and the file names. Exits with sipp's exit code.`;

function fail(message) {
  process.stderr.write(`sipp runner: ${message}\n`);
  process.exit(2);
}

function findOnPath(program) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

function resolveScenario(name) {
  const file = name.endsWith('.xml') ? name : `${name}.xml`;
  // A bare name is a scenario of ours; anything with a slash is a path.
  const candidate = file.includes('/') ? resolve(file) : join(SCENARIO_DIR, file);
  return existsSync(candidate) ? candidate : null;
}

/** Splits the runner's own options from SIPp's, and finds the remote host among SIPp's words. */
function parseArgs(argv) {
  const sipp = [];
  const given = new Map(); // option name -> its values
  let out = null;
  let target = null;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--out') {
      out = argv[++i];
      if (!out) fail('--out needs a directory');
      continue;
    }
    if (word === '--help' || word === '-h' || word === '-help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    if (word.startsWith('-') && word.length > 1 && !/^-\d/.test(word)) {
      const name = word.slice(1);
      if (OWNED.has(name)) {
        fail(
          name === 'bg'
            ? '-bg is not supported: the runner keeps sipp in the foreground and reads its exit code'
            : `-${name} is set by the runner from <scenario>`,
        );
      }
      const arity = FLAGS.has(name) ? 0 : TWO_VALUES.has(name) ? 2 : 1;
      const values = argv.slice(i + 1, i + 1 + arity);
      if (values.length < arity) fail(`-${name} needs ${arity} value(s)`);
      given.set(name, [...(given.get(name) ?? []), ...values]);
      sipp.push(word, ...values);
      i += arity;
      continue;
    }
    if (target) fail(`two targets given: ${target} and ${word}`);
    target = word;
  }
  return { sipp, given, out, target };
}

function timestamp() {
  const d = new Date();
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

function isLoopback(target) {
  const host = target.startsWith('[') ? target.slice(1, target.indexOf(']')) : target.split(':')[0];
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Reads the header and the last row of SIPp's statistics CSV. */
function readStats(file, separator) {
  if (!existsSync(file)) return null;
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 2) return null;
  const header = lines[0].split(separator);
  const last = lines[lines.length - 1].split(separator);
  const row = {};
  header.forEach((name, i) => {
    if (name) row[name] = last[i] ?? '';
  });
  return row;
}

// Cumulative columns every scenario has; any other "(C)" column is a scenario counter (counter="...").
const STANDARD = /^(ElapsedTime|CallRate|IncomingCall|OutgoingCall|SuccessfulCall|Failed\w+|OutOfCallMsgs|DeadCallMsgs|Retransmissions|AutoAnswered|Warnings|FatalErrors|WatchdogMajor|WatchdogMinor|CallLength\w*|ResponseTime\w*)\(C\)$/;

function summarize(stats) {
  const num = (name) => Number(stats[name] ?? 0);
  const failures = {};
  const counters = {};
  for (const [name, value] of Object.entries(stats)) {
    const failure = /^(Failed\w+)\(C\)$/.exec(name);
    if (failure) {
      if (failure[1] !== 'FailedCall' && Number(value) > 0) failures[failure[1]] = Number(value);
    } else if (name.endsWith('(C)') && !STANDARD.test(name) && /^\d+$/.test(value)) {
      counters[name.slice(0, -3)] = Number(value);
    }
  }
  const responseTimes = {};
  for (const [name, value] of Object.entries(stats)) {
    const m = /^ResponseTime(\w+)\(C\)$/.exec(name);
    if (m && value) responseTimes[m[1]] = value;
  }
  return {
    created: num('TotalCallCreated'),
    successful: num('SuccessfulCall(C)'),
    failed: num('FailedCall(C)'),
    failures,
    retransmissions: num('Retransmissions(C)'),
    deadCallMessages: num('DeadCallMsgs(C)'),
    outOfCallMessages: num('OutOfCallMsgs(C)'),
    counters,
    responseTimes,
  };
}

function main() {
  const argv = process.argv.slice(2);
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(`${USAGE}\n`);
    process.exit(argv.length === 0 ? 2 : 0);
  }
  const [scenarioArg, ...rest] = argv;
  const scenarioFile = resolveScenario(scenarioArg);
  if (!scenarioFile) fail(`no scenario "${scenarioArg}" in ${SCENARIO_DIR} (give a path with a slash for other files)`);
  const scenario = basename(scenarioFile, '.xml');
  const isServer = scenario.startsWith('uas-');

  const sippBin = findOnPath('sipp');
  if (!sippBin) {
    fail('sipp is not on PATH. Install SIPp >= 3.6 (Debian/Ubuntu: apt-get install sip-tester), or add it to PATH.');
  }

  const { sipp, given, out, target: targetArg } = parseArgs(rest);
  const outDir = resolve(out ?? join('sipp-output', `${scenario}-${timestamp()}-${process.pid}`));
  mkdirSync(outDir, { recursive: true });
  // A reused --out directory must not show the previous run's files as this run's.
  for (const file of ['stat.csv', 'errors.log', 'logs.log', 'screen.log', 'messages.log', 'shortmessages.log', 'calldebug.log', 'summary.json']) {
    rmSync(join(outDir, file), { force: true });
  }

  const args = [];
  let target = targetArg;
  if (!isServer && !target) target = process.env.CALLGATE_SIP_TARGET || DEFAULT_TARGET;
  if (target) args.push(target);
  args.push('-sf', scenarioFile);

  // -inf: fall back to sipp-scenarios/ for a bare file name (accounts.csv, destinations.csv).
  for (let i = 0; i < sipp.length; i++) {
    if (sipp[i] === '-inf' && !existsSync(sipp[i + 1]) && existsSync(join(SCENARIO_DIR, sipp[i + 1]))) {
      sipp[i + 1] = join(SCENARIO_DIR, sipp[i + 1]);
    }
  }
  args.push(...sipp);

  const add = (name, ...values) => {
    if (!given.has(name)) args.push(`-${name}`, ...values);
  };
  if (!isServer) {
    add('m', '1');
    if (isLoopback(target)) add('i', '127.0.0.1');
    if (scenario === 'uac-long') add('d', LONG_HOLD_MS);
  }
  if (!process.stdin.isTTY) add('nostdin');
  const files = {
    stats: join(outDir, 'stat.csv'),
    errors: join(outDir, 'errors.log'),
    logs: join(outDir, 'logs.log'),
    screen: join(outDir, 'screen.log'),
  };
  add('trace_stat');
  add('stf', files.stats);
  add('trace_err');
  add('error_file', files.errors);
  add('trace_logs');
  add('log_file', files.logs);
  add('trace_screen');
  add('screen_file', files.screen);
  // Opt-in traces also land in the output directory.
  if (given.has('trace_msg')) add('message_file', (files.messages = join(outDir, 'messages.log')));
  if (given.has('trace_shortmsg')) add('shortmessage_file', (files.shortMessages = join(outDir, 'shortmessages.log')));
  if (given.has('trace_calldebug')) add('calldebug_file', (files.callDebug = join(outDir, 'calldebug.log')));
  if (given.has('stf')) files.stats = given.get('stf')[0];
  for (const [option, key] of [['error_file', 'errors'], ['log_file', 'logs'], ['screen_file', 'screen']]) {
    if (given.has(option)) files[key] = given.get(option)[0];
  }

  const shown = [sippBin, ...args].map((a) => (/[\s#;"'$&|<>()*?]/.test(a) ? JSON.stringify(a) : a)).join(' ');
  process.stderr.write(`sipp runner: ${shown}\nsipp runner: output in ${outDir}\n`);

  const child = spawn(sippBin, args, { stdio: 'inherit' });
  const forward = (signal) => () => child.kill(signal);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1']) process.on(signal, forward(signal));

  child.on('error', (err) => fail(`could not start sipp: ${err.message}`));
  child.on('exit', (code, signal) => {
    const exitCode = code ?? 128 + (osConstants.signals[signal] ?? 15);
    const separator = given.get('stat_delimiter')?.[0] ?? ';';
    const stats = readStats(files.stats, separator);
    const summary = stats ? summarize(stats) : null;
    const meaning = code === null ? `killed by ${signal}` : (EXIT_MEANINGS[code] ?? 'unknown exit code');
    writeFileSync(
      join(outDir, 'summary.json'),
      `${JSON.stringify({ scenario, scenarioFile, target: target ?? null, command: [sippBin, ...args], exitCode, signal, meaning, summary, files }, null, 2)}\n`,
    );

    const lines = [`\n== ${scenario}: sipp exit ${exitCode} (${meaning})`];
    if (summary) {
      lines.push(`   calls: ${summary.created} created, ${summary.successful} successful, ${summary.failed} failed`);
      for (const [name, n] of Object.entries(summary.failures)) lines.push(`     ${name}: ${n}`);
      lines.push(`   retransmissions: ${summary.retransmissions}`);
      for (const [name, n] of Object.entries(summary.counters)) lines.push(`   counter ${name}: ${n}`);
    } else {
      lines.push(`   no statistics (${files.stats} missing): sipp stopped before running the scenario`);
    }
    if (existsSync(files.errors)) lines.push(`   errors: ${files.errors}`);
    lines.push(`   logs: ${files.logs}`, `   summary: ${join(outDir, 'summary.json')}`);
    process.stderr.write(`${lines.join('\n')}\n`);
    process.exit(exitCode);
  });
}

main();
