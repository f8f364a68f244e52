/**
 * The CDR SFTP server against the real OpenSSH client (`sftp` in batch mode, `sshpass` for password
 * logins, `ssh` for what is not SFTP), on loopback. Two accounts' folders in a temp root, with symlinks in
 * acct1 that point at acct2's file, at /etc/passwd and at acct2's folder, and a file beside the root.
 *
 * Every hostile case is refused, sends no file byte, brings nothing into the client's folder, and leaves
 * the whole temp tree (names, kinds, modes, sizes, mtimes, content hashes, link targets) as it was.
 * Lockouts are shown from their own loopback addresses (127.0.0.5, 127.0.0.6) so that they do not touch
 * the other cases, which connect from 127.0.0.1.
 *
 * Needs no Redis. Without /usr/bin/sftp, /usr/bin/sshpass or /usr/bin/ssh-keygen it skips, loudly.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { gzipSync } from 'node:zlib';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCdrSftpServer, hashCdrPassword, type CdrSftpServer, type SftpCredentials, type SftpLoginFailure } from '../../src/export/sftp/index.js';

const SFTP = process.env.SFTP_BIN ?? '/usr/bin/sftp';
const SSHPASS = process.env.SSHPASS_BIN ?? '/usr/bin/sshpass';
const SSH = process.env.SSH_BIN ?? '/usr/bin/ssh';
const SSH_KEYGEN = process.env.SSH_KEYGEN_BIN ?? '/usr/bin/ssh-keygen';

const missing = [
  [SFTP, 'the OpenSSH sftp client'],
  [SSHPASS, 'sshpass'],
  [SSH_KEYGEN, 'ssh-keygen'],
].filter(([path]) => !existsSync(path ?? ''));

const SUITE = 'CDR SFTP server with the OpenSSH client';
if (missing.length > 0) {
  const line = '!'.repeat(100);
  console.warn(
    [
      '',
      line,
      `!!  SFTP INTEGRATION TESTS SKIPPED: ${SUITE}`,
      ...missing.map(([path, what]) => `!!  missing ${what}: no ${path}`),
      '!!  The SFTP server was NOT exercised by a real client. To run them: apt-get install -y openssh-client sshpass',
      '!!  (or set SFTP_BIN / SSHPASS_BIN / SSH_KEYGEN_BIN). Then: npx vitest run test/integration/sftp.test.ts',
      line,
      '',
    ].join('\n'),
  );
}

const PASSWORD1 = 'acct1 downloads CDRs 2026';
const PASSWORD2 = 'acct2-other-secret-passphrase';
const DAY_FILE = '2026/12/acct1_20261203.csv.gz';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** Every entry under `dir`: kind, mode, size, mtime, and the content hash or link target. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (path: string, rel: string) => {
    const st = await lstat(path);
    let detail = '';
    if (st.isSymbolicLink()) detail = `-> ${await readlink(path)}`;
    else if (st.isFile()) detail = sha256(await readFile(path));
    out[rel || '.'] = [st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'file', st.mode.toString(8), st.size, st.mtimeMs, detail].join(' ');
    if (st.isDirectory()) for (const name of (await readdir(path)).sort()) await walk(join(path, name), rel ? `${rel}/${name}` : name);
  };
  await walk(dir, '');
  return out;
}


// ------------------------------------------------------------------------------ raw SFTP v3 wire

const SSH_FXP = { INIT: 1, VERSION: 2, OPEN: 3, CLOSE: 4, READ: 5, WRITE: 6, LSTAT: 7, FSTAT: 8, SETSTAT: 9, FSETSTAT: 10, OPENDIR: 11, READDIR: 12, REMOVE: 13, MKDIR: 14, RMDIR: 15, REALPATH: 16, STAT: 17, RENAME: 18, READLINK: 19, SYMLINK: 20, EXTENDED: 200 } as const;
const SSH_FXP_STATUS = 101;
const SSH_FXP_HANDLE = 102;
const SSH_FXP_DATA = 103;
const FX = { OK: 0, EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4 } as const;
const FXF = { READ: 1, WRITE: 2, APPEND: 4, CREAT: 8, TRUNC: 0x10, EXCL: 0x20 } as const;

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
};
const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n), 0);
  return b;
};
const str = (v: string | Buffer) => {
  const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
  return Buffer.concat([u32(bytes.length), bytes]);
};
const NO_ATTRS = u32(0);

interface Reply {
  type: number;
  body: Buffer;
  /** STATUS: the code and message. */
  code?: number;
  message?: string;
}

/**
 * SFTP spoken by hand over the "sftp" subsystem, to send what the OpenSSH client never sends: reads larger
 * than its buffer, OPEN flags of every kind, more handles than it keeps, any request type.
 */
class RawSftp {
  #nextId = 1;
  #pending = new Map<number, (reply: Reply) => void>();
  #version: ((version: number) => void) | undefined;
  #buffer = Buffer.alloc(0);
  readonly messages: string[] = [];

  constructor(private readonly channel: Duplex) {
    channel.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  init(): Promise<number> {
    return new Promise((resolve) => {
      this.#version = resolve;
      this.channel.write(Buffer.concat([u32(5), Buffer.from([SSH_FXP.INIT]), u32(3)]));
    });
  }

  request(type: number, ...fields: Buffer[]): Promise<Reply> {
    const id = this.#nextId++;
    const payload = Buffer.concat([Buffer.from([type]), u32(id), ...fields]);
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.channel.write(Buffer.concat([u32(payload.length), payload]));
    });
  }

  async open(path: string, flags: number): Promise<Reply> {
    return this.request(SSH_FXP.OPEN, str(path), u32(flags), NO_ATTRS);
  }

  #onData(chunk: Buffer) {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 4 && this.#buffer.length >= 4 + this.#buffer.readUInt32BE(0)) {
      const length = this.#buffer.readUInt32BE(0);
      const packet = this.#buffer.subarray(4, 4 + length);
      this.#buffer = this.#buffer.subarray(4 + length);
      const type = packet[0] ?? 0;
      if (type === SSH_FXP.VERSION) {
        this.#version?.(packet.readUInt32BE(1));
        continue;
      }
      const id = packet.readUInt32BE(1);
      const body = packet.subarray(5);
      const reply: Reply = { type, body };
      if (type === SSH_FXP_STATUS) {
        reply.code = body.readUInt32BE(0);
        reply.message = body.subarray(8, 8 + body.readUInt32BE(4)).toString('utf8');
        this.messages.push(reply.message);
      }
      this.#pending.get(id)?.(reply);
      this.#pending.delete(id);
    }
  }
}

/** The handle of a HANDLE reply, or the data of a DATA reply (both one string). */
const stringOf = (reply: Reply) => reply.body.subarray(4, 4 + reply.body.readUInt32BE(0));

describe.skipIf(missing.length > 0)(SUITE, () => {
  let base = ''; // the tree that must never change: root/ and a file beside it
  let root = '';
  let work = ''; // keys, host keys, client folders
  let server: CdrSftpServer;
  let port = 0;
  let before: Record<string, string> = {};
  let clientDir = '';
  const files: Record<string, Buffer> = {};
  const accounts = new Map<string, SftpCredentials>();
  const lookups: string[] = [];
  const failures: SftpLoginFailure[] = [];
  const warnings: { o: object; msg: string }[] = [];
  let lockouts = 0;
  let downloaded = 0;

  const key = (name: string) => join(work, 'keys', name);

  /** One `sftp -b` run: by key (default acct1's) or by password through sshpass, from `bind` (default 127.0.0.1). */
  async function sftp(commands: string[], login: { user?: string; key?: string; password?: string; bind?: string; port?: number; knownHosts?: string } = {}): Promise<Run> {
    const batch = join(clientDir, `batch-${Math.random().toString(36).slice(2)}.txt`);
    await writeFile(batch, `${commands.join('\n')}\n`);
    const hostChecking = login.knownHosts
      ? ['-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${login.knownHosts}`]
      : ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'];
    const common = ['-F', '/dev/null', ...hostChecking, '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10', '-o', `BindAddress=${login.bind ?? '127.0.0.1'}`];
    const target = ['-P', String(login.port ?? port), `${login.user ?? 'acct1'}@127.0.0.1`];
    try {
      if (login.password !== undefined) {
        // sftp -b asks ssh for BatchMode, which forbids passwords; the first -o given wins, so say no first
        const args = ['-p', login.password, SFTP, '-o', 'BatchMode=no', '-b', batch, ...common, '-o', 'PreferredAuthentications=password', '-o', 'PubkeyAuthentication=no', '-o', 'NumberOfPasswordPrompts=1', ...target];
        return await run(SSHPASS, args, clientDir);
      }
      const args = ['-b', batch, '-i', login.key ?? key('acct1'), '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', 'BatchMode=yes', ...common, ...target];
      return await run(SFTP, args, clientDir);
    } finally {
      await rm(batch, { force: true });
    }
  }

  /** What the client's folder holds besides the upload fixture. */
  const clientFiles = async () => (await readdir(clientDir)).filter((name) => name !== 'upload.txt').sort();

  /** A hostile run: refused, no byte of any file sent, nothing brought in, nothing on the server changed. */
  async function expectRefused(commands: string[], message: RegExp, login: Parameters<typeof sftp>[1] = {}): Promise<Run> {
    const sent = downloaded;
    const result = await sftp(commands, login);
    expect(result.code, `${commands.join('; ')}\n${result.stdout}\n${result.stderr}`).not.toBe(0);
    expect(result.stderr, commands.join('; ')).toMatch(message);
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/root:x:0:0|outside the root|acct2 secret/);
    expect(downloaded).toBe(sent);
    expect(await clientFiles()).toEqual([]);
    expect(await snapshot(base)).toEqual(before);
    return result;
  }

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'callgate-sftp-tree-'));
    work = await mkdtemp(join(tmpdir(), 'callgate-sftp-work-'));
    root = join(base, 'root');
    for (const id of ['acct1', 'acct2']) {
      await mkdir(join(root, id, '2026', '12'), { recursive: true });
      const csv = Array.from({ length: 2000 }, (_, i) => `${id}-call-${i},2026-12-03T10:${String(i % 60).padStart(2, '0')}:00Z,44207123${i},0.0123`).join('\r\n');
      const gz = gzipSync(`call_id,ended_at,to,total\r\n${csv}\r\n`);
      files[id] = gz;
      await writeFile(join(root, id, '2026', '12', `${id}_20261203.csv.gz`), gz);
      await writeFile(join(root, id, '2026', '12', `${id}_20261203.csv.gz.sha256`), `${sha256(gz)}  ${id}_20261203.csv.gz\n`);
    }
    await writeFile(join(root, 'acct2', 'notes.txt'), 'acct2 secret\n');
    files.big = Buffer.from(Array.from({ length: 700 * 1024 }, (_, i) => (i * 7919) % 251));
    await writeFile(join(root, 'acct1', '2026', '12', 'big.bin'), files.big);
    await writeFile(join(base, 'outside.txt'), 'outside the root\n');
    await symlink('../../../acct2/2026/12/acct2_20261203.csv.gz', join(root, 'acct1', '2026', '12', 'acct2_20261203.csv.gz'));
    await symlink('/etc/passwd', join(root, 'acct1', 'passwd'));
    await symlink(join(base, 'outside.txt'), join(root, 'acct1', 'outside.txt'));
    await symlink('../acct2', join(root, 'acct1', 'acct2'));

    await mkdir(join(work, 'keys'));
    for (const id of ['acct1', 'acct2']) {
      const made = await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', `${id}@test`, '-f', key(id)], work);
      expect(made.code, made.stderr).toBe(0);
    }
    accounts.set('acct1', { passwordHash: await hashCdrPassword(PASSWORD1), authorizedKeys: [await readFile(`${key('acct1')}.pub`, 'utf8')] });
    accounts.set('acct2', { passwordHash: await hashCdrPassword(PASSWORD2), authorizedKeys: [await readFile(`${key('acct2')}.pub`, 'utf8')] });
    accounts.set('keyonly', { passwordHash: null, authorizedKeys: [] });

    server = createCdrSftpServer({
      host: '127.0.0.1',
      port: 0,
      hostKeyPath: join(work, 'host', 'ssh_host_ed25519_key'),
      root,
      lookup: async (id) => {
        lookups.push(id);
        return accounts.get(id) ?? null;
      },
      logger: { info: () => undefined, warn: (o, msg) => warnings.push({ o, msg }), error: (o, msg) => warnings.push({ o, msg }) },
      onLoginFailure: (reason) => failures.push(reason),
      onLockout: () => lockouts++,
      onDownload: (bytes) => (downloaded += bytes),
    });
    port = (await server.listen()).port;
    before = await snapshot(base);
  });

  afterAll(async () => {
    await server?.close();
    await rm(base, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  beforeEach(async () => {
    clientDir = await mkdtemp(join(work, 'client-'));
    await writeFile(join(clientDir, 'upload.txt'), 'an upload\n');
  });

  // ------------------------------------------------------------------------------------ downloads

  it('downloads the day file and its checksum by key; content and sha256 match', async () => {
    const result = await sftp(['pwd', 'ls -l', 'cd 2026/12', 'ls -l', 'get acct1_20261203.csv.gz', 'get acct1_20261203.csv.gz.sha256']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Remote working directory: /');
    // symlinks are not listed at all: neither passwd, outside.txt, acct2 nor the link to acct2's file
    expect(result.stdout).toMatch(/^drwxr-xr-x +1 acct1 +acct1 +\d+ \w{3} [ \d]\d [\d:]{5} 2026$/m);
    expect(result.stdout).toMatch(/^-rw-r--r-- +1 acct1 +acct1 +\d+ .* acct1_20261203\.csv\.gz$/m);
    expect(result.stdout).not.toMatch(/passwd|outside|acct2/);
    const got = await readFile(join(clientDir, 'acct1_20261203.csv.gz'));
    expect(got.equals(files.acct1 ?? Buffer.alloc(0))).toBe(true);
    const [expected] = (await readFile(join(clientDir, 'acct1_20261203.csv.gz.sha256'), 'utf8')).split(' ');
    expect(sha256(got)).toBe(expected);
    expect(downloaded).toBeGreaterThanOrEqual(got.length);
    expect(await snapshot(base)).toEqual(before);
  });

  it('downloads by password, through sshpass', async () => {
    const result = await sftp([`get /${DAY_FILE}`, `get ${DAY_FILE}.sha256`], { password: PASSWORD1 });
    expect(result.code, result.stderr).toBe(0);
    const got = await readFile(join(clientDir, 'acct1_20261203.csv.gz'));
    expect(got.equals(files.acct1 ?? Buffer.alloc(0))).toBe(true);
    expect(sha256(got)).toBe((await readFile(join(clientDir, 'acct1_20261203.csv.gz.sha256'), 'utf8')).split(' ')[0]);
    expect(await snapshot(base)).toEqual(before);
  });

  it('shows an account with no folder yet an empty "/"', async () => {
    accounts.set('acct3', { passwordHash: null, authorizedKeys: [await readFile(`${key('acct1')}.pub`, 'utf8')] });
    const result = await sftp(['pwd', 'ls -la', 'ls /'], { user: 'acct3' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.split('\n').filter((l) => !l.startsWith('sftp>') && !l.startsWith('Remote working') && l.trim())).toEqual([]);
    expect(await snapshot(base)).toEqual(before);
  });

  // ----------------------------------------------------------------------- leaving the folder

  it('refuses the other account\'s folder through ".."', async () => {
    // "/../acct2" is acct1's own "/acct2", which is a symlink there: refused as one
    await expectRefused(['cd ../acct2'], /Permission denied|No such file/i);
    await expectRefused(['cd ../../root/acct2'], /No such file/i);
    await expectRefused([`get ../acct2/2026/12/acct2_20261203.csv.gz`], /not found|No such file/i);
    await expectRefused(['get ../acct2/notes.txt'], /not found|No such file/i);
    await expectRefused(['cd 2026', 'get ../../acct2/2026/12/acct2_20261203.csv.gz'], /not found|No such file/i);
  });

  it('refuses absolute host paths and climbing above "/"', async () => {
    await expectRefused(['get /etc/passwd'], /not found|No such file/i);
    await expectRefused(['get ../../outside.txt'], /not found|No such file/i);
    await expectRefused(['get ../../../../../../../etc/passwd'], /not found|No such file/i);
    await expectRefused([`get ${root}/acct2/notes.txt`], /not found|No such file/i);
    // climbing lands on the account's own "/", never above it
    const clamped = await sftp(['cd ../../', 'pwd', 'ls']);
    expect(clamped.code, clamped.stderr).toBe(0);
    expect(clamped.stdout).toContain('Remote working directory: /');
    expect(clamped.stdout).toMatch(/^2026\s*$/m);
    expect(clamped.stdout).not.toMatch(/acct2|outside|root/);
  });

  it('refuses every symlink: to the other account, to /etc/passwd, out of the root, to a folder', async () => {
    // get looks the name up first (its glob), and reports a refused lookup as "not found"
    await expectRefused(['get 2026/12/acct2_20261203.csv.gz'], /not found|Permission denied/i);
    await expectRefused(['get passwd'], /not found|Permission denied/i);
    await expectRefused(['get outside.txt'], /not found|Permission denied/i);
    await expectRefused(['get acct2/notes.txt'], /not found|Permission denied/i);
    // cd shows the server's own answer
    await expectRefused(['cd acct2'], /Permission denied/i);
    await expectRefused(['cd /outside.txt'], /Permission denied/i);
  });

  it('refuses over-long paths (over 1024 bytes) and names (over 255)', async () => {
    // get's glob reports a refused lookup as not found (the message cut short for a long name)
    await expectRefused([`get /${'d/'.repeat(520)}x.csv`], /^File "\/d\/d/);
    await expectRefused([`get ${'n'.repeat(300)}.csv`], /^File "\/nnn/);
    // cd shows the server's own answer (for the long path, cut short by the client: "realpath /d/d/...")
    await expectRefused([`cd /${'d/'.repeat(520)}`], /^realpath \/d\/d/);
    await expectRefused([`cd ${'n'.repeat(300)}`], /Name too long/);
  });

  it('answers raw SFTP requests within its limits: 256 KiB per READ, 64 handles, read-only flags, no other request', async () => {
    const client = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve()).once('error', reject);
      client.connect({ host: '127.0.0.1', port, username: 'acct1', privateKey: readFileSync(key('acct1')), hostVerifier: () => true });
    });
    try {
      const channel = await new Promise<Duplex>((resolve, reject) => client.subsys('sftp', (err, stream) => (err ? reject(err) : resolve(stream))));
      const sftp = new RawSftp(channel);
      expect(await sftp.init()).toBe(3);
      const big = files.big ?? Buffer.alloc(0);

      const opened = await sftp.open('/2026/12/big.bin', FXF.READ);
      expect(opened.type).toBe(SSH_FXP_HANDLE);
      const handle = stringOf(opened);
      const sent = downloaded;
      const first = await sftp.request(SSH_FXP.READ, str(handle), u64(0), u32(1024 * 1024));
      expect(first.type).toBe(SSH_FXP_DATA);
      expect(stringOf(first).equals(big.subarray(0, 256 * 1024))).toBe(true);
      expect(downloaded - sent).toBe(256 * 1024);
      const tail = await sftp.request(SSH_FXP.READ, str(handle), u64(big.length - 10), u32(1024 * 1024));
      expect(stringOf(tail).equals(big.subarray(big.length - 10))).toBe(true);
      expect((await sftp.request(SSH_FXP.READ, str(handle), u64(big.length), u32(100))).code).toBe(FX.EOF);

      // any flag beyond READ, or no READ at all, is refused before the disk is looked at
      for (const flags of [FXF.WRITE, FXF.READ | FXF.WRITE, FXF.READ | FXF.APPEND, FXF.READ | FXF.CREAT, FXF.READ | FXF.TRUNC, FXF.WRITE | FXF.CREAT | FXF.TRUNC, FXF.READ | FXF.EXCL, 0]) {
        expect((await sftp.open('/2026/12/big.bin', flags)).code, `flags ${flags}`).toBe(FX.PERMISSION_DENIED);
        expect((await sftp.open('/2026/12/created.bin', flags)).code, `flags ${flags}`).toBe(FX.PERMISSION_DENIED);
      }
      const path = str(`/${DAY_FILE}`);
      const refused: [string, number, Buffer[]][] = [
        ['WRITE', SSH_FXP.WRITE, [str(handle), u64(0), str('overwritten')]],
        ['FSETSTAT', SSH_FXP.FSETSTAT, [str(handle), u32(4), u32(0o777)]],
        ['SETSTAT', SSH_FXP.SETSTAT, [path, u32(4), u32(0o777)]],
        ['REMOVE', SSH_FXP.REMOVE, [path]],
        ['RENAME', SSH_FXP.RENAME, [path, str('/moved.gz')]],
        ['MKDIR', SSH_FXP.MKDIR, [str('/new'), NO_ATTRS]],
        ['RMDIR', SSH_FXP.RMDIR, [str('/2026/12')]],
        ['SYMLINK', SSH_FXP.SYMLINK, [str('/link'), str('/etc/passwd')]],
        ['READLINK', SSH_FXP.READLINK, [str('/passwd')]],
        ['EXTENDED posix-rename', SSH_FXP.EXTENDED, [str('posix-rename@openssh.com'), path, str('/moved.gz')]],
        ['EXTENDED hardlink', SSH_FXP.EXTENDED, [str('hardlink@openssh.com'), path, str('/hard.gz')]],
        ['EXTENDED copy-data', SSH_FXP.EXTENDED, [str('copy-data'), str(handle), u64(0), u64(0), str(handle), u64(0)]],
      ];
      for (const [name, type, fields] of refused) {
        const reply = await sftp.request(type, ...fields);
        expect(reply.type, name).toBe(SSH_FXP_STATUS);
        expect([FX.PERMISSION_DENIED, 8], name).toContain(reply.code);
      }

      // NUL bytes and paths the chroot refuses
      expect((await sftp.open('/2026/12/big.bin\u0000.txt', FXF.READ)).code).toBe(FX.FAILURE);
      expect((await sftp.request(SSH_FXP.STAT, str('/../../../etc/passwd'))).code).toBe(FX.NO_SUCH_FILE);
      expect((await sftp.request(SSH_FXP.STAT, str('/../../outside.txt'))).code).toBe(FX.PERMISSION_DENIED); // acct1's own symlink
      expect((await sftp.request(SSH_FXP.LSTAT, str('/passwd'))).code).toBe(FX.PERMISSION_DENIED);
      expect((await sftp.request(SSH_FXP.OPENDIR, str('/acct2'))).code).toBe(FX.PERMISSION_DENIED);
      expect((await sftp.request(SSH_FXP.READ, str(Buffer.from('nope')), u64(0), u32(10))).code).toBe(FX.FAILURE);

      // at most 64 open handles: the first is still open, 63 more fit, the next does not until one closes
      const more: Buffer[] = [];
      for (let i = 0; i < 63; i++) {
        const reply = i % 2 ? await sftp.request(SSH_FXP.OPENDIR, str('/2026')) : await sftp.open(`/${DAY_FILE}`, FXF.READ);
        expect(reply.type, `handle ${i + 2}`).toBe(SSH_FXP_HANDLE);
        more.push(stringOf(reply));
      }
      const over = await sftp.open(`/${DAY_FILE}`, FXF.READ);
      expect(over.code).toBe(FX.FAILURE);
      expect(over.message).toMatch(/Too many open handles/);
      expect((await sftp.request(SSH_FXP.OPENDIR, str('/'))).code).toBe(FX.FAILURE);
      expect((await sftp.request(SSH_FXP.CLOSE, str(more[0] ?? Buffer.alloc(0)))).code).toBe(FX.OK);
      expect((await sftp.open(`/${DAY_FILE}`, FXF.READ)).type).toBe(SSH_FXP_HANDLE);

      // no message the client got tells where the files are on the host
      expect(sftp.messages.length).toBeGreaterThan(20);
      for (const message of sftp.messages) {
        expect(message).not.toContain(base);
        expect(message).not.toContain(tmpdir());
      }
      channel.end();
    } finally {
      client.end();
    }
    expect(await snapshot(base)).toEqual(before);
  });

  // ---------------------------------------------------------------------------- writes refused

  it('refuses put, also over an existing file', async () => {
    await expectRefused(['put upload.txt'], /Permission denied/i);
    await expectRefused([`put upload.txt /${DAY_FILE}`], /Permission denied/i);
    await expectRefused(['put upload.txt /2026/12/new.csv'], /Permission denied/i);
  });

  it('refuses rename, rm, mkdir, rmdir, chmod and ln -s', async () => {
    await expectRefused([`rename ${DAY_FILE} moved.csv.gz`], /Permission denied/i);
    await expectRefused([`rm ${DAY_FILE}`], /Permission denied/i);
    await expectRefused(['mkdir newdir'], /Permission denied/i);
    await expectRefused(['rmdir 2026/12'], /Permission denied/i);
    await expectRefused([`chmod 777 ${DAY_FILE}`], /Permission denied/i);
    await expectRefused([`chown 0 ${DAY_FILE}`], /Permission denied/i);
    await expectRefused([`ln -s ${DAY_FILE} link.csv.gz`], /Permission denied/i);
    await expectRefused(['ln -s /etc/passwd passwd2'], /Permission denied/i);
  });

  it.skipIf(!existsSync(SSH))('refuses commands, shells and port forwarding (ssh, not sftp)', async () => {
    const ssh = (args: string[]) =>
      run(SSH, ['-F', '/dev/null', '-i', key('acct1'), '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-p', String(port), ...args], clientDir);
    const exec = await ssh(['acct1@127.0.0.1', 'cat /etc/passwd']);
    expect(exec.code).not.toBe(0);
    expect(exec.stdout).not.toContain('root:');
    const shell = await ssh(['-tt', 'acct1@127.0.0.1']);
    expect(shell.code).not.toBe(0);
    const stdio = await ssh(['-W', `127.0.0.1:${port}`, 'acct1@127.0.0.1']);
    expect(stdio.code).not.toBe(0);
    expect(stdio.stderr).toMatch(/open failed|prohibited|refused|forwarding failed/i);
    const remote = await ssh(['-N', '-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:9', 'acct1@127.0.0.1']);
    expect(remote.code).not.toBe(0);
    expect(remote.stderr).toMatch(/forwarding failed/i);
    expect(await snapshot(base)).toEqual(before);
  });

  // ------------------------------------------------------------------------------------ logins

  it('refuses this key for another account, and for unknown or malformed usernames', async () => {
    const lookupsBefore = lookups.length;
    await expectRefused(['ls'], /Permission denied \(publickey,password\)/, { user: 'acct2' });
    await expectRefused(['ls'], /Permission denied \(publickey,password\)/, { user: 'nobody' });
    await expectRefused(['ls'], /Permission denied \(publickey,password\)/, { user: 'keyonly' });
    await expectRefused(['ls'], /Permission denied \(publickey,password\)/, { user: '..' });
    // '..' is no account id, so it is not even looked up
    expect(lookups.slice(lookupsBefore)).not.toContain('..');
    expect(failures).toEqual(expect.arrayContaining(['publickey', 'unknown_user']));
    // acct2's own key still works
    const own = await sftp(['ls 2026/12'], { user: 'acct2', key: key('acct2') });
    expect(own.code, own.stderr).toBe(0);
    expect(own.stdout).toContain('acct2_20261203.csv.gz');
  });

  it('answers a wrong password and an unknown account alike', async () => {
    const wrong = await expectRefused(['ls'], /Permission denied/, { password: 'not the password at all', bind: '127.0.0.3' });
    const unknown = await expectRefused(['ls'], /Permission denied/, { user: 'nobody', password: PASSWORD1, bind: '127.0.0.4' });
    expect(unknown.stderr.replace('nobody@', 'acct1@')).toBe(wrong.stderr);
    expect(failures).toEqual(expect.arrayContaining(['password', 'unknown_user']));
  });

  it('locks an address out after 5 wrong passwords: then even the right one is refused from it', { timeout: 90_000 }, async () => {
    const locked = '127.0.0.5';
    warnings.length = 0;
    const lockoutsBefore = lockouts;
    for (let i = 1; i <= 5; i++) {
      await expectRefused(['ls'], /Permission denied/, { password: `wrong password number ${i}`, bind: locked });
    }
    expect(lockouts).toBe(lockoutsBefore + 1);
    const locks = warnings.filter((w) => w.msg === 'SFTP login locked out');
    expect(locks).toEqual([{ o: { address: locked }, msg: 'SFTP login locked out' }]);

    const failuresBefore = failures.length;
    await expectRefused([`get ${DAY_FILE}`], /Permission denied/, { password: PASSWORD1, bind: locked });
    await expectRefused([`get ${DAY_FILE}`], /Permission denied/, { bind: locked }); // the right key too
    expect(failures.slice(failuresBefore)).toEqual(['locked_out', 'locked_out']);
    expect(lockouts).toBe(lockoutsBefore + 1);
    expect(warnings.filter((w) => w.msg === 'SFTP login locked out')).toHaveLength(1);

    // only that address: another one logs in with the same password, and key logins go on as before
    const other = await sftp([`get ${DAY_FILE}`], { password: PASSWORD1, bind: '127.0.0.6' });
    expect(other.code, other.stderr).toBe(0);
    expect((await readFile(join(clientDir, 'acct1_20261203.csv.gz'))).equals(files.acct1 ?? Buffer.alloc(0))).toBe(true);
    const byKey = await sftp(['ls']);
    expect(byKey.code, byKey.stderr).toBe(0);
    expect(await snapshot(base)).toEqual(before);
  });

  // ---------------------------------------------------------------------------------- host key

  it('keeps its host key across a restart: same fingerprint, and a client that pinned it connects', async () => {
    const hostKeyPath = join(work, 'restart', 'host_key');
    const first = createCdrSftpServer({ host: '127.0.0.1', port: 0, hostKeyPath, root, lookup: async (id) => accounts.get(id) ?? null });
    await first.listen();
    await first.close();
    expect((await stat(hostKeyPath)).mode & 0o777).toBe(0o600);
    const printed = await run(SSH_KEYGEN, ['-l', '-f', hostKeyPath], work);
    expect(printed.stdout.split(' ')[1]).toBe(first.hostKeyFingerprint);
    const publicKey = (await run(SSH_KEYGEN, ['-y', '-f', hostKeyPath], work)).stdout.trim();
    const keyBytes = await readFile(hostKeyPath);

    const second = createCdrSftpServer({ host: '127.0.0.1', port: 0, hostKeyPath, root, lookup: async (id) => accounts.get(id) ?? null });
    try {
      const { port: secondPort } = await second.listen();
      expect(second.hostKeyFingerprint).toBe(first.hostKeyFingerprint);
      expect((await readFile(hostKeyPath)).equals(keyBytes)).toBe(true);
      const knownHosts = join(work, 'restart', 'known_hosts');
      await writeFile(knownHosts, `[127.0.0.1]:${secondPort} ${publicKey.split(' ').slice(0, 2).join(' ')}\n`);
      const pinned = await sftp(['pwd'], { port: secondPort, knownHosts });
      expect(pinned.code, pinned.stderr).toBe(0);
      // and a client that pinned another key refuses the server
      const otherKey = (await readFile(`${key('acct2')}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
      await writeFile(knownHosts, `[127.0.0.1]:${secondPort} ${otherKey}\n`);
      const mismatch = await sftp(['pwd'], { port: secondPort, knownHosts });
      expect(mismatch.code).not.toBe(0);
      expect(mismatch.stderr).toMatch(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    } finally {
      await second.close();
    }
    await chmod(hostKeyPath, 0o600);
  });

  it('changed nothing on disk in the whole run', async () => {
    expect(await snapshot(base)).toEqual(before);
  });
});
