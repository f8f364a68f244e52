/**
 * The admin API of customer CDR files over real HTTP against a real Redis, single node and cluster: the day
 * list and the download (records and files seeded here in a temporary cdrExport.dir), every refusal (bad id
 * or day, unknown account, no record, a file not on this host, forged records that try to leave the files
 * root), and the customer's SFTP access (set, show, revoke), proving that a refusal changes nothing and that
 * the password hash is never answered.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAccountService, type AccountService } from '../../src/accounts/index.js';
import { encodeFileRecord, type CdrFileRecord } from '../../src/export/file-record.js';
import { readSftpCredentials } from '../../src/export/role.js';
import { verifyCdrPassword } from '../../src/export/sftp/credentials.js';
import { describeOnRedis, type TestContext } from '../helpers/context.js';
import { startTestAdmin } from '../helpers/admin-server.js';
import { freshSourceIps } from '../helpers/fixtures.js';
import { FINGERPRINTS, KEYS, publishDayFile, type PublishOptions } from '../helpers/cdr-files.js';

const TOKEN = 'cdr-admin-token-4c81d0e2';
const DECK_CSV = 'prefix,rate_per_min,first_increment,next_increment\n1,0.01,6,6\n';
const PASSWORD = 'correct horse battery staple';

let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;

const exportDir = mkdtempSync(join(tmpdir(), 'callgate-cdr-admin-'));
const filesRoot = join(exportDir, 'files');
afterAll(() => rmSync(exportDir, { recursive: true, force: true }));

const publish = (c: TestContext, accountId: string, field: string, o: PublishOptions = {}) => publishDayFile(c, filesRoot, accountId, field, o);

interface Answer {
  status: number;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
  text: string;
  bytes: Buffer;
  headers: Headers;
}

describeOnRedis('admin API: customer CDR files', (ctx) => {
  let server: FastifyInstance;
  let base = '';
  let svc: AccountService;

  const api = async (method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<Answer> => {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const bytes = Buffer.from(await res.arrayBuffer());
    const text = bytes.toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, bytes, headers: res.headers };
  };
  const account = async () => {
    const id = uniq('cdr');
    await svc.putAccount(id, { type: 'prepaid', channels: 1, cps: 1, billingCountry: 'US', deckId: 'std', ips: freshSourceIps() }, { mode: 'create' });
    return id;
  };
  const access = (id: string) => ctx().conn.redis.hGetAll(ctx().keys.cdrAccess(id));

  beforeAll(async () => {
    const c = ctx();
    svc = createAccountService({ redis: c.conn.redis, keys: c.keys, engine: c.engine, config: c.config });
    await svc.loadRateDeck('std', DECK_CSV);
    ({ server, url: base } = await startTestAdmin(c, TOKEN));
  });
  afterAll(async () => {
    await server?.close();
  });

  // ----------------------------------------------------------------------------------------- days

  it('lists the published days newest first, leaves out records it would not serve, 404 for an unknown account, 400 for a bad id', async () => {
    const c = ctx();
    const id = await account();
    expect((await api('GET', `/v1/accounts/${id}/cdrs`)).json).toEqual({ accountId: id, days: [] });
    const a = await publish(c, id, '20261201');
    const b = await publish(c, id, '20261203', { revision: 2 });
    const d = await publish(c, id, '20261130');
    // forged or corrupt: not JSON, a path out of the folder, stored under another day, a field that is no day
    await c.conn.redis.hSet(c.keys.cdrFiles(id), '20261202', 'not json');
    await publish(c, id, '20261204', { write: false, record: { path: '../../../etc/passwd' } });
    await publish(c, id, '20261205', { write: false, record: { day: '2026-12-01' } });
    await c.conn.redis.hSet(c.keys.cdrFiles(id), 'latest', encodeFileRecord(a.record));

    const list = await api('GET', `/v1/accounts/${id}/cdrs`);
    expect(list.status).toBe(200);
    expect(list.json).toEqual({ accountId: id, days: [b.record, a.record, d.record] });
    expect(list.json.days[0]).toMatchObject({ day: '2026-12-03', name: `${id}_20261203_r2.csv.gz`, revision: 2, rows: 1 });

    const nobody = uniq('nobody');
    const missing = await api('GET', `/v1/accounts/${nobody}/cdrs`);
    expect(missing.status).toBe(404);
    expect(missing.json.error).toMatchObject({ code: 'account_not_found', message: `account "${nobody}" does not exist` });
    const bad = await api('GET', '/v1/accounts/a%7Bb%7D/cdrs');
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('invalid_request');
    expect(bad.json.error.problems).toEqual([expect.stringMatching(/^id: must be 1-64 characters/)]);
    expect((await api('GET', `/v1/accounts/${id}/cdrs`, undefined, null)).status).toBe(401);
  });

  it('streams a day file with its name, length and SHA-256, for YYYY-MM-DD and YYYYMMDD alike', async () => {
    const c = ctx();
    const id = await account();
    const csv = 'call_id,account,switch\r\nk1,x,sw1\r\nk2,x,sw1\r\n';
    const { record, gz } = await publish(c, id, '20261203', { csv });
    for (const day of ['2026-12-03', '20261203']) {
      const r = await api('GET', `/v1/accounts/${id}/cdrs/${day}`);
      expect(r.status, r.text.slice(0, 200)).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/gzip');
      expect(r.headers.get('content-disposition')).toBe(`attachment; filename="${id}_20261203.csv.gz"`);
      expect(r.headers.get('content-length')).toBe(String(gz.length));
      expect(r.headers.get('x-checksum-sha256')).toBe(record.sha256);
      expect(r.bytes.equals(gz)).toBe(true);
      expect(gunzipSync(r.bytes).toString()).toBe(csv);
    }
    const head = await fetch(`${base}/v1/accounts/${id}/cdrs/2026-12-03`, { method: 'HEAD', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(head.status).toBe(200);
    expect(head.headers.get('x-checksum-sha256')).toBe(record.sha256);
    expect((await api('GET', `/v1/accounts/${id}/cdrs/2026-12-03`, undefined, 'wrong')).status).toBe(401);
  });

  it('refuses a bad day and a bad id at once (400), an unknown account or day with 404', async () => {
    const c = ctx();
    const id = await account();
    await publish(c, id, '20261203');
    for (const day of ['2026-13-01', '2026-02-30', '20261', 'yesterday', '2026-12-3', '2026_12_03', '2026-12-03x', '%20']) {
      const r = await api('GET', `/v1/accounts/${id}/cdrs/${day}`);
      expect(r.status, day).toBe(400);
      expect(r.json.error.problems, day).toEqual([expect.stringMatching(/^day: must be a UTC day as YYYY-MM-DD or YYYYMMDD/)]);
    }
    const both = await api('GET', '/v1/accounts/a%3Ab/cdrs/tomorrow');
    expect(both.status).toBe(400);
    expect(both.json.error.problems).toEqual([expect.stringMatching(/^id: /), expect.stringMatching(/^day: /)]);
    const noDay = await api('GET', `/v1/accounts/${id}/cdrs/2026-12-04`);
    expect(noDay.status).toBe(404);
    expect(noDay.json.error).toEqual({ code: 'cdr_file_not_found', message: `account "${id}" has no published CDR file for 2026-12-04` });
    const nobody = await api('GET', `/v1/accounts/${uniq('nobody')}/cdrs/2026-12-03`);
    expect(nobody.status).toBe(404);
    expect(nobody.json.error.code).toBe('account_not_found');
  });

  it("answers 503 cdr_file_unavailable when the record is there but the file is not on this host (or not the one recorded)", async () => {
    const c = ctx();
    const id = await account();
    const { record } = await publish(c, id, '20261203', { write: false });
    const r = await api('GET', `/v1/accounts/${id}/cdrs/2026-12-03`);
    expect(r.status).toBe(503);
    expect(r.json.error.code).toBe('cdr_file_unavailable');
    expect(r.json.error.message).toContain(record.name);
    expect(r.json.error.message).toContain("kept by the export role's host");
    expect(r.json.error.message).not.toContain(exportDir);
    // a copy of another size is not the recorded file (a stale replica)
    await publish(c, id, '20261204', { record: { bytes: 5 } });
    const stale = await api('GET', `/v1/accounts/${id}/cdrs/20261204`);
    expect(stale.status).toBe(503);
    expect(stale.json.error.message).toMatch(/the copy on this host has \d+ bytes/);
  });

  it('never reads outside the files root: forged record paths are refused (404) and symlinks out of it too (503)', async () => {
    const c = ctx();
    const id = await account();
    const other = await account();
    const secret = join(exportDir, 'secret.csv.gz');
    writeFileSync(secret, 'TOP SECRET');
    const theirs = await publish(c, other, '20261203');
    const forged: [string, Partial<CdrFileRecord>][] = [
      ['20261201', { path: '../secret.csv.gz', name: 'secret.csv.gz' }],
      ['20261202', { path: `${id}/../../secret.csv.gz`, name: 'secret.csv.gz' }],
      ['20261203', { path: theirs.record.path, name: theirs.record.name }],
      ['20261204', { path: secret, name: 'secret.csv.gz' }],
      ['20261205', { path: `${id}/2026/12/../../../secret.csv.gz`, name: 'secret.csv.gz' }],
      ['20261206', { path: `${id}/./2026/${id}_20261206.csv.gz` }],
      ['20261207', { path: `${id}//2026/${id}_20261207.csv.gz` }],
      ['20261208', { name: 'a"b.csv.gz' }],
      ['20261209', { sha256: 'x\r\nset-cookie: a=b' }],
      ['20261210', { path: `${id}\\..\\..\\secret.csv.gz`, name: 'secret.csv.gz' }],
    ];
    for (const [field, record] of forged) await publish(c, id, field, { write: false, record: { bytes: 10, ...record } });
    for (const [field] of forged) {
      const r = await api('GET', `/v1/accounts/${id}/cdrs/${field}`);
      expect(r.status, field).toBe(404);
      expect(r.json.error.code, field).toBe('cdr_file_not_found');
      expect(r.json.error.message, field).toMatch(/is not valid .*nothing was read/);
      expect(r.text).not.toContain('TOP SECRET');
    }
    // a valid record whose file is a symlink out of the root, or whose month folder is one
    const link = await publish(c, id, '20261211', { write: false, record: { bytes: 10 } });
    mkdirSync(dirname(join(filesRoot, link.record.path)), { recursive: true });
    symlinkSync(secret, join(filesRoot, link.record.path));
    mkdirSync(join(exportDir, 'outside', id), { recursive: true });
    const viaDir = await publish(c, id, '20270111', { write: false, record: { bytes: 10 } });
    writeFileSync(join(exportDir, 'outside', id, viaDir.record.name), 'TOP SECRET');
    mkdirSync(join(filesRoot, id, '2027'), { recursive: true });
    symlinkSync(join(exportDir, 'outside', id), join(filesRoot, id, '2027', '01'));
    for (const day of ['20261211', '20270111']) {
      const r = await api('GET', `/v1/accounts/${id}/cdrs/${day}`);
      expect(r.status, day).toBe(503);
      expect(r.json.error.code).toBe('cdr_file_unavailable');
      expect(r.text).not.toContain('TOP SECRET');
    }
  });

  // --------------------------------------------------------------------------------------- access

  it('sets a password (kept only as an scrypt hash, never answered), keys and the refused-attempts switch, and shows them', async () => {
    const c = ctx();
    const id = await account();
    const fresh = await api('GET', `/v1/accounts/${id}/cdr-access`);
    expect(fresh.json).toEqual({ accountId: id, hasPassword: false, authorizedKeys: [], includeRefused: true });

    const set = await api('PUT', `/v1/accounts/${id}/cdr-access`, { password: PASSWORD });
    expect(set.status, set.text).toBe(200);
    expect(set.json).toEqual({ accountId: id, hasPassword: true, authorizedKeys: [], includeRefused: true });
    const stored = await access(id);
    expect(stored.password).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await verifyCdrPassword(PASSWORD, stored.password!)).toBe(true);

    const keys = await api('PUT', `/v1/accounts/${id}/cdr-access`, {
      authorizedKeys: [`  ${KEYS.ED25519}   ops@acme laptop `, `${KEYS.ECDSA_256}\t`], includeRefused: false,
    });
    expect(keys.status, keys.text).toBe(200);
    expect(keys.json).toEqual({
      accountId: id, hasPassword: true, includeRefused: false,
      authorizedKeys: [
        { type: 'ssh-ed25519', fingerprint: FINGERPRINTS.ED25519, comment: 'ops@acme laptop' },
        { type: 'ecdsa-sha2-nistp256', fingerprint: FINGERPRINTS.ECDSA_256, comment: '' },
      ],
    });
    const after = await access(id);
    expect(after.password).toBe(stored.password); // not given: kept
    expect(JSON.parse(after.keys!)).toEqual([`${KEYS.ED25519} ops@acme laptop`, KEYS.ECDSA_256]);
    expect(after.refused).toBe('0');
    expect(await readSftpCredentials(c.conn.redis, c.keys, id)).toEqual({
      passwordHash: stored.password, authorizedKeys: [`${KEYS.ED25519} ops@acme laptop`, KEYS.ECDSA_256],
    });

    const shown = await api('GET', `/v1/accounts/${id}/cdr-access`);
    expect(shown.json).toEqual(keys.json);
    for (const r of [set, keys, shown]) {
      expect(r.text).not.toContain('scrypt');
      expect(r.text).not.toContain(stored.password!.split('$')[5]);
      expect(r.text).not.toContain(PASSWORD);
    }
    // a new password replaces the hash; an empty key list removes the keys
    const again = await api('PUT', `/v1/accounts/${id}/cdr-access`, { password: `${PASSWORD}!`, authorizedKeys: [], includeRefused: true });
    expect(again.json).toEqual({ accountId: id, hasPassword: true, authorizedKeys: [], includeRefused: true });
    expect(await verifyCdrPassword(`${PASSWORD}!`, (await access(id)).password!)).toBe(true);
    expect((await access(id)).refused).toBe('1');
  });

  it('refuses bad access input with every problem at once, and changes nothing', async () => {
    const id = await account();
    await api('PUT', `/v1/accounts/${id}/cdr-access`, { password: PASSWORD, authorizedKeys: [KEYS.ED25519] });
    const before = await access(id);
    const all = await api('PUT', `/v1/accounts/${id}/cdr-access`, {
      password: 'short', authorizedKeys: [KEYS.ECDSA_256, KEYS.RSA_1024, 'not a key', KEYS.ECDSA_256], includeRefused: false,
    });
    expect(all.status).toBe(400);
    expect(all.json.error.code).toBe('invalid_request');
    expect(all.json.error.problems).toEqual([
      expect.stringMatching(/^password: the password is too short/),
      expect.stringMatching(/^authorizedKeys\[1\]: the RSA key has 1024 bits/),
      expect.stringMatching(/^authorizedKeys\[2\]: not an OpenSSH public key line/),
      expect.stringMatching(/^authorizedKeys\[3\]: the same key as authorizedKeys\[0\]/),
    ]);
    expect(all.text).not.toContain('short"');
    const tooMany = await api('PUT', `/v1/accounts/${id}/cdr-access`, { authorizedKeys: Array.from({ length: 21 }, () => KEYS.ED25519) });
    expect(tooMany.json.error.problems[0]).toBe('authorizedKeys: at most 20 keys, got 21');
    for (const [body, problem] of [
      [{}, /^nothing to change: give at least one of password, authorizedKeys, includeRefused$/],
      [{ password: 12345678901234 }, /^password: must be text/],
      [{ includeRefused: 'no' }, /^includeRefused: must be true or false/],
      [{ authorizedKeys: KEYS.ED25519 }, /^authorizedKeys: must be a JSON array/],
      [{ authorizedKeys: [1] }, /^authorizedKeys\.0: /],
      [{ passwordHash: 'scrypt$1$1$1$a$b' }, /^"passwordHash": unknown field$/],
      [{ password: 'tab\there and long enough' }, /^password: the password may hold only printable characters/],
    ] as [unknown, RegExp][]) {
      const r = await api('PUT', `/v1/accounts/${id}/cdr-access`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.problems, JSON.stringify(body)).toEqual([expect.stringMatching(problem)]);
    }
    const badId = await api('PUT', '/v1/accounts/a%7Bb%7D/cdr-access', { includeRefused: 'x' });
    expect(badId.status).toBe(400);
    expect(await access(id)).toEqual(before);

    // an unknown account: 404, and no access hash appears for it
    const nobody = uniq('nobody');
    for (const body of [{ password: PASSWORD }, { includeRefused: false }, { authorizedKeys: [KEYS.ED25519] }]) {
      const r = await api('PUT', `/v1/accounts/${nobody}/cdr-access`, body);
      expect(r.status).toBe(404);
      expect(r.json.error.code).toBe('account_not_found');
    }
    expect((await api('DELETE', `/v1/accounts/${nobody}/cdr-access`)).status).toBe(404);
    expect((await api('GET', `/v1/accounts/${nobody}/cdr-access`)).status).toBe(404);
    expect(await ctx().conn.redis.exists(ctx().keys.cdrAccess(nobody))).toBe(0);
    expect((await api('PUT', `/v1/accounts/${id}/cdr-access`, { includeRefused: false }, 'wrong')).status).toBe(401);
    expect(await access(id)).toEqual(before);
  });

  it('revokes the password and keys, keeping the refused-attempts setting; the SFTP server then finds no credentials', async () => {
    const c = ctx();
    const id = await account();
    await api('PUT', `/v1/accounts/${id}/cdr-access`, { password: PASSWORD, authorizedKeys: [KEYS.ED25519], includeRefused: false });
    const revoked = await api('DELETE', `/v1/accounts/${id}/cdr-access`);
    expect(revoked.status).toBe(200);
    expect(revoked.json).toEqual({ accountId: id, hasPassword: false, authorizedKeys: [], includeRefused: false });
    expect(await access(id)).toEqual({ refused: '0' });
    expect(await readSftpCredentials(c.conn.redis, c.keys, id)).toBeNull();
    // revoking again is the same answer
    expect((await api('DELETE', `/v1/accounts/${id}/cdr-access`)).json).toEqual(revoked.json);
    expect((await api('DELETE', '/v1/accounts/a%3Ab/cdr-access')).status).toBe(400);
  });

  it('describes the routes in the OpenAPI document', async () => {
    const doc = (await api('GET', '/v1/openapi.json')).json;
    expect(Object.keys(doc.paths['/v1/accounts/{id}/cdr-access']).sort()).toEqual(['delete', 'get', 'put']);
    expect(doc.paths['/v1/accounts/{id}/cdrs'].get).toBeDefined();
    expect(Object.keys(doc.paths['/v1/accounts/{id}/cdrs/{day}'].get.responses['200'].content)).toEqual(['application/gzip']);
    expect(doc.paths['/v1/accounts/{id}/cdr-access'].put.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
  });
}, { cdrExport: { dir: exportDir } });
