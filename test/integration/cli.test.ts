import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { describeOnRedis, testConfig, type TestContext } from '../helpers/context.js';
import type { CliDeps } from '../../src/cli/context.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { freshSourceIps } from '../helpers/fixtures.js';
import { runCli } from '../../src/cli/program.js';
import type { Config } from '../../src/config/index.js';

let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(config: Config, argv: string[], extra: Partial<CliDeps> = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { config, stdout: (t) => out.push(t), stderr: (t) => err.push(t), ...extra });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

/** A refusal: the given exit code, exactly one `callgate: ...` line on stderr, nothing on stdout. */
function expectRefused(r: Run, code: number, ...contains: string[]): void {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stdout).toBe('');
  expect(r.stderr.split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^callgate: \S/);
  for (const c of contains) expect(r.stderr).toContain(c);
}

const tmp = mkdtempSync(join(tmpdir(), 'callgate-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Each spread gives a fresh --ip: accounts may not share an address (see freshSourceIps). */
const CREATE_NO_DECK: Iterable<string> = {
  *[Symbol.iterator]() {
    yield* ['--type', 'prepaid', '--channels', '10', '--cps', '5', '--billing-country', 'US', '--ip', freshSourceIps()[0]!];
  },
};
const CREATE: Iterable<string> = {
  *[Symbol.iterator]() {
    yield* [...CREATE_NO_DECK, '--deck', 'std'];
  },
};
const DECK_CSV = 'prefix,rate_per_min,first_increment,next_increment\n1,0.01,6,6\n44,0.02,60,60\n';

describeOnRedis('callgate CLI', (ctx) => {
  const run = (...argv: string[]) => cli(ctx().config, argv);
  const hash = (c: TestContext, id: string) => c.conn.redis.hGetAll(c.keys.account(id));
  beforeAll(async () => {
    const file = join(tmp, `std-${ctx().target}.csv`);
    writeFileSync(file, DECK_CSV);
    const r = await run('ratedeck', 'load', 'std', file);
    expect(r.code, r.stderr).toBe(0);
  });

  it('prints help for every command on stdout and exits 0', async () => {
    const root = await run('--help');
    expect(root.code).toBe(0);
    expect(root.stderr).toBe('');
    expect(root.stdout).toContain('Usage: callgate');
    expect(root.stdout).toContain('Exit codes:');
    for (const [argv, needle] of [
      [['account', 'put', '--help'], '--credit-limit <usd>'],
      [['account', 'get', '--help'], 'balanceUsd'],
      [['account', 'funds', '--help'], '--payment-id'],
      [['account', 'status', '--help'], 'manual suspension'],
      [['account', 'limits', '--help'], 'next INVITE'],
      [['ratedeck', 'load', '--help'], 'rate_per_min'],
      [['serve', '--help'], 'drachtio'],
    ] as const) {
      const r = await run(...argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(needle);
    }
  });

  it('creates, updates and shows an account as a table and as JSON', async () => {
    const c = ctx();
    const id = uniq('cli');
    const created = await run('account', 'put', id, ...[...CREATE].slice(0, -4), '--ip', '192.0.2.10', '--deck', 'std', '--ip', '198.51.100.0/24', '--name', 'ACME Telecom', '--tech-prefix', '7001#');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain(`created account ${id}`);
    expect(created.stdout).toMatch(/status\s+off \(depleted\)/);

    const updated = await run('account', 'put', id, '--fusf-on-file', '--low-balance-threshold', '2.5');
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toContain(`updated account ${id}`);
    expect(updated.stdout).toMatch(/tax exempt\s+yes/);
    expect(updated.stdout).toMatch(/source ips\s+192\.0\.2\.10, 198\.51\.100\.0\/24/);

    await run('account', 'funds', id, '12.5', '--payment-id', 'inv-1');
    const table = await run('account', 'get', id);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/balance\s+12\.500000 USD/);
    expect(table.stdout).toMatch(/low balance at\s+2\.500000 USD/);
    expect(table.stdout).toMatch(/live calls\s+0/);

    const json = await run('account', 'get', id, '--json');
    expect(json.code).toBe(0);
    const view = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(view).toMatchObject({
      id,
      type: 'prepaid',
      status: 'on',
      balance: 12_500_000,
      balanceUsd: '12.500000',
      available: 12_500_000,
      availableUsd: '12.500000',
      lowBalanceThreshold: 2_500_000,
      lowBalanceThresholdUsd: '2.500000',
      owed: null,
      owedUsd: null,
      fusfOnFile: true,
      taxExempt: true,
      techPrefix: '7001#',
      liveCalls: { total: 0, bySwitch: {} },
    });

    const again = await run('account', 'put', id, '--create', '--name', 'x');
    expectRefused(again, EXIT.exists, 'already exists');
    const missing = await run('account', 'put', uniq('nobody'), '--update', '--name', 'x');
    expectRefused(missing, EXIT.notFound, 'does not exist');
    expect((await hash(c, id)).name).toBe('ACME Telecom');
  });

  it('refuses integers that are not plain whole numbers, all in one line, changing nothing', async () => {
    const c = ctx();
    const id = uniq('ints');
    expect((await run('account', 'put', id, ...CREATE)).code).toBe(0);
    const before = await hash(c, id);
    for (const bad of ['1.5', '1e3', '-1', '12abc', '', ' 7', '0x10']) {
      expectRefused(await run('account', 'put', id, '--channels', bad), EXIT.invalid, 'channels: must be a whole number');
      expectRefused(await run('account', 'limits', id, '--cps', bad), EXIT.invalid, 'cps: must be a whole number');
    }
    const all = await run('account', 'limits', id, '--channels', '1.5', '--cps', '1e3', '--burst', '-1');
    expectRefused(all, EXIT.invalid, 'channels:', 'cps:', 'burst:');
    const mixed = await run('account', 'put', id, '--channels', 'ten', '--billing-country', 'usa', '--ip', '10.0.0.1/24', '--credit-limit', '1.1234567');
    expectRefused(mixed, EXIT.invalid, 'channels:', 'billingCountry:', 'ips[0]:', 'creditLimit:');
    expect(await hash(c, id)).toEqual(before);
  });

  it('applies funds once per payment id and refuses bad amounts', async () => {
    const c = ctx();
    const id = uniq('funds');
    await run('account', 'put', id, ...CREATE);
    const paid = await run('account', 'funds', id, '25', '--payment-id', 'wire-7');
    expect(paid.code, paid.stderr).toBe(0);
    expect(paid.stdout).toContain('applied 25.000000 USD');
    expect(paid.stdout).toContain('status on');
    const dup = await run('account', 'funds', id, '25', '--payment-id', 'wire-7');
    expect(dup.code).toBe(0);
    expect(dup.stdout).toContain('already applied');
    const before = await hash(c, id);
    for (const bad of ['1.1234567', '1e3', '-5', '0', 'abc', '1,000']) {
      expectRefused(await run('account', 'funds', id, bad), EXIT.invalid, 'amount:');
    }
    expectRefused(await run('account', 'funds', id, '5', '--payment-id', 'no spaces'), EXIT.invalid, 'paymentId:');
    expect(await hash(c, id)).toEqual(before);
    expect(JSON.parse((await run('account', 'get', id, '--json')).stdout).balance).toBe(25_000_000);
  });

  it('switches status and limits, and refuses bad ones', async () => {
    const id = uniq('st');
    await run('account', 'put', id, ...CREATE);
    await run('account', 'funds', id, '10', '--payment-id', uniq('p'));
    const off = await run('account', 'status', id, 'off', '--note', 'MSA: dialer traffic');
    expect(off.code).toBe(0);
    expect(off.stdout).toBe(`${id} is off (manual)`);
    expect((await run('account', 'get', id)).stdout).toMatch(/status note\s+MSA: dialer traffic/);
    expect((await run('account', 'status', id, 'on')).stdout).toBe(`${id} is on`);
    expectRefused(await run('account', 'status', id, 'maybe'), EXIT.invalid, 'status: must be on or off');

    const limits = await run('account', 'limits', id, '--channels', '30', '--cps', '12');
    expect(limits.code).toBe(0);
    expect(limits.stdout).toBe(`${id} limits: channels 30 per switch, cps 12, burst 12`);
    expect((await run('account', 'limits', id, '--burst', '40')).stdout).toContain('burst 40');
    expectRefused(await run('account', 'limits', id), EXIT.invalid, 'give at least one of channels, cps, burst');
    expectRefused(await run('account', 'limits', id, '--burst', '0'), EXIT.invalid, 'burst: must be at least 1');
  });

  it('exits 2 for an unknown account, 1 for a hostile id', async () => {
    const nobody = uniq('nobody');
    for (const argv of [
      ['account', 'get', nobody],
      ['account', 'funds', nobody, '5', '--payment-id', 'p1'],
      ['account', 'status', nobody, 'off'],
      ['account', 'limits', nobody, '--channels', '1'],
      ['account', 'put', nobody, '--update', '--name', 'x'],
    ]) {
      expectRefused(await run(...argv), EXIT.notFound, `account "${nobody}" does not exist`);
    }
    for (const id of ['a{b}', 'a:b', '*', '../x', 'x'.repeat(65)]) {
      expectRefused(await run('account', 'get', id), EXIT.invalid, 'id: must be 1-64 characters');
      expectRefused(await run('account', 'put', id, ...CREATE), EXIT.invalid, 'id: must be 1-64 characters');
    }
  });

  it('loads a rate deck from a file, and refuses a bad one with its line numbers', async () => {
    const deckId = uniq('deck');
    const good = join(tmp, `${deckId}.csv`);
    writeFileSync(good, DECK_CSV);
    const r = await run('ratedeck', 'load', deckId, good);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^loaded rate deck ${deckId}: 2 prefixes, version [0-9a-f]{40}$`));

    const badId = uniq('baddeck');
    const bad = join(tmp, `${badId}.csv`);
    writeFileSync(bad, 'prefix,rate_per_min,first_increment,next_increment\n1,0.01,6,6\n44,0.0000001,6,6\nabc,0.01,6,6\n');
    expectRefused(await run('ratedeck', 'load', badId, bad), EXIT.invalid, 'line 3:', 'line 4:', 'nothing stored');
    expect(await ctx().conn.redis.exists(ctx().keys.deck(badId))).toBe(0);
    expectRefused(await run('ratedeck', 'load', badId, join(tmp, 'missing.csv')), EXIT.invalid, 'cannot read', 'no such file');

    const id = uniq('decked');
    expectRefused(await run('account', 'put', id, ...CREATE_NO_DECK, '--deck', badId), EXIT.invalid, `rate deck "${badId}" is not loaded`);
    expectRefused(await run('account', 'put', id, ...CREATE_NO_DECK), EXIT.invalid, 'deckId: required');
    expect((await run('account', 'put', id, ...CREATE_NO_DECK, '--deck', deckId)).stdout).toMatch(new RegExp(`rate deck\\s+${deckId}`));
  });

  it('lists accounts', async () => {
    const id = uniq('listed');
    await run('account', 'put', id, ...CREATE);
    const ids: string[] = [];
    let cursor = '0';
    for (let page = 0; page < 1000; page++) {
      const r = await run('account', 'list', '--cursor', cursor, '--limit', '50');
      expect(r.code).toBe(0);
      const lines = r.stdout.split('\n').filter(Boolean);
      ids.push(...lines.filter((l) => !l.startsWith('#')));
      const more = lines.find((l) => l.startsWith('# more'));
      if (!more) break;
      cursor = more.split(' ').pop()!;
    }
    expect(ids).toContain(id);
    expectRefused(await run('account', 'list', '--limit', '1.5'), EXIT.invalid, 'limit:');
  });

  it("turns commander's own errors into one line and exit code 1", async () => {
    expectRefused(await run(), EXIT.invalid, 'a command is missing: see callgate --help');
    expectRefused(await run('account'), EXIT.invalid, 'see callgate account --help');
    expectRefused(await run('bogus'), EXIT.invalid, "unknown command 'bogus'");
    expectRefused(await run('account', 'get'), EXIT.invalid, "missing required argument 'id'");
    expectRefused(await run('account', 'put', 'x', '--bogus'), EXIT.invalid, "unknown option '--bogus'");
    expectRefused(await run('account', 'limits', 'x', '--cp', '3'), EXIT.invalid, "unknown option '--cp'", '--cps');
    expectRefused(await run('account', 'put', 'x', '--channels'), EXIT.invalid, "'--channels <n>' argument missing");
    expectRefused(await run('account', 'put', 'x', '--create', '--update'), EXIT.invalid, 'cannot be used with');
    expectRefused(await run('account', 'get', 'x', 'y'), EXIT.invalid, 'too many arguments');
  });
});

describe('callgate CLI without Redis', () => {
  const config = () => testConfig('single');

  it('gives up on an unreachable Redis within the connect timeout, with exit code 4', async () => {
    const r = await cli(config(), ['account', 'get', 'acme'], { connect: () => new Promise(() => {}), connectTimeoutMs: 100 });
    expectRefused(r, EXIT.unavailable, 'cannot reach Redis', 'within 100 ms');
  });

  it('serve runs the SIP module with the config, and fails in one line when it cannot load it', async () => {
    const cfg = config();
    let given: Config | undefined;
    const ok = await cli(cfg, ['serve'], { importServe: async () => ({ runServe: async (c: Config) => void (given = c) }) });
    expect(ok.code).toBe(0);
    expect(given).toBe(cfg);
    const missing = await cli(cfg, ['serve'], {
      importServe: () => Promise.reject(new Error("Cannot find module '../sip/serve.js'\nRequire stack: ...")),
    });
    expectRefused(missing, EXIT.invalid, 'cannot load the SIP server');
    const wrong = await cli(cfg, ['serve'], { importServe: async () => ({}) });
    expectRefused(wrong, EXIT.invalid, 'exports no runServe');
  });

  it('the real binary exits 2 with one stderr line for an unknown account', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CALLGATE_')) env[k] = v;
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'account', 'get', 'nosuch'], {
      cwd: root,
      env: { ...env, NODE_ENV: 'test', CALLGATE_REDIS_URL: inject('redisUrl'), CALLGATE_REDIS_KEY_PREFIX: `${uniq('spawn')}:` },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('callgate: account "nosuch" does not exist\n');
  });
});
