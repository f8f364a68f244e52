/**
 * `callgate cdrs ...` as a client of the admin API, in-process against a running admin API over a real Redis
 * (single node and cluster), as test/integration/cli.test.ts runs the other commands: text, --json, exit codes,
 * one stderr line per failure; downloads checked against their SHA-256 and never overwriting by accident; and
 * every request it made checked against the API's OpenAPI document.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAccountService, type AccountService } from '../../src/accounts/index.js';
import type { CliDeps } from '../../src/cli/context.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { runCli } from '../../src/cli/program.js';
import { verifyCdrPassword } from '../../src/export/sftp/credentials.js';
import { describeOnRedis, type TestContext } from '../helpers/context.js';
import { startTestAdmin } from '../helpers/admin-server.js';
import { FINGERPRINTS, KEYS, publishDayFile, type PublishOptions } from '../helpers/cdr-files.js';
import { freshSourceIps } from '../helpers/fixtures.js';

const TOKEN = 'cdr-cli-token-0e7a55b1';
const PASSWORD = 'correct horse battery staple';
let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;

const exportDir = mkdtempSync(join(tmpdir(), 'callgate-cdr-cli-'));
const filesRoot = join(exportDir, 'files');
const work = mkdtempSync(join(tmpdir(), 'callgate-cdr-cli-work-'));
afterAll(() => {
  rmSync(exportDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const sent: { method: string; url: URL }[] = [];
const recordingFetch: typeof fetch = async (input, init) => {
  sent.push({ method: init?.method ?? 'GET', url: new URL(String(input)) });
  return fetch(input, init);
};

/** A refusal: the given exit code, exactly one `callgate: ...` line on stderr, nothing on stdout. */
function expectRefused(r: Run, code: number, ...contains: string[]): void {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stdout).toBe('');
  expect(r.stderr.split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^callgate: \S/);
  for (const c of contains) expect(r.stderr).toContain(c);
}

/** Files a download left in a directory, hidden partial ones included. */
const filesIn = (dir: string) => readdirSync(dir).sort();

describeOnRedis('callgate cdrs over the admin API', (ctx) => {
  let server: FastifyInstance;
  let url = '';
  let env: Record<string, string> = {};
  let svc: AccountService;
  const cli = async (argv: string[], deps: Partial<CliDeps> = {}): Promise<Run> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(argv, { env, fetch: recordingFetch, terminal: null, stdout: (t) => out.push(t), stderr: (t) => err.push(t), stderrIsTTY: false, ...deps });
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  };
  const run = (...argv: string[]) => cli(argv);
  const publish = (c: TestContext, id: string, field: string, o: PublishOptions = {}) => publishDayFile(c, filesRoot, id, field, o);
  const account = async () => {
    const id = uniq('cli');
    await svc.putAccount(id, { type: 'prepaid', channels: 1, cps: 1, billingCountry: 'US', deckId: 'std', ips: freshSourceIps() }, { mode: 'create' });
    return id;
  };
  /** A fresh empty directory to download into. */
  const dir = () => {
    const d = join(work, uniq(ctx().target));
    mkdirSync(d);
    return d;
  };

  beforeAll(async () => {
    const c = ctx();
    svc = createAccountService({ redis: c.conn.redis, keys: c.keys, engine: c.engine, config: c.config });
    await svc.loadRateDeck('std', 'prefix,rate_per_min,first_increment,next_increment\n1,0.01,6,6\n');
    ({ server, url } = await startTestAdmin(c, TOKEN));
    env = { CALLGATE_ADMIN_URL: url, CALLGATE_ADMIN_TOKEN: TOKEN };
  });
  afterAll(async () => {
    await server?.close();
  });

  it('prints help for every cdrs command', async () => {
    for (const [argv, needle] of [
      [['cdrs', 'list', '--help'], 'newest first'],
      [['cdrs', 'get', '--help'], '--force'],
      [['cdrs', 'access', '--help'], '--password-stdin'],
      [['cdrs', 'revoke', '--help'], 'refused-attempts setting stays'],
    ] as const) {
      const r = await run(...argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(needle);
      expect(r.stdout).toContain('--json');
    }
    expect((await run('--help')).stdout).toContain('cdrs');
    expectRefused(await run('cdrs'), EXIT.invalid, 'see callgate cdrs --help');
  });

  it('lists the days as a table and as JSON; exit 2 for an unknown account, 1 for a bad id', async () => {
    const c = ctx();
    const id = await account();
    expect((await run('cdrs', 'list', id)).stdout).toBe(`${id} has no published CDR files`);
    const first = await publish(c, id, '20261202');
    const second = await publish(c, id, '20261203', { revision: 2 });
    const r = await run('cdrs', 'list', id);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`CDR files of ${id}: 2 days`);
    expect(lines[1]).toMatch(/^DAY\s+REVISION\s+ROWS\s+BYTES\s+SHA256\s+NAME$/);
    expect(lines[2]).toMatch(new RegExp(`^2026-12-03\\s+2\\s+1\\s+${second.record.bytes}\\s+${second.record.sha256}\\s+${id}_20261203_r2\\.csv\\.gz$`));
    expect(lines[3]).toMatch(new RegExp(`^2026-12-02\\s+1\\s+1\\s+${first.record.bytes}\\s+${first.record.sha256}\\s+${id}_20261202\\.csv\\.gz$`));
    expect(JSON.parse((await run('cdrs', 'list', id, '--json')).stdout)).toEqual({ accountId: id, days: [second.record, first.record] });
    const nobody = uniq('nobody');
    expectRefused(await run('cdrs', 'list', nobody), EXIT.notFound, `account "${nobody}" does not exist`);
    expectRefused(await run('cdrs', 'list', 'a{b}'), EXIT.invalid, '<account>: must be 1-64 characters');
  });

  it('downloads a day into the current directory under its name, checked, and never overwrites without --force', async () => {
    const c = ctx();
    const id = await account();
    const { record, gz } = await publish(c, id, '20261203');
    const cwd = dir();
    const got = await cli(['cdrs', 'get', id, '2026-12-03'], { cwd });
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toBe(`wrote ${record.name}: ${gz.length} bytes, SHA-256 ${record.sha256} (checked)`);
    expect(readFileSync(join(cwd, record.name)).equals(gz)).toBe(true);
    expect(filesIn(cwd)).toEqual([record.name]);

    writeFileSync(join(cwd, record.name), 'mine');
    expectRefused(await cli(['cdrs', 'get', id, '20261203'], { cwd }), EXIT.invalid, `${record.name} exists`, '--force');
    expect(readFileSync(join(cwd, record.name), 'utf8')).toBe('mine');
    expect(filesIn(cwd)).toEqual([record.name]);
    const forced = await cli(['cdrs', 'get', id, '20261203', '--force', '--json'], { cwd });
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toEqual({ file: join(cwd, record.name), name: record.name, bytes: gz.length, sha256: record.sha256 });
    expect(readFileSync(join(cwd, record.name)).equals(gz)).toBe(true);

    // -o FILE (refused before anything is sent when it exists), -o DIR
    const out = join(cwd, 'day.csv.gz');
    expect((await cli(['cdrs', 'get', id, '2026-12-03', '-o', 'day.csv.gz'], { cwd })).stdout).toBe(`wrote day.csv.gz: ${gz.length} bytes, SHA-256 ${record.sha256} (checked)`);
    expect(readFileSync(out).equals(gz)).toBe(true);
    const before = sent.length;
    expectRefused(await cli(['cdrs', 'get', id, '2026-12-03', '-o', 'day.csv.gz'], { cwd }), EXIT.invalid, 'day.csv.gz exists: nothing downloaded');
    expect(sent.length, 'refused before any request').toBe(before);
    const into = dir();
    expect((await cli(['cdrs', 'get', id, '2026-12-03', '--output', into], { cwd })).code).toBe(0);
    expect(filesIn(into)).toEqual([record.name]);
  });

  it('fails on a corrupt or short transfer (exit 4) and keeps nothing', async () => {
    const c = ctx();
    const id = await account();
    const { record } = await publish(c, id, '20261203');
    const tamper = (change: (res: Response) => Response): typeof fetch => async (input, init) => change(await fetch(input, init));
    const flipped: typeof fetch = tamper((res) => {
      const headers = new Headers(res.headers);
      headers.set('x-checksum-sha256', 'f'.repeat(64));
      return new Response(res.body, { status: res.status, headers });
    });
    const cwd = dir();
    const bad = await cli(['cdrs', 'get', id, '2026-12-03'], { cwd, fetch: flipped });
    expectRefused(bad, EXIT.unavailable, record.name, `SHA-256 ${record.sha256}`, `the API sent ${'f'.repeat(64)}`, 'nothing kept');
    expect(filesIn(cwd)).toEqual([]);
    const short: typeof fetch = tamper((res) => {
      const headers = new Headers(res.headers);
      return new Response(new Blob([Buffer.from('not the file')]).stream(), { status: res.status, headers });
    });
    expectRefused(await cli(['cdrs', 'get', id, '2026-12-03'], { cwd, fetch: short }), EXIT.unavailable, 'cut short', 'nothing kept');
    const unsummed: typeof fetch = tamper((res) => {
      const headers = new Headers(res.headers);
      headers.delete('x-checksum-sha256');
      return new Response(res.body, { status: res.status, headers });
    });
    expectRefused(await cli(['cdrs', 'get', id, '2026-12-03'], { cwd, fetch: unsummed }), EXIT.unavailable, 'without its SHA-256');
    expect(filesIn(cwd)).toEqual([]);
    // an existing file is left as it was when the download fails
    writeFileSync(join(cwd, record.name), 'mine');
    expectRefused(await cli(['cdrs', 'get', id, '2026-12-03', '--force'], { cwd, fetch: flipped }), EXIT.unavailable, 'nothing kept');
    expect(readFileSync(join(cwd, record.name), 'utf8')).toBe('mine');
    expect(filesIn(cwd)).toEqual([record.name]);
  });

  it('exits 2 for no file that day, 4 when the file is on the export role\'s host only, 1 for a bad day', async () => {
    const c = ctx();
    const id = await account();
    await publish(c, id, '20261203', { write: false });
    const cwd = dir();
    expectRefused(await cli(['cdrs', 'get', id, '2026-12-04'], { cwd }), EXIT.notFound, `no published CDR file for 2026-12-04`);
    expectRefused(await cli(['cdrs', 'get', id, '2026-12-03'], { cwd }), EXIT.unavailable, "kept by the export role's host");
    expectRefused(await cli(['cdrs', 'get', id, '2026-12-32'], { cwd }), EXIT.invalid, '<day>: must be a UTC day');
    expectRefused(await cli(['cdrs', 'get', uniq('nobody'), '2026-12-03'], { cwd }), EXIT.notFound, 'does not exist');
    expect(filesIn(cwd)).toEqual([]);
  });

  it('sets the password from stdin, keys from files and the refused-attempts switch; shows and revokes them', async () => {
    const c = ctx();
    const id = await account();
    const shown = await run('cdrs', 'access', id);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/password\s+none/);
    expect(shown.stdout).toMatch(/refused attempts\s+included in the files/);
    expect(shown.stdout).toContain('the customer cannot log in');

    const set = await cli(['cdrs', 'access', id, '--password-stdin'], { readStdin: async () => `${PASSWORD}\n` });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain(`updated the CDR access of ${id}`);
    expect(set.stdout).toMatch(/password\s+set \(kept as an scrypt hash\)/);
    expect(await verifyCdrPassword(PASSWORD, (await c.conn.redis.hGet(c.keys.cdrAccess(id), 'password'))!)).toBe(true);

    const one = join(work, `${uniq('k')}.pub`);
    const several = join(work, `${uniq('k')}_authorized_keys`);
    writeFileSync(one, `${KEYS.ED25519} ops@acme\n`);
    writeFileSync(several, `# the NOC\n\n${KEYS.ECDSA_256} noc\r\n`);
    const keys = await run('cdrs', 'access', id, '--key-file', one, '--key-file', several, '--include-refused', 'no');
    expect(keys.code, keys.stderr).toBe(0);
    expect(keys.stdout).toMatch(/public keys\s+2/);
    expect(keys.stdout).toContain(`ssh-ed25519  ${FINGERPRINTS.ED25519}  ops@acme`);
    expect(keys.stdout).toContain(`ecdsa-sha2-nistp256  ${FINGERPRINTS.ECDSA_256}  noc`);
    expect(keys.stdout).toMatch(/refused attempts\s+left out of the files/);
    const json = JSON.parse((await run('cdrs', 'access', id, '--json')).stdout);
    expect(json).toEqual({
      accountId: id, hasPassword: true, includeRefused: false,
      authorizedKeys: [
        { type: 'ssh-ed25519', fingerprint: FINGERPRINTS.ED25519, comment: 'ops@acme' },
        { type: 'ecdsa-sha2-nistp256', fingerprint: FINGERPRINTS.ECDSA_256, comment: 'noc' },
      ],
    });

    const revoked = await run('cdrs', 'revoke', id);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`revoked the CDR access of ${id}`);
    expect(revoked.stdout).toMatch(/password\s+none/);
    expect(revoked.stdout).toMatch(/refused attempts\s+left out of the files/);
    expect(JSON.parse((await run('cdrs', 'revoke', id, '--json')).stdout)).toEqual({ accountId: id, hasPassword: false, authorizedKeys: [], includeRefused: false });
    expect(await c.conn.redis.hGetAll(c.keys.cdrAccess(id))).toEqual({ refused: '0' });
  });

  it('refuses bad access input in the flags\' words, by key file and line, and changes nothing', async () => {
    const c = ctx();
    const id = await account();
    await cli(['cdrs', 'access', id, '--password-stdin'], { readStdin: async () => PASSWORD });
    const before = await c.conn.redis.hGetAll(c.keys.cdrAccess(id));
    const good = join(work, `${uniq('k')}.pub`);
    const weak = join(work, `${uniq('k')}.pub`);
    const mixed = join(work, `${uniq('k')}_keys`);
    writeFileSync(good, KEYS.ED25519);
    writeFileSync(weak, KEYS.RSA_1024);
    writeFileSync(mixed, `${KEYS.ECDSA_256}\n-----BEGIN OPENSSH PRIVATE KEY-----\n`);
    const r = await cli(['cdrs', 'access', id, '--password-stdin', '--key-file', good, '--key-file', weak, '--key-file', mixed], { readStdin: async () => 'short\n' });
    expectRefused(r, EXIT.invalid, 'refused, nothing changed', '--password-stdin: the password is too short', `--key-file ${weak}: the RSA key has 1024 bits`, `--key-file ${mixed} (line 2): this is a private key`);
    expect(r.stderr).not.toMatch(/authorizedKeys|password:/);
    expectRefused(await run('cdrs', 'access', id, '--include-refused', 'maybe'), EXIT.invalid, '--include-refused: must be yes or no');
    expectRefused(await run('cdrs', 'access', id, '--key-file', join(work, 'missing.pub')), EXIT.invalid, 'cannot read', 'no such file');
    const empty = join(work, `${uniq('k')}.pub`);
    writeFileSync(empty, '# nothing\n\n');
    expectRefused(await run('cdrs', 'access', id, '--key-file', empty), EXIT.invalid, `--key-file ${empty}: holds no public key line`);
    const nobody = uniq('nobody');
    expectRefused(await cli(['cdrs', 'access', nobody, '--password-stdin'], { readStdin: async () => PASSWORD }), EXIT.notFound, `account "${nobody}" does not exist`);
    expectRefused(await run('cdrs', 'revoke', nobody), EXIT.notFound);
    expect(await c.conn.redis.hGetAll(c.keys.cdrAccess(id))).toEqual(before);
  });

  it('made only requests that the OpenAPI document describes', async () => {
    const res = await fetch(`${url}/v1/openapi.json`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
    const used = new Set<string>();
    const problems: string[] = [];
    for (const s of sent.filter((x) => x.url.origin === new URL(url).origin)) {
      const match = Object.keys(doc.paths).find((t) => new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(s.url.pathname));
      if (!match || !doc.paths[match]![s.method.toLowerCase()]) problems.push(`${s.method} ${s.url.pathname}`);
      else used.add(`${s.method} ${match}`);
      if ([...s.url.searchParams.keys()].length > 0) problems.push(`${s.method} ${s.url.pathname}: a query`);
    }
    expect(problems).toEqual([]);
    expect([...used].sort()).toEqual([
      'DELETE /v1/accounts/{id}/cdr-access',
      'GET /v1/accounts/{id}/cdr-access',
      'GET /v1/accounts/{id}/cdrs',
      'GET /v1/accounts/{id}/cdrs/{day}',
      'PUT /v1/accounts/{id}/cdr-access',
    ]);
    expect(existsSync(work)).toBe(true);
  });
}, { cdrExport: { dir: exportDir } });
