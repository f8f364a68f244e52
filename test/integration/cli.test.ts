/**
 * The CLI as a client of the admin API: every command run in-process against a running admin API over a
 * real Redis (single node and cluster), with its text, its --json shape and its exit code; every request it
 * made checked against the API's own OpenAPI document; `callgate top` captured in a real terminal (tmux);
 * and the binary run as a process.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdmittedSeed } from '../../src/model/index.js';
import { createEngine } from '../../src/redis/engine.js';
import { describeOnRedis, testConfig, type TestContext } from '../helpers/context.js';
import { startTestAdmin } from '../helpers/admin-server.js';
import type { CliDeps } from '../../src/cli/context.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { runCli } from '../../src/cli/program.js';
import type { Config } from '../../src/config/index.js';

const TOKEN = 'cli-test-token-93b1c7d2';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A request the CLI sent, as it went over the wire: checked against the OpenAPI document at the end. */
interface SentRequest {
  method: string;
  url: URL;
  contentType: string | undefined;
  body: string | undefined;
}
const sent: SentRequest[] = [];

const recordingFetch: typeof fetch = async (input, init) => {
  const url = new URL(String(input));
  const headers = (init?.headers ?? {}) as Record<string, string>;
  const body = typeof init?.body === 'string' ? init.body : init?.body === undefined ? undefined : '<stream>';
  sent.push({ method: init?.method ?? 'GET', url, contentType: headers['content-type'], body });
  return fetch(input, init);
};

async function cli(argv: string[], deps: Partial<CliDeps> = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { fetch: recordingFetch, terminal: null, stdout: (t) => out.push(t), stderr: (t) => err.push(t), stderrIsTTY: false, ...deps });
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

const CREATE_NO_DECK = ['--type', 'prepaid', '--channels', '10', '--cps', '5', '--billing-country', 'US'];
const DECK_CSV = 'prefix,rate_per_min,first_increment,next_increment,connect_fee\n1,0.01,6,6,\n44,0.02,60,60,0.05\n4420,0.03,1,1,\n';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

let ipSeq = 0;
/** A source address no other account of this run has (overlapping addresses are refused). */
const freshIp = () => `10.${Math.floor(++ipSeq / 250) % 250}.${ipSeq % 250}.${(seq % 200) + 1}`;
const create = () => [...CREATE_NO_DECK, '--deck', 'std', '--ip', freshIp()];

function seed(accountId: string, invitedAt: number): AdmittedSeed {
  return {
    sipCallId: `sip-${uniq('c')}`, accountId, from: '15551230000', to: '442071234567', srcIp: '192.0.2.10', invitedAt,
    prefix: '44', ratePerMin: 20_000, connectFee: 50_000, firstIncrement: 60, nextIncrement: 60, taxExempt: false,
  };
}

describeOnRedis('callgate CLI over the admin API', (ctx) => {
  let server: FastifyInstance;
  let url = '';
  let env: Record<string, string> = {};
  const run = (...argv: string[]) => cli(argv, { env });
  const hash = (c: TestContext, id: string) => c.conn.redis.hGetAll(c.keys.account(id));

  beforeAll(async () => {
    ({ server, url } = await startTestAdmin(ctx(), TOKEN));
    env = { CALLGATE_ADMIN_URL: url, CALLGATE_ADMIN_TOKEN: TOKEN };
    const file = join(tmp, `std-${ctx().target}.csv`);
    writeFileSync(file, DECK_CSV);
    const r = await run('ratedeck', 'load', 'std', file);
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await server.close();
  });

  it('prints help for every command on stdout and exits 0', async () => {
    const root = await run('--help');
    expect(root.code).toBe(0);
    expect(root.stderr).toBe('');
    expect(root.stdout).toContain('Usage: callgate');
    expect(root.stdout).toContain('Exit codes:');
    expect(root.stdout).toContain('CALLGATE_ADMIN_URL');
    for (const [argv, needle] of [
      [['account', 'create', '--help'], 'exit 3'],
      [['account', 'put', '--help'], '--credit-limit <usd>'],
      [['account', 'patch', '--help'], 'exit 2'],
      [['account', 'get', '--help'], 'lastPayment'],
      [['account', 'list', '--help'], 'nextCursor'],
      [['account', 'funds', '--help'], '--payment-id'],
      [['account', 'status', '--help'], 'manual suspension'],
      [['account', 'limits', '--help'], 'next INVITE'],
      [['ratedeck', 'load', '--help'], 'rate_per_min'],
      [['ratedeck', 'show', '--help'], '--prefix'],
      [['calls', '--help'], '--switch'],
      [['usage', '--help'], 'depletion'],
      [['top', '--help'], 'live page'],
    ] as const) {
      const r = await run(...argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(needle);
      expect(r.stdout).toContain('--json');
    }
    expect((await run('serve', '--help')).stdout).toContain('drachtio');
  });

  it('refuses a source address another account holds: exit 1, in the flag\'s name, naming the other account, nothing created', async () => {
    const first = uniq('own');
    const ip = freshIp();
    expect((await run('account', 'create', first, ...CREATE_NO_DECK, '--deck', 'std', '--ip', ip)).code).toBe(0);
    const second = uniq('dup');
    expectRefused(await run('account', 'create', second, ...CREATE_NO_DECK, '--deck', 'std', '--ip', ip), EXIT.invalid, '--ip', ip, `"${first}"`);
    expectRefused(await run('account', 'get', second), EXIT.notFound);
  });

  it('creates, updates and shows an account as a table and as JSON, with its last payment', async () => {
    const c = ctx();
    const id = uniq('cli');
    const ip = freshIp();
    const created = await run('account', 'create', id, ...CREATE_NO_DECK, '--deck', 'std', '--ip', ip, '--name', 'ACME Telecom', '--tech-prefix', '7001#');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain(`created account ${id}`);
    expect(created.stdout).toMatch(/status\s+off \(depleted\)/);

    const updated = await run('account', 'put', id, '--fusf-on-file', '--low-balance-threshold', '2.5', '--ip', `${ip},198.51.${seq % 250}.0/24`);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toContain(`updated account ${id}`);
    expect(updated.stdout).toMatch(/tax exempt\s+yes/);
    expect(updated.stdout).toMatch(new RegExp(`source ips\\s+${ip.replace(/\./g, '\\.')}, 198\\.51\\.`));

    const noPayment = await run('account', 'get', id);
    expect(noPayment.stdout).toMatch(/last payment\s+-/);
    expect((await run('account', 'funds', id, '12.5', '--payment-id', 'inv-1')).code).toBe(0);
    const table = await run('account', 'get', id);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/balance\s+12\.500000 USD/);
    expect(table.stdout).toMatch(/last payment\s+12\.500000 USD at \d{4}-\d\d-\d\dT[\d:.]+Z \(payment inv-1\)/);
    expect(table.stdout).toMatch(/low balance at\s+2\.500000 USD/);
    expect(table.stdout).toMatch(/live calls\s+0/);

    const json = await run('account', 'get', id, '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      id, type: 'prepaid', status: 'on', balance: 12_500_000, balanceUsd: '12.500000', available: 12_500_000, availableUsd: '12.500000',
      lowBalanceThreshold: 2_500_000, lowBalanceThresholdUsd: '2.500000', owed: null, owedUsd: null, fusfOnFile: true, taxExempt: true,
      techPrefix: '7001#', liveCalls: { total: 0, bySwitch: {} },
      lastPayment: { paymentId: 'inv-1', amount: 12_500_000, amountUsd: '12.500000', at: expect.stringMatching(/Z$/) },
    });

    const patched = await run('account', 'patch', id, '--name', 'ACME 2', '--json');
    expect(patched.code, patched.stderr).toBe(0);
    expect(JSON.parse(patched.stdout)).toMatchObject({ id, name: 'ACME 2', balance: 12_500_000 });

    expectRefused(await run('account', 'create', id, '--name', 'x'), EXIT.exists, 'already exists');
    expectRefused(await run('account', 'put', id, '--create', '--name', 'x'), EXIT.exists, 'already exists');
    expectRefused(await run('account', 'put', uniq('nobody'), '--update', '--name', 'x'), EXIT.notFound, 'does not exist');
    expectRefused(await run('account', 'patch', uniq('nobody'), '--name', 'x'), EXIT.notFound, 'does not exist');
    expect((await hash(c, id)).name).toBe('ACME 2');
  });

  it('sends counts as JSON integers and refuses what is not plain digits, naming the flags, changing nothing', async () => {
    const c = ctx();
    const id = uniq('ints');
    expect((await run('account', 'put', id, ...create())).code).toBe(0);
    const before = await hash(c, id);
    const requestsBefore = sent.length;
    for (const bad of ['1.5', '1e3', '-1', '12abc', '', ' 7', '0x10']) {
      expectRefused(await run('account', 'put', id, '--channels', bad), EXIT.invalid, '--channels: must be a whole number');
      expectRefused(await run('account', 'limits', id, '--cps', bad), EXIT.invalid, '--cps: must be a whole number');
    }
    expect(sent.length, 'refused before any request').toBe(requestsBefore);
    const all = await run('account', 'limits', id, '--channels', '1.5', '--cps', '1e3', '--burst', '-1');
    expectRefused(all, EXIT.invalid, '--channels:', '--cps:', '--burst:');
    // the API's problems in the CLI's words: flags, not JSON field names
    const mixed = await run('account', 'put', id, '--billing-country', 'usa', '--ip', '10.0.0.1/24', '--credit-limit', '1.1234567');
    expectRefused(mixed, EXIT.invalid, '--billing-country:', '--ip #1:', '--credit-limit:');
    expect(mixed.stderr).not.toMatch(/billingCountry|ips\[0\]|creditLimit/);
    expect(await hash(c, id)).toEqual(before);
  });

  it('applies funds once per payment id: a duplicate exits 0, a conflict 5, no id 1', async () => {
    const c = ctx();
    const id = uniq('funds');
    await run('account', 'put', id, ...create());
    const paid = await run('account', 'funds', id, '25', '--payment-id', 'wire-7');
    expect(paid.code, paid.stderr).toBe(0);
    expect(paid.stdout).toContain('applied 25.000000 USD');
    expect(paid.stdout).toContain('status on');
    const dup = await run('account', 'funds', id, '25', '--payment-id', 'wire-7', '--json');
    expect(dup.code).toBe(0);
    expect(JSON.parse(dup.stdout)).toMatchObject({ outcome: 'duplicate', paymentId: 'wire-7', amount: 25_000_000, amountUsd: '25.000000', account: { id, balance: 25_000_000 } });
    const before = await hash(c, id);
    expectRefused(await run('account', 'funds', id, '99', '--payment-id', 'wire-7'), EXIT.conflict, 'wire-7', 'nothing changed');
    expectRefused(await run('account', 'funds', id, '10'), EXIT.invalid, "required option '--payment-id <id>' not specified");
    for (const bad of ['1.1234567', '1e3', '-5', '0', 'abc', '1,000']) {
      expectRefused(await run('account', 'funds', id, bad, '--payment-id', uniq('p')), EXIT.invalid, '<usd>:');
    }
    expectRefused(await run('account', 'funds', id, '5', '--payment-id', 'no spaces'), EXIT.invalid, '--payment-id:');
    expect(await hash(c, id)).toEqual(before);
    expect(JSON.parse((await run('account', 'get', id, '--json')).stdout).balance).toBe(25_000_000);
  });

  it('switches status and limits, as text and JSON, and refuses bad ones', async () => {
    const id = uniq('st');
    await run('account', 'put', id, ...create());
    await run('account', 'funds', id, '10', '--payment-id', uniq('p'));
    const off = await run('account', 'status', id, 'off', '--note', 'MSA: dialer traffic');
    expect(off.code).toBe(0);
    expect(off.stdout).toBe(`${id} is off (manual)`);
    expect((await run('account', 'get', id)).stdout).toMatch(/status note\s+MSA: dialer traffic/);
    const on = await run('account', 'status', id, 'on', '--json');
    expect(JSON.parse(on.stdout)).toMatchObject({ id, status: 'on', offReason: null });
    expectRefused(await run('account', 'status', id, 'maybe'), EXIT.invalid, 'must be on or off');

    const limits = await run('account', 'limits', id, '--channels', '30', '--cps', '12');
    expect(limits.code).toBe(0);
    expect(limits.stdout).toBe(`${id} limits: channels 30 per switch, cps 12, burst 12`);
    expect(JSON.parse((await run('account', 'limits', id, '--burst', '40', '--json')).stdout)).toMatchObject({ channels: 30, cps: 12, burst: 40 });
    expectRefused(await run('account', 'limits', id), EXIT.invalid, 'give at least one of');
    expectRefused(await run('account', 'limits', id, '--burst', '0'), EXIT.invalid, '--burst: must be at least 1');
  });

  it('exits 2 for an unknown account or deck, 1 for a hostile id', async () => {
    const nobody = uniq('nobody');
    for (const argv of [
      ['account', 'get', nobody],
      ['account', 'funds', nobody, '5', '--payment-id', 'p1'],
      ['account', 'status', nobody, 'off'],
      ['account', 'limits', nobody, '--channels', '1'],
      ['account', 'put', nobody, '--update', '--name', 'x'],
      ['usage', nobody],
      ['calls', '--account', nobody],
    ]) {
      expectRefused(await run(...argv), EXIT.notFound, `account "${nobody}" does not exist`);
    }
    expectRefused(await run('ratedeck', 'show', nobody), EXIT.notFound, `rate deck "${nobody}" is not loaded`);
    for (const id of ['a{b}', 'a:b', '*', 'x'.repeat(65)]) {
      expectRefused(await run('account', 'get', id), EXIT.invalid, '<id>: must be 1-64 characters');
      expectRefused(await run('account', 'put', id, ...create()), EXIT.invalid, '<id>: must be 1-64 characters');
    }
  });

  it('loads a rate deck, shows it filtered by prefix, and refuses a bad one with its line numbers', async () => {
    const deckId = uniq('deck');
    const good = join(tmp, `${deckId}.csv`);
    writeFileSync(good, DECK_CSV);
    const r = await run('ratedeck', 'load', deckId, good);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^loaded rate deck ${deckId}: 3 prefixes, version [0-9a-f]{40}$`));
    const loaded = JSON.parse((await run('ratedeck', 'load', deckId, good, '--json')).stdout);
    expect(loaded).toEqual({ deckId, prefixes: 3, version: expect.stringMatching(/^[0-9a-f]{40}$/) });

    const shown = await run('ratedeck', 'show', deckId);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout.split('\n')).toEqual([
      `rate deck ${deckId}: 3 prefixes, version ${loaded.version}`,
      'PREFIX   USD/MIN  INCREMENTS  CONNECT USD',
      '1       0.010000  6/6            0.000000',
      '44      0.020000  60/60          0.050000',
      '4420    0.030000  1/1            0.000000',
    ]);
    const only = await run('ratedeck', 'show', deckId, '--prefix', '44', '--limit', '1');
    expect(only.stdout).toContain('prefixes starting with 44: 2');
    expect(only.stdout).toContain('more with --offset 1');
    const json = JSON.parse((await run('ratedeck', 'show', deckId, '--prefix', '442', '--json')).stdout);
    expect(json).toEqual({
      deckId, version: loaded.version, prefixes: 3, prefix: '442', matched: 1, offset: 0, limit: 100,
      rates: [{ prefix: '4420', ratePerMin: 30_000, ratePerMinUsd: '0.030000', firstIncrement: 1, nextIncrement: 1, connectFee: 0, connectFeeUsd: '0.000000' }],
    });
    expectRefused(await run('ratedeck', 'show', deckId, '--prefix', '4x'), EXIT.invalid, '--prefix: must be 1-20 digits');

    const badId = uniq('baddeck');
    const bad = join(tmp, `${badId}.csv`);
    writeFileSync(bad, 'prefix,rate_per_min,first_increment,next_increment\n1,0.01,6,6\n44,0.0000001,6,6\nabc,0.01,6,6\n');
    expectRefused(await run('ratedeck', 'load', badId, bad), EXIT.invalid, 'line 3:', 'line 4:', 'nothing stored');
    expect(await ctx().conn.redis.exists(ctx().keys.deck(badId))).toBe(0);
    expectRefused(await run('ratedeck', 'load', badId, join(tmp, 'missing.csv')), EXIT.invalid, 'cannot read', 'no such file');
    expectRefused(await run('ratedeck', 'load', 'bad{id}', good), EXIT.invalid, '<deckId>:');

    const id = uniq('decked');
    expectRefused(await run('account', 'put', id, ...CREATE_NO_DECK, '--ip', freshIp(), '--deck', badId), EXIT.invalid, '--deck:', `rate deck "${badId}" is not loaded`);
    expectRefused(await run('account', 'put', id, ...CREATE_NO_DECK, '--ip', freshIp()), EXIT.invalid, '--deck: required');
    expect((await run('account', 'put', id, ...CREATE_NO_DECK, '--ip', freshIp(), '--deck', deckId)).stdout).toMatch(new RegExp(`rate deck\\s+${deckId}`));
  });

  it('shows upload progress on a terminal for a 100,000-line deck, and none when not on one', async () => {
    const deckId = uniq('big');
    const file = join(tmp, `${deckId}.csv`);
    const lines = ['prefix,rate_per_min,first_increment,next_increment'];
    for (let i = 0; i < 100_000; i++) lines.push(`${1_000_000 + i},0.01,6,6`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const raw: string[] = [];
    const r = await cli(['ratedeck', 'load', deckId, file], { env, stderrIsTTY: true, stderrRaw: (t) => raw.push(t) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('100000 prefixes');
    const progress = raw.join('');
    expect(progress).toContain('uploading');
    expect(progress).toContain('100001 lines');
    expect(progress).toContain('(100%)');
    expect(progress).toContain('checking and storing');
    expect(raw.at(-1)).toBe('\r\x1b[K'); // the progress line is cleared before the result
    const quiet: string[] = [];
    expect((await cli(['ratedeck', 'load', deckId, file], { env, stderrIsTTY: false, stderrRaw: (t) => quiet.push(t) })).code).toBe(0);
    expect(quiet).toEqual([]);
    expect(JSON.parse((await run('ratedeck', 'show', deckId, '--prefix', '1099999', '--json')).stdout)).toMatchObject({ prefixes: 100_000, matched: 1 });
  });

  it('lists accounts a page at a time, and all of them with --all', async () => {
    const id = uniq('listed');
    await run('account', 'put', id, ...create());
    const ids: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const r = await run('account', 'list', '--limit', '50', ...(cursor ? ['--cursor', cursor] : []));
      expect(r.code).toBe(0);
      const lines = r.stdout.split('\n').filter(Boolean);
      ids.push(...lines.filter((l) => !l.startsWith('#')));
      const more = lines.find((l) => l.startsWith('# more'));
      if (!more) break;
      cursor = more.split(' ').pop()!;
    }
    expect(ids).toContain(id);
    const all = JSON.parse((await run('account', 'list', '--all', '--json')).stdout) as { ids: string[]; nextCursor: string | null };
    expect(all.nextCursor).toBeNull();
    expect(new Set(all.ids)).toEqual(new Set(ids));
    expectRefused(await run('account', 'list', '--limit', '1.5'), EXIT.invalid, '--limit:');
  });

  it('lists live calls per account and per switch, and shows usage with burn rate and depletion', async () => {
    const c = ctx();
    const id = uniq('busy');
    await run('account', 'put', id, ...create());
    await run('account', 'funds', id, '50', '--payment-id', uniq('p'));
    const other = createEngine({ redis: c.conn.redis, keys: c.keys, switchId: 'sw-cli', leaseTtlMs: c.config.billing.leaseTtlMs });
    const now = Date.now();
    const callIds = [uniq('k'), uniq('k')];
    expect((await c.engine.admitCall({ accountId: id, callId: callIds[0]!, reservation: 60_000, seed: JSON.stringify(seed(id, now - 1000)) })).outcome).toBe('admitted');
    expect((await other.admitCall({ accountId: id, callId: callIds[1]!, reservation: 60_000, seed: JSON.stringify(seed(id, now - 2000)) })).outcome).toBe('admitted');
    const t = await c.engine.tickCall({ accountId: id, callId: callIds[0]!, total: 70_000, cost: 70_000, tax: 0, billedSec: 60, talkMs: 60_000, answeredAt: now, nextReservation: 20_000 });
    expect(t.outcome).toBe('reserved');

    const byAccount = await run('calls', '--account', id);
    expect(byAccount.code, byAccount.stderr).toBe(0);
    expect(byAccount.stdout).toContain(`${id}: 2 live calls on every switch (sw-cli: 1, ${c.config.switchId}: 1)`);
    expect(byAccount.stdout).toMatch(/CALL\s+ACCOUNT\s+SWITCH\s+STATE/);
    const json = JSON.parse((await run('calls', '--account', id, '--switch', 'sw-cli', '--json')).stdout);
    expect(json).toMatchObject({ accountId: id, total: 1, bySwitch: { 'sw-cli': 1 }, calls: [{ callId: callIds[1], switchId: 'sw-cli', accountId: id }] });
    const bySwitch = JSON.parse((await run('calls', '--switch', 'sw-cli', '--json')).stdout);
    expect(bySwitch).toMatchObject({ switchId: 'sw-cli', source: 'redis', truncated: false });
    expect(bySwitch.calls.map((x: { callId: string }) => x.callId)).toContain(callIds[1]);
    expect((await run('calls', '--switch', 'sw-cli')).stdout).toMatch(/^sw-cli: \d+ live calls\nCALL/);
    expectRefused(await run('calls'), EXIT.invalid, 'give --account <id>, --switch <id>, or both');

    const usage = await run('usage', id);
    expect(usage.code, usage.stderr).toBe(0);
    expect(usage.stdout).toMatch(/live calls\s+2 \(/);
    expect(usage.stdout).toMatch(/burn rate\s+\d+\.\d{6} USD per hour/);
    expect(usage.stdout).toMatch(/depletion\s+in \d/);
    const u = JSON.parse((await run('usage', id, '--json')).stdout);
    expect(u).toMatchObject({ accountId: id, status: 'on', channels: { total: 2 }, burn: { perHour: expect.any(Number) }, depletion: { secondsToDepletion: expect.any(Number) } });
    expect(u.burn.perHour).toBeGreaterThan(0);

    const top = await run('top', '--once');
    expect(top.code, top.stderr).toBe(0);
    expect(top.stdout).toContain(`callgate top: switch ${c.config.switchId}`);
    expect(top.stdout.split('\n').find((l) => l.startsWith(id))).toMatch(new RegExp(`^${id}\\s+on\\s+2\\s+1/10`));
    const topJson = JSON.parse((await run('top', '--json', '--limit', '5')).stdout);
    expect(topJson).toMatchObject({ switchId: c.config.switchId, accounts: { limit: 5 }, series: { scope: 'instance' } });
    expect(topJson.accounts.rows[0].accountId).toBe(id);
  });

  it('exits 6 on a wrong token, 4 when the API is unreachable, 4 for an error code it does not know', async () => {
    expectRefused(await cli(['account', 'get', 'x'], { env: { ...env, CALLGATE_ADMIN_TOKEN: 'wrong' } }), EXIT.unauthorized, 'refused the token');
    expectRefused(await cli(['account', 'get', 'x', '--token', 'wrong'], { env }), EXIT.unauthorized, 'refused the token');
    const closed = await closedPort();
    expectRefused(await cli(['--admin-url', `http://127.0.0.1:${closed}`, 'account', 'get', 'x'], { env }), EXIT.unavailable, `cannot reach the admin API at http://127.0.0.1:${closed}`, 'ECONNREFUSED');
    expectRefused(await cli(['account', 'get', 'x'], { env: { CALLGATE_ADMIN_URL: 'ftp://x' } }), EXIT.invalid, 'must be an http:// or https:// URL');
    const novel: typeof fetch = async () =>
      new Response(JSON.stringify({ error: { code: 'brand_new_refusal', message: 'a new rule' } }), { status: 409, headers: { 'content-type': 'application/json' } });
    expectRefused(await cli(['account', 'get', 'x'], { env, fetch: novel }), EXIT.unavailable, '409 brand_new_refusal', 'a new rule');
    const hang: typeof fetch = (_u, init) => new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)));
    expectRefused(await cli(['--timeout', '50', 'account', 'get', 'x'], { env, fetch: hang }), EXIT.unavailable, 'within 50 ms');
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

  it('draws `callgate top` in a real terminal (tmux), refreshes it, and quits on q', async (t) => {
    const tmux = spawnSync('sh', ['-c', 'command -v tmux'], { encoding: 'utf8' }).stdout.trim();
    if (!tmux) {
      console.warn('\n*** SKIPPED: `callgate top` in a terminal needs tmux (apt-get install -y tmux; .ci/run installs it) ***\n');
      t.skip();
      return;
    }
    const c = ctx();
    const id = uniq('topacct');
    await run('account', 'put', id, ...create());
    await run('account', 'funds', id, '20', '--payment-id', uniq('p'));
    for (let i = 0; i < 3; i++) {
      const r = await c.engine.admitCall({ accountId: id, callId: uniq('k'), reservation: 60_000, seed: JSON.stringify(seed(id, Date.now())) });
      expect(r.outcome).toBe('admitted');
    }
    const session = uniq('cgtop');
    const sock = join(tmp, `${session}.sock`);
    const tm = (...args: string[]) => execFileSync(tmux, ['-S', sock, ...args], { encoding: 'utf8' });
    const command = `${process.execPath} --import tsx src/cli/main.ts top --interval 0.5; echo "top exited $?"; sleep 30`;
    tm('new-session', '-d', '-s', session, '-x', '120', '-y', '30', '-c', ROOT, '-e', `CALLGATE_ADMIN_URL=${url}`, '-e', `CALLGATE_ADMIN_TOKEN=${TOKEN}`, command);
    try {
      const capture = () => tm('capture-pane', '-p', '-t', session);
      const until = async (what: (screen: string) => boolean, ms = 20_000) => {
        const end = Date.now() + ms;
        let screen = capture();
        while (!what(screen) && Date.now() < end) {
          await new Promise((r) => setTimeout(r, 100));
          screen = capture();
        }
        return screen;
      };
      const first = await until((s) => s.includes(id));
      expect(first).toContain(`callgate top: switch ${c.config.switchId}`);
      expect(first).toContain('every 0.5 s, q quits');
      expect(first).toMatch(/ACCOUNT\s+STATUS\s+LIVE\s+HERE\/LIMIT\s+CPS\/LIMIT\s+BALANCE\s+AVAILABLE\s+BURN\/H\s+DEPLETES/);
      // the busiest account comes first: 3 live calls, all on this switch
      const rows = first.split('\n').filter((l) => /^\S+\s+(on|off)/.test(l));
      expect(rows[0]).toMatch(new RegExp(`^${id}\\s+on\\s+3\\s+3/10\\s+`));
      // a fourth call shows on a later refresh
      await c.engine.admitCall({ accountId: id, callId: uniq('k'), reservation: 60_000, seed: JSON.stringify(seed(id, Date.now())) });
      const refreshed = await until((s) => new RegExp(`${id}\\s+on\\s+4\\s+4/10`).test(s));
      expect(refreshed).toMatch(new RegExp(`${id}\\s+on\\s+4\\s+4/10`));
      mkdirSync(join(ROOT, 'test-output', 'cli'), { recursive: true });
      writeFileSync(join(ROOT, 'test-output', 'cli', `top-${c.target}.txt`), refreshed);
      tm('send-keys', '-t', session, 'q');
      const after = await until((s) => s.includes('top exited'));
      expect(after).toContain('top exited 0');
      expect(after).not.toContain('ACCOUNT'); // the alternate screen is gone: the shell is back as it was
    } finally {
      try {
        tm('kill-server');
      } catch {
        // already gone
      }
    }
  });

  it('made only requests that the OpenAPI document describes: method, path, query and body', async () => {
    const res = await fetch(`${url}/v1/openapi.json`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const doc = (await res.json()) as OpenApiDoc;
    const ours = sent.filter((s) => s.url.origin === new URL(url).origin);
    expect(ours.length).toBeGreaterThan(50);
    const used = new Set<string>();
    const problems: string[] = [];
    for (const s of ours) {
      const match = matchPath(doc, s.url.pathname);
      if (!match) {
        problems.push(`${s.method} ${s.url.pathname}: no such path`);
        continue;
      }
      const op = doc.paths[match]![s.method.toLowerCase()];
      if (!op) {
        problems.push(`${s.method} ${match}: no such method`);
        continue;
      }
      used.add(`${s.method} ${match}`);
      const declared = new Set((op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name));
      for (const q of s.url.searchParams.keys()) if (!declared.has(q)) problems.push(`${s.method} ${match}: undeclared query ${q}`);
      if (s.body === undefined) {
        if (op.requestBody?.required) problems.push(`${s.method} ${match}: body required`);
        continue;
      }
      const media = op.requestBody?.content?.[s.contentType ?? ''];
      if (!media) {
        problems.push(`${s.method} ${match}: content type ${s.contentType} not accepted`);
        continue;
      }
      if (s.contentType === 'application/json') problems.push(...schemaProblems(media.schema, JSON.parse(s.body), `${s.method} ${match} body`));
    }
    expect(problems).toEqual([]);
    expect([...used].sort()).toEqual([
      'GET /v1/accounts',
      'GET /v1/accounts/{id}',
      'GET /v1/accounts/{id}/payments/latest',
      'GET /v1/accounts/{id}/usage',
      'GET /v1/calls',
      'GET /v1/live',
      'GET /v1/ratedecks/{deckId}/rates',
      'GET /v1/switches/{switchId}/calls',
      'PATCH /v1/accounts/{id}',
      'POST /v1/accounts',
      'POST /v1/accounts/{id}/payments',
      'PUT /v1/accounts/{id}',
      'PUT /v1/accounts/{id}/limits',
      'PUT /v1/accounts/{id}/status',
      'PUT /v1/ratedecks/{deckId}',
    ]);
  });
});

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
}
interface OpenApiDoc {
  paths: Record<string, Record<string, { parameters?: { in: string; name: string }[]; requestBody?: { required?: boolean; content?: Record<string, { schema: JsonSchema }> } }>>;
}

function matchPath(doc: OpenApiDoc, pathname: string): string | undefined {
  return Object.keys(doc.paths).find((template) => {
    const re = new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
    return re.test(pathname);
  });
}

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);

/** The part of JSON Schema the route schemas use: type, properties, required, additionalProperties, items. */
function schemaProblems(schema: JsonSchema, value: unknown, where: string): string[] {
  const out: string[] = [];
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const t = typeOf(value);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return [`${where}: ${t}, schema says ${types.join('|')}`];
  }
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) out.push(`${where}: ${r} required`);
    for (const [k, v] of Object.entries(obj)) {
      const sub = schema.properties?.[k];
      if (sub) out.push(...schemaProblems(sub, v, `${where}.${k}`));
      else if (schema.additionalProperties === false) out.push(`${where}: ${k} not in the schema`);
    }
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => out.push(...schemaProblems(schema.items!, v, `${where}[${i}]`)));
  return out;
}

describe('callgate CLI without an admin API', () => {
  it('serve runs the SIP module with the config, and fails in one line when it cannot load it', async () => {
    const cfg: Config = testConfig('single');
    let given: Config | undefined;
    const ok = await cli(['serve'], { config: cfg, importServe: async () => ({ runServe: async (c: Config) => void (given = c) }) });
    expect(ok.code).toBe(0);
    expect(given).toBe(cfg);
    const missing = await cli(['serve'], {
      config: cfg,
      importServe: () => Promise.reject(new Error("Cannot find module '../sip/serve.js'\nRequire stack: ...")),
    });
    expectRefused(missing, EXIT.invalid, 'cannot load the SIP server');
    const wrong = await cli(['serve'], { config: cfg, importServe: async () => ({}) });
    expectRefused(wrong, EXIT.invalid, 'exports no runServe');
  });

  it('the real binary exits 4 with one stderr line when the admin API is unreachable', async () => {
    const closed = await closedPort();
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CALLGATE_')) env[k] = v;
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'account', 'get', 'nosuch'], {
      cwd: ROOT,
      env: { ...env, CALLGATE_ADMIN_URL: `http://127.0.0.1:${closed}` },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status, r.stderr).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`callgate: cannot reach the admin API at http://127.0.0.1:${closed}: ECONNREFUSED\n`);
  });
});
