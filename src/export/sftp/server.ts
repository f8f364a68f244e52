/**
 * The read-only SFTP server customers download their daily CDR files from. The SSH username is the
 * account id, and a login sees only the account's folder `<root>/<accountId>` as "/" (paths.ts).
 *
 * Logins: a password (checked against the account's scrypt hash) or a public key (the offered key must be
 * one of the account's authorized keys, and its signature must verify). An unknown account and a wrong
 * password or key are answered alike, after the same scrypt work. Failures are counted per remote address
 * (lockout.ts): each rejection is held back longer, and an address that fails too often is locked out,
 * refused without its credentials being looked at. A client's unauthorized keys count once per
 * connection, as a client offers each of its keys in turn; a wrong password or a bad signature counts each
 * time.
 *
 * Only the "sftp" subsystem is served: shells, commands, ptys, forwarding and other subsystems are refused
 * (ssh2 refuses every request that has no listener). Of SFTP only what reads is answered (REALPATH, STAT,
 * LSTAT, FSTAT, OPENDIR, READDIR, OPEN for reading, READ, CLOSE); everything that would change the disk,
 * READLINK and the extensions are refused with PERMISSION_DENIED. Attributes are those of a read-only
 * tree: uid and gid 0, the account id as owner in listings, modes 0644 and 0755 whatever they are on disk.
 *
 * The host key (ed25519, OpenSSH format) is generated at the first start, mode 0600, and kept.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { dirname } from 'node:path';
import ssh2, { type Attributes, type AuthContext, type Connection, type ParsedKey, type PublicKeyAuthContext, type SFTPWrapper } from 'ssh2';
import { keyFingerprint, keyMatches, parseAuthorizedKey, verifyCdrPassword } from './credentials.js';
import { LoginLockout, type LockoutOptions } from './lockout.js';
import { isAccountFolderName, normaliseSftpPath, openAccountFile, readDirectoryNames, resolveAccountPath, SftpPathError, visibleEntryStats, type AccountEntry } from './paths.js';

const { Server, utils } = ssh2;
const { OPEN_MODE, STATUS_CODE } = utils.sftp;

export interface SftpCredentials {
  /** hashCdrPassword's output, or null: no password login. */
  passwordHash: string | null;
  /** OpenSSH public key lines (parseAuthorizedKey's `line`). */
  authorizedKeys: readonly string[];
}

export type SftpLoginFailure = 'password' | 'publickey' | 'unknown_user' | 'locked_out' | 'method';

export interface SftpLogger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface CdrSftpServerOptions {
  host: string;
  /** 0: an ephemeral port (listen() says which). */
  port: number;
  /** The ed25519 host key in OpenSSH format: generated (mode 0600) when missing, reused when present. */
  hostKeyPath: string;
  /** An account's files are under join(root, accountId), which may not exist yet (an empty "/" then). */
  root: string;
  /** The credentials of an account (the SSH username); null: the account has no SFTP access. */
  lookup: (accountId: string) => Promise<SftpCredentials | null>;
  lockout?: Partial<LockoutOptions>;
  logger?: SftpLogger;
  onLoginFailure?: (reason: SftpLoginFailure) => void;
  /** An address was just locked out. */
  onLockout?: () => void;
  /** Bytes of file data sent (once per READ answered). */
  onDownload?: (bytes: number) => void;
  /** Most concurrent TCP connections; past it a new one is closed at once. Default 64. */
  maxSessions?: number;
  now?: () => number;
}

export interface CdrSftpServer {
  listen(): Promise<{ host: string; port: number }>;
  /** Stops listening and ends every connection. */
  close(): Promise<void>;
  /** `SHA256:...` of the host key, as `ssh-keygen -l` and the client's first-connection prompt show it. */
  hostKeyFingerprint: string;
}

const AUTH_METHODS: ('publickey' | 'password')[] = ['publickey', 'password'];
/** Time from the SSH banner to a successful login before the connection is dropped. */
const LOGIN_GRACE_MS = 60_000;
/** A connection that sends and receives nothing this long is dropped (this also covers a client that never sends its banner). */
const IDLE_TIMEOUT_MS = 10 * 60_000;
/** Login attempts (not counting "none") one connection may make. */
const MAX_AUTH_ATTEMPTS = 10;
const MAX_SFTP_CHANNELS = 4;
const MAX_OPEN_HANDLES = 64;
export const MAX_READ_BYTES = 256 * 1024;
const NAMES_PER_READDIR = 100;
const DEFAULT_MAX_SESSIONS = 64;

/** A valid scrypt hash of no password anyone can type: unknown accounts are verified against it, so they cost the same. */
const NO_PASSWORD_HASH = `scrypt$32768$8$1$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;

const silentLogger: SftpLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

// ------------------------------------------------------------------------------------------ host key

interface HostKey {
  privateKey: string;
  fingerprint: string;
}

const sshString = (value: Buffer | string): Buffer => {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length, 0);
  return Buffer.concat([length, bytes]);
};

/**
 * A new ed25519 private key in OpenSSH's own format (`openssh-key-v1`, unencrypted), written here from
 * node:crypto's raw key rather than by ssh2's generateKeyPairSync, which about one time in 256 writes a
 * malformed key (it strips leading zero bytes from the public key: mscdex/ssh2 #1390, #1513).
 */
export function generateEd25519HostKey(comment: string): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d ?? '', 'base64url');
  const publicKey = Buffer.from(jwk.x ?? '', 'base64url');
  if (seed.length !== 32 || publicKey.length !== 32) throw new Error('node:crypto gave an ed25519 key of an unexpected size');
  const publicBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(publicKey)]);
  const check = randomBytes(4);
  let secret = Buffer.concat([check, check, sshString('ssh-ed25519'), sshString(publicKey), sshString(Buffer.concat([seed, publicKey])), sshString(comment)]);
  // padded to the block size of cipher "none" (8) with 1, 2, 3, ...
  const padding = (8 - (secret.length % 8)) % 8;
  secret = Buffer.concat([secret, Buffer.from(Array.from({ length: padding }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    Buffer.from([0, 0, 0, 1]),
    sshString(publicBlob),
    sshString(secret),
  ]).toString('base64');
  const lines = body.match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** Reads the host key, or generates and keeps one when there is none yet. */
function loadOrCreateHostKey(path: string, log: SftpLogger): HostKey {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(path, generateEd25519HostKey('callgate CDR SFTP host key'), { mode: 0o600, flag: 'wx' });
      log.info({ path }, 'SFTP host key generated');
    } catch (writeErr) {
      // another process created it first: use that one
      if ((writeErr as NodeJS.ErrnoException).code !== 'EEXIST') throw writeErr;
    }
    text = readFileSync(path, 'utf8');
  }
  const key = utils.parseKey(text);
  if (key instanceof Error || !key.isPrivateKey() || key.type !== 'ssh-ed25519') {
    throw new Error(`the SFTP host key ${path} is not an unencrypted ed25519 private key in OpenSSH format`);
  }
  if ((statSync(path).mode & 0o077) !== 0) log.warn({ path }, 'SFTP host key is readable by other users: chmod 600 it');
  return { privateKey: text, fingerprint: keyFingerprint(key.getPublicSSH()) };
}

// -------------------------------------------------------------------------------------- SFTP session

type OpenHandle =
  | { kind: 'file'; file: FileHandle }
  | { kind: 'dir'; entry: AccountEntry; names: string[]; next: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/** The attributes shown for a file or directory: a read-only tree, no host uid or gid. */
function attrsOf(stats: Stats | null, nowMs: number): Attributes {
  if (stats === null) return { mode: S_IFDIR | 0o755, uid: 0, gid: 0, size: 0, atime: Math.floor(nowMs / 1000), mtime: Math.floor(nowMs / 1000) };
  const mode = stats.isDirectory() ? S_IFDIR | 0o755 : S_IFREG | 0o644;
  return { mode, uid: 0, gid: 0, size: stats.size, atime: Math.floor(stats.atimeMs / 1000), mtime: Math.floor(stats.mtimeMs / 1000) };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SIX_MONTHS_MS = 182 * 24 * 3600_000;

/** One `ls -l` line, as OpenSSH's sftp-server writes them (the date in UTC). */
export function longname(name: string, attrs: Attributes, owner: string, nowMs: number): string {
  const dir = (attrs.mode & S_IFDIR) === S_IFDIR && (attrs.mode & S_IFREG) !== S_IFREG;
  const bits = ['r', 'w', 'x'];
  let perms = dir ? 'd' : '-';
  for (let shift = 6; shift >= 0; shift -= 3) {
    for (let bit = 0; bit < 3; bit++) perms += attrs.mode & (1 << (shift + 2 - bit)) ? bits[bit] : '-';
  }
  const when = new Date(attrs.mtime * 1000);
  const day = String(when.getUTCDate()).padStart(2, ' ');
  const recent = Math.abs(nowMs - when.getTime()) < SIX_MONTHS_MS;
  const time = recent
    ? `${String(when.getUTCHours()).padStart(2, '0')}:${String(when.getUTCMinutes()).padStart(2, '0')}`
    : ` ${when.getUTCFullYear()}`;
  return `${perms}    1 ${owner.padEnd(8)} ${owner.padEnd(8)} ${String(attrs.size).padStart(8)} ${MONTHS[when.getUTCMonth()]} ${day} ${time} ${name}`;
}

interface SessionDeps {
  root: string;
  accountId: string;
  address: string;
  log: SftpLogger;
  now: () => number;
  onDownload: ((bytes: number) => void) | undefined;
}

/** Answers one SFTP channel of a logged-in account until it closes, then closes what it left open. */
function serveSftp(sftp: SFTPWrapper, deps: SessionDeps): void {
  const { root, accountId, log, now } = deps;
  const handles = new Map<number, OpenHandle>();
  let nextHandleId = 1;
  let closed = false;

  const handleBuffer = (id: number) => {
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(id, 0);
    return buf;
  };
  const handleOf = (buf: Buffer) => (buf.length === 4 ? handles.get(buf.readUInt32BE(0)) : undefined);
  const addHandle = (handle: OpenHandle): Buffer => {
    const id = nextHandleId;
    nextHandleId = nextHandleId >= 0xffff_ffff ? 1 : nextHandleId + 1;
    handles.set(id, handle);
    return handleBuffer(id);
  };

  /** Runs one request, turning what it throws into the status the client sees (never a host path). */
  const answer = (reqId: number, op: string, work: () => Promise<void>) => {
    work().catch((err: unknown) => {
      if (closed) return;
      if (err instanceof SftpPathError) {
        const code =
          err.problem === 'no_such_file' ? STATUS_CODE.NO_SUCH_FILE : err.problem === 'permission_denied' ? STATUS_CODE.PERMISSION_DENIED : STATUS_CODE.FAILURE;
        sftp.status(reqId, code, err.message);
        return;
      }
      log.error({ err, accountId, op }, 'SFTP request failed');
      sftp.status(reqId, STATUS_CODE.FAILURE, 'Failure');
    });
  };
  const refuse = (op: string) => (reqId: number) => {
    log.info({ accountId, address: deps.address, op }, 'SFTP write refused (read-only)');
    sftp.status(reqId, STATUS_CODE.PERMISSION_DENIED, 'Permission denied: read-only');
  };
  const tooManyHandles = (reqId: number) => {
    if (handles.size < MAX_OPEN_HANDLES) return false;
    sftp.status(reqId, STATUS_CODE.FAILURE, `Too many open handles (at most ${MAX_OPEN_HANDLES})`);
    return true;
  };
  const invalidHandle = (reqId: number) => sftp.status(reqId, STATUS_CODE.FAILURE, 'Invalid handle');

  sftp.on('REALPATH', (reqId, path) =>
    answer(reqId, 'REALPATH', async () => {
      // lexical, like the chroot itself: whether it exists is for STAT to say
      const normalised = normaliseSftpPath(path);
      // a NAME reply's attributes may be empty (flags 0), as OpenSSH's own server sends them
      sftp.name(reqId, [{ filename: normalised, longname: normalised, attrs: {} as Attributes }]);
    }),
  );
  const statPath = (op: string) => (reqId: number, path: string) =>
    answer(reqId, op, async () => {
      const entry = await resolveAccountPath(root, accountId, path);
      sftp.attrs(reqId, attrsOf(entry.stats, now()));
    });
  // no symlink is ever visible, so STAT and LSTAT are the same
  sftp.on('STAT', statPath('STAT'));
  sftp.on('LSTAT', statPath('LSTAT'));
  sftp.on('FSTAT', (reqId, buf) =>
    answer(reqId, 'FSTAT', async () => {
      const handle = handleOf(buf);
      if (!handle) return invalidHandle(reqId);
      const stats = handle.kind === 'file' ? await handle.file.stat() : handle.entry.stats;
      sftp.attrs(reqId, attrsOf(stats, now()));
    }),
  );
  sftp.on('OPENDIR', (reqId, path) =>
    answer(reqId, 'OPENDIR', async () => {
      if (tooManyHandles(reqId)) return;
      const entry = await resolveAccountPath(root, accountId, path);
      const names = await readDirectoryNames(entry);
      if (closed) return;
      if (tooManyHandles(reqId)) return;
      sftp.handle(reqId, addHandle({ kind: 'dir', entry, names, next: 0 }));
    }),
  );
  sftp.on('READDIR', (reqId, buf) =>
    answer(reqId, 'READDIR', async () => {
      const handle = handleOf(buf);
      if (!handle || handle.kind !== 'dir') return invalidHandle(reqId);
      const list: { filename: string; longname: string; attrs: Attributes }[] = [];
      while (list.length === 0 && handle.next < handle.names.length) {
        const batch = handle.names.slice(handle.next, handle.next + NAMES_PER_READDIR);
        handle.next += batch.length;
        const stats = await Promise.all(batch.map((name) => visibleEntryStats(handle.entry, name)));
        const nowMs = now();
        batch.forEach((name, i) => {
          const entryStats = stats[i];
          if (!entryStats) return;
          const attrs = attrsOf(entryStats, nowMs);
          list.push({ filename: name, longname: longname(name, attrs, accountId, nowMs), attrs });
        });
      }
      if (closed) return;
      if (list.length === 0) sftp.status(reqId, STATUS_CODE.EOF);
      else sftp.name(reqId, list);
    }),
  );
  sftp.on('OPEN', (reqId, path, flags) =>
    answer(reqId, 'OPEN', async () => {
      if ((flags & OPEN_MODE.READ) === 0 || (flags & ~OPEN_MODE.READ) !== 0) return refuse('OPEN for writing')(reqId);
      if (tooManyHandles(reqId)) return;
      const entry = await resolveAccountPath(root, accountId, path);
      const { file } = await openAccountFile(entry);
      if (closed || tooManyHandles(reqId)) {
        await file.close();
        return;
      }
      sftp.handle(reqId, addHandle({ kind: 'file', file }));
    }),
  );
  sftp.on('READ', (reqId, buf, offset, length) =>
    answer(reqId, 'READ', async () => {
      const handle = handleOf(buf);
      if (!handle || handle.kind !== 'file') return invalidHandle(reqId);
      if (!Number.isSafeInteger(offset) || offset < 0) return sftp.status(reqId, STATUS_CODE.FAILURE, 'Invalid offset');
      const data = Buffer.alloc(Math.max(0, Math.min(length, MAX_READ_BYTES)));
      const { bytesRead } = data.length === 0 ? { bytesRead: 0 } : await handle.file.read(data, 0, data.length, offset);
      if (closed) return;
      if (bytesRead === 0) return sftp.status(reqId, STATUS_CODE.EOF);
      sftp.data(reqId, data.subarray(0, bytesRead));
      deps.onDownload?.(bytesRead);
    }),
  );
  sftp.on('CLOSE', (reqId, buf) =>
    answer(reqId, 'CLOSE', async () => {
      const handle = handleOf(buf);
      if (!handle) return invalidHandle(reqId);
      handles.delete(buf.readUInt32BE(0));
      if (handle.kind === 'file') await handle.file.close();
      if (!closed) sftp.status(reqId, STATUS_CODE.OK);
    }),
  );
  for (const op of ['WRITE', 'SETSTAT', 'FSETSTAT', 'REMOVE', 'RENAME', 'MKDIR', 'RMDIR', 'SYMLINK', 'READLINK', 'EXTENDED'] as const) {
    sftp.on(op, refuse(op));
  }

  const closeAll = () => {
    if (closed) return;
    closed = true;
    for (const handle of handles.values()) if (handle.kind === 'file') void handle.file.close().catch(() => undefined);
    handles.clear();
  };
  sftp.on('close', closeAll);
  // the client sent EOF (its sftp exited): close our side too, or OpenSSH's client waits for it forever
  sftp.on('end', () => {
    closeAll();
    sftp.end();
  });
  sftp.on('error', (err: Error) => {
    log.info({ err, accountId }, 'SFTP channel error');
    closeAll();
  });
}

// ------------------------------------------------------------------------------------------- server

interface ConnectionState {
  client: Connection;
  address: string;
  accountId: string | null;
  attempts: number;
  /** An unauthorized key was already counted as this connection's failure. */
  keyFailureCounted: boolean;
  sftpChannels: number;
}

export function createCdrSftpServer(options: CdrSftpServerOptions): CdrSftpServer {
  const log = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  const maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  const hostKey = loadOrCreateHostKey(options.hostKeyPath, log);
  const lockout = new LoginLockout({ now, ...options.lockout });
  const sockets = new Set<Socket>();
  const connections = new Set<Connection>();
  const timers = new Set<NodeJS.Timeout>();
  let closing = false;

  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  };

  /** Counts the failure (when it counts), reports it, and rejects after the address's back-off. */
  const refuseLogin = (ctx: AuthContext, state: ConnectionState, reason: SftpLoginFailure, counts: boolean) => {
    options.onLoginFailure?.(reason);
    if (counts) {
      const { lockedNow } = lockout.fail(state.address);
      if (lockedNow) {
        log.warn({ address: state.address }, 'SFTP login locked out');
        options.onLockout?.();
      }
    }
    log.info({ address: state.address, reason }, 'SFTP login refused');
    later(lockout.check(state.address).delayMs, () => ctx.reject(AUTH_METHODS));
  };

  const acceptLogin = (ctx: AuthContext, state: ConnectionState, accountId: string) => {
    lockout.succeed(state.address);
    state.accountId = accountId;
    log.info({ address: state.address, accountId, method: ctx.method }, 'SFTP login');
    ctx.accept();
  };

  /** The authorized key matching the offered one, parsed for verifying; lines that fail the key policy match nothing. */
  const authorizedKeyFor = (credentials: SftpCredentials | null, offered: PublicKeyAuthContext['key']): ParsedKey | undefined => {
    for (const line of credentials?.authorizedKeys ?? []) {
      if (!keyMatches(line, offered)) continue;
      try {
        const parsed = utils.parseKey(parseAuthorizedKey(line).line);
        if (!(parsed instanceof Error)) return parsed;
      } catch {
        // a stored line the policy refuses (a short RSA key, say) is not a way in
      }
    }
    return undefined;
  };

  const authenticate = async (ctx: AuthContext, state: ConnectionState): Promise<void> => {
    if (ctx.method === 'none') return ctx.reject(AUTH_METHODS);
    if (++state.attempts > MAX_AUTH_ATTEMPTS) {
      ctx.reject(AUTH_METHODS);
      return void state.client.end();
    }
    if (ctx.method !== 'password' && ctx.method !== 'publickey') return refuseLogin(ctx, state, 'method', false);
    const gate = lockout.check(state.address);
    if (!gate.allowed) return refuseLogin(ctx, state, 'locked_out', false);

    const accountId = ctx.username;
    let credentials: SftpCredentials | null = null;
    if (isAccountFolderName(accountId)) {
      try {
        credentials = await options.lookup(accountId);
      } catch (err) {
        log.error({ err, address: state.address }, 'SFTP credentials lookup failed');
        return ctx.reject(AUTH_METHODS);
      }
    }

    if (ctx.method === 'password') {
      const hash = credentials?.passwordHash ?? null;
      const valid = await verifyCdrPassword(ctx.password, hash ?? NO_PASSWORD_HASH);
      if (valid && hash !== null && credentials !== null) return acceptLogin(ctx, state, accountId);
      return refuseLogin(ctx, state, credentials ? 'password' : 'unknown_user', true);
    }

    const key = authorizedKeyFor(credentials, ctx.key);
    if (!key) {
      const counts = !state.keyFailureCounted;
      state.keyFailureCounted = true;
      return refuseLogin(ctx, state, credentials ? 'publickey' : 'unknown_user', counts);
    }
    // without a signature the client only asks whether the key would do: say yes, it signs next
    if (!ctx.signature || !ctx.blob) return ctx.accept();
    if (key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return refuseLogin(ctx, state, 'publickey', true);
    return acceptLogin(ctx, state, accountId);
  };

  const onConnection = (client: Connection, info: { ip: string }) => {
    if (closing) return void client.end();
    connections.add(client);
    const state: ConnectionState = { client, address: info.ip || 'unknown', accountId: null, attempts: 0, keyFailureCounted: false, sftpChannels: 0 };
    const grace = setTimeout(() => {
      log.info({ address: state.address }, 'SFTP login timed out');
      client.end();
    }, LOGIN_GRACE_MS);
    client.on('error', (err: Error) => log.info({ err, address: state.address }, 'SFTP connection error'));
    client.on('close', () => {
      clearTimeout(grace);
      connections.delete(client);
    });
    client.on('authentication', (ctx) => {
      authenticate(ctx, state).catch((err: unknown) => {
        log.error({ err, address: state.address }, 'SFTP login failed');
        ctx.reject(AUTH_METHODS);
      });
    });
    client.on('ready', () => {
      clearTimeout(grace);
      const accountId = state.accountId;
      if (accountId === null) return void client.end();
      // only sessions, and in them only the sftp subsystem: no listener for exec, shell, pty, env, x11,
      // other subsystems or forwarding, so ssh2 refuses each of them
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('sftp', (acceptSftp, rejectSftp) => {
          if (state.sftpChannels >= MAX_SFTP_CHANNELS) return rejectSftp();
          state.sftpChannels++;
          const sftp = acceptSftp();
          sftp.on('close', () => state.sftpChannels--);
          serveSftp(sftp, { root: options.root, accountId, address: state.address, log, now, onDownload: options.onDownload });
        });
      });
    });
  };

  const ssh = new Server({ hostKeys: [hostKey.privateKey], ident: 'callgate' }, onConnection);
  ssh.on('error', (err: Error) => log.error({ err }, 'SFTP server error'));
  const tcp = createServer((socket) => {
    if (closing || sockets.size >= maxSessions) {
      if (!closing) log.warn({ address: socket.remoteAddress, maxSessions }, 'SFTP connection refused: too many sessions');
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    ssh.injectSocket(socket);
  });

  return {
    hostKeyFingerprint: hostKey.fingerprint,
    listen() {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        tcp.once('error', onError);
        tcp.listen(options.port, options.host, () => {
          tcp.off('error', onError);
          tcp.on('error', (err) => log.error({ err }, 'SFTP listener error'));
          const address = tcp.address() as AddressInfo;
          log.info({ host: address.address, port: address.port, hostKeyFingerprint: hostKey.fingerprint }, 'SFTP server listening');
          resolve({ host: address.address, port: address.port });
        });
      });
    },
    async close() {
      closing = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const closed = new Promise<void>((resolve) => {
        if (!tcp.listening) return resolve();
        tcp.close(() => resolve());
      });
      for (const client of connections) client.end();
      // give the disconnect messages a moment to leave, then drop what is still open
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 500).unref())]);
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
