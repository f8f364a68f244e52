/**
 * An account's customer CDR files (src/export) as engineers reach them:
 *
 *   GET    /v1/accounts/:id/cdrs          the published days, newest first (from Redis: works on every instance)
 *   GET    /v1/accounts/:id/cdrs/:day     one day's gzip file, streamed from cdrExport.dir when this host has it
 *   GET    /v1/accounts/:id/cdr-access    whether a password is set, the authorized keys, refused attempts in or out
 *   PUT    /v1/accounts/:id/cdr-access    {password?, authorizedKeys?, includeRefused?}: set what is given
 *   DELETE /v1/accounts/:id/cdr-access    remove the password and the keys (the customer can no longer log in)
 *
 * A file's record comes from Redis, so its path is not trusted: it must name a plain file below the account's
 * own folder of the files root, and the file on disk must resolve there too (no `..`, no symlink out of it).
 * The password is never returned, nor kept but as its scrypt hash (src/export/sftp/credentials.ts).
 */
import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { AccountNotFoundError, ValidationError } from '../accounts/errors.js';
import { idProblem } from '../accounts/input-parsers.js';
import { DAY_FIELD, dayField, decodeFileRecord, type CdrFileRecord } from '../export/file-record.js';
import { CdrAccessInputError, checkCdrPassword, hashCdrPassword, parseAuthorizedKey } from '../export/sftp/credentials.js';
import { ScriptCode, UnexpectedScriptReplyError } from '../redis/codes.js';
import { loadLuaScript, runScript } from '../redis/script.js';
import type { RouteContext } from './context.js';
import { CdrFileNotFoundError, CdrFileUnavailableError } from './errors.js';

const ACCESS = loadLuaScript('cdr-access', 2);

/** Authorized keys an account may have at once. */
export const MAX_AUTHORIZED_KEYS = 20;

const text = { type: 'string' } as const;
const integer = { type: 'integer' } as const;
const idParam = { ...text, description: '[A-Za-z0-9_.-]{1,64}' } as const;
const params = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: idParam } } as const;
const noQuery = { type: 'object', additionalProperties: false, properties: {} } as const;

const fileRecord = {
  type: 'object',
  properties: {
    day: { ...text, description: 'the UTC day, YYYY-MM-DD' },
    name: text,
    path: { ...text, description: 'below the files root, also the SFTP path below the account folder: <account>/<YYYY>/<MM>/<name>' },
    revision: integer,
    rows: integer,
    bytes: integer,
    sha256: text,
    publishedAt: text,
  },
} as const;

const accessView = {
  type: 'object',
  properties: {
    accountId: text,
    hasPassword: { type: 'boolean' },
    authorizedKeys: {
      type: 'array',
      items: { type: 'object', properties: { type: text, fingerprint: text, comment: text } },
    },
    includeRefused: { type: 'boolean' },
  },
} as const;

export const cdrSchemas = {
  listFiles: {
    params,
    querystring: noQuery,
    response: { 200: { type: 'object', properties: { accountId: text, days: { type: 'array', items: fileRecord } } } },
  },
  getFile: {
    params: {
      type: 'object',
      required: ['id', 'day'],
      additionalProperties: false,
      properties: { id: idParam, day: { ...text, description: 'the UTC day: YYYY-MM-DD or YYYYMMDD' } },
    },
    querystring: noQuery,
    produces: ['application/gzip'],
    response: {
      200: {
        description: 'the gzip file; headers content-disposition (its name), content-length and x-checksum-sha256 (hex)',
        type: 'string',
        format: 'binary',
      },
    },
  },
  getAccess: { params, querystring: noQuery, response: { 200: accessView } },
  putAccess: {
    params,
    querystring: noQuery,
    body: {
      type: 'object',
      additionalProperties: false,
      description: 'at least one field; what is not given keeps its value',
      properties: {
        password: { ...text, description: '12-256 printable characters; kept only as an scrypt hash, never returned' },
        authorizedKeys: {
          type: 'array',
          items: text,
          description: `replaces the list: at most ${MAX_AUTHORIZED_KEYS} OpenSSH public key lines (ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa of 2048 bits or more); [] removes them`,
        },
        includeRefused: { type: 'boolean', description: 'refused attempts in the customer files (default true)' },
      },
    },
    response: { 200: accessView },
  },
  revokeAccess: { params, querystring: noQuery, response: { 200: accessView } },
} as const;

export interface AuthorizedKeyView {
  type: string;
  fingerprint: string;
  comment: string;
}

export interface CdrAccessView {
  accountId: string;
  hasPassword: boolean;
  authorizedKeys: AuthorizedKeyView[];
  includeRefused: boolean;
}

interface AccessBody {
  password?: string;
  authorizedKeys?: string[];
  includeRefused?: boolean;
}

/** A folder or file name below the files root: what ids and file names are made of, and never `.` or `..`. */
const SAFE_SEGMENT = /^[A-Za-z0-9_.-]{1,255}$/;
const isSafeSegment = (s: string) => SAFE_SEGMENT.test(s) && !/^\.+$/.test(s);
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Why a stored record may not be served for `accountId`'s day `field`, or null when it may: its path must be
 * relative, of plain names only (no `..`), start with the account's own folder and end with the record's
 * name; its checksum must be hex (it becomes a header).
 */
export function recordProblem(accountId: string, field: string, record: CdrFileRecord): string | null {
  if (record.day.replaceAll('-', '') !== field) return `its day ${JSON.stringify(record.day)} is not the day it is stored under`;
  if (!SHA256_HEX.test(record.sha256)) return 'its sha256 is not 64 hex digits';
  if (!isSafeSegment(record.name) || !record.name.endsWith('.csv.gz')) return 'its name is not a plain file name';
  const segments = record.path.split('/');
  if (isAbsolute(record.path) || !segments.every(isSafeSegment)) return 'its path is not a plain relative path (absolute, `..` or odd characters)';
  if (segments[0] !== accountId || segments.length < 2) return "its path is outside the account's folder";
  if (segments.at(-1) !== record.name) return 'its path does not end with its name';
  return null;
}

function dayProblem(day: string): string | undefined {
  return dayField(day) === null ? `day: must be a UTC day as YYYY-MM-DD or YYYYMMDD (got ${JSON.stringify(day.slice(0, 40))})` : undefined;
}

/** The stored key lines as the view shows them; a line that no longer parses is left out (and logged). */
function keysView(keysJson: string | null | undefined, onBad: (why: string) => void): AuthorizedKeyView[] {
  if (!keysJson) return [];
  let lines: unknown;
  try {
    lines = JSON.parse(keysJson);
  } catch {
    onBad('the stored key list is not JSON');
    return [];
  }
  if (!Array.isArray(lines)) {
    onBad('the stored key list is not a JSON array');
    return [];
  }
  const out: AuthorizedKeyView[] = [];
  for (const line of lines) {
    try {
      const key = parseAuthorizedKey(String(line));
      out.push({ type: key.type, fingerprint: key.fingerprint, comment: key.line.split(' ').slice(2).join(' ') });
    } catch {
      onBad('a stored key line is not an acceptable public key');
    }
  }
  return out;
}

const isMissing = (code: string | undefined) => code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG';

export function registerCdrRoutes(api: FastifyInstance, ctx: RouteContext): void {
  const { redis, keys, bounded, logger } = ctx;
  /** Where the export role publishes (src/export/day-store.ts): read when asked, the role may share it later. */
  const filesRoot = () => resolve(ctx.config.cdrExport.dir, 'files');

  const view = (accountId: string, hasPassword: boolean, keysJson: string | null | undefined, refused: string | null | undefined): CdrAccessView => ({
    accountId,
    hasPassword,
    authorizedKeys: keysView(keysJson, (why) => logger.warn({ accountId }, `cdr access: ${why}; left out of the view`)),
    includeRefused: refused !== '0',
  });

  api.get<{ Params: { id: string } }>('/accounts/:id/cdrs', { schema: cdrSchemas.listFiles }, async (request) => {
    const { id } = request.params;
    const bad = idProblem(id);
    if (bad) throw new ValidationError([bad]);
    const [exists, stored] = await bounded(() => Promise.all([redis.exists(keys.account(id)), redis.hGetAll(keys.cdrFiles(id))]));
    if (!exists) throw new AccountNotFoundError(id);
    const days: CdrFileRecord[] = [];
    for (const [field, value] of Object.entries(stored as Record<string, string>).sort(([a], [b]) => (a < b ? 1 : a > b ? -1 : 0))) {
      const record = DAY_FIELD.test(field) ? decodeFileRecord(value) : null;
      const why = record ? recordProblem(id, field, record) : 'it is not a file record';
      if (record && why === null) days.push(record);
      else logger.warn({ accountId: id, day: field.slice(0, 16) }, `cdr file record left out of the list: ${why}`);
    }
    return { accountId: id, days };
  });

  api.get<{ Params: { id: string; day: string } }>('/accounts/:id/cdrs/:day', { schema: cdrSchemas.getFile }, async (request, reply) => {
    const { id, day } = request.params;
    const problems = [idProblem(id), dayProblem(day)].filter((p): p is string => p !== undefined);
    if (problems.length > 0) throw new ValidationError(problems);
    const field = dayField(day)!;
    const shown = `${field.slice(0, 4)}-${field.slice(4, 6)}-${field.slice(6)}`;
    const [exists, stored] = await bounded(() => Promise.all([redis.exists(keys.account(id)), redis.hGet(keys.cdrFiles(id), field)]));
    if (!exists) throw new AccountNotFoundError(id);
    const record = decodeFileRecord(stored);
    if (!record) throw new CdrFileNotFoundError(`account ${JSON.stringify(id)} has no published CDR file for ${shown}`);
    const why = recordProblem(id, field, record);
    if (why !== null) {
      logger.warn({ accountId: id, day: field }, `cdr file record refused: ${why}`);
      throw new CdrFileNotFoundError(`the CDR file record of account ${JSON.stringify(id)} for ${shown} is not valid (${why}); nothing was read`);
    }

    const root = filesRoot();
    const unavailable = (detail: string) =>
      new CdrFileUnavailableError(
        `${record.name} is recorded (revision ${record.revision}, ${record.bytes} bytes) but ${detail}: the files are kept by the export ` +
          "role's host (cdrExport.dir), which this instance does not share; download it there, over SFTP, or mount cdrExport.dir here",
      );
    let handle: FileHandle | undefined;
    try {
      const realRoot = await realpath(root);
      const real = await realpath(join(root, record.path));
      // the record's path was checked; this catches a symlink on the way that leads out of the root
      if (!real.startsWith(realRoot + sep)) {
        logger.warn({ accountId: id, day: field }, 'cdr file resolves outside the files root: refused');
        throw new CdrFileUnavailableError(`${record.name} on this host resolves outside the files root; refused`);
      }
      handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
      const stat = await handle.stat();
      if (!stat.isFile()) throw unavailable('it is not a regular file on this host');
      if (stat.size !== record.bytes) throw unavailable(`the copy on this host has ${stat.size} bytes`);
      const stream = handle.createReadStream();
      handle = undefined; // the stream closes it once sent, or when the client goes away
      return reply
        .type('application/gzip')
        .header('content-disposition', `attachment; filename="${record.name}"`)
        .header('content-length', String(stat.size))
        .header('x-checksum-sha256', record.sha256)
        .send(stream);
    } catch (err) {
      await handle?.close().catch(() => {});
      if (err instanceof CdrFileUnavailableError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      logger.warn({ accountId: id, day: field, code }, 'cdr file not readable on this host');
      throw unavailable(isMissing(code) ? 'it is not on this host' : `it cannot be read on this host (${code ?? 'error'})`);
    }
  });

  api.get<{ Params: { id: string } }>('/accounts/:id/cdr-access', { schema: cdrSchemas.getAccess }, async (request) => {
    const { id } = request.params;
    const bad = idProblem(id);
    if (bad) throw new ValidationError([bad]);
    const [exists, [password, keyList, refused]] = await bounded(() =>
      Promise.all([redis.exists(keys.account(id)), redis.hmGet(keys.cdrAccess(id), ['password', 'keys', 'refused'])]),
    );
    if (!exists) throw new AccountNotFoundError(id);
    return view(id, Boolean(password), keyList, refused);
  });

  /** Runs cdr-access-2.lua; the view after the write. */
  async function writeAccess(id: string, args: [op: 'put' | 'revoke', passwordHash: string, keysJson: string, refused: string]): Promise<CdrAccessView> {
    const reply = await bounded(() => runScript(redis, ACCESS, [keys.account(id), keys.cdrAccess(id)], args));
    if (!Array.isArray(reply)) throw new UnexpectedScriptReplyError('cdr-access', reply);
    if (reply[0] === ScriptCode.UnknownAccount) throw new AccountNotFoundError(id);
    if (reply[0] !== ScriptCode.Ok) throw new UnexpectedScriptReplyError('cdr-access', reply);
    return view(id, reply[1] === 1, reply[2] as string | null, reply[3] as string | null);
  }

  api.put<{ Params: { id: string }; Body: AccessBody }>('/accounts/:id/cdr-access', { schema: cdrSchemas.putAccess }, async (request) => {
    const { id } = request.params;
    const { password, authorizedKeys, includeRefused } = request.body;
    const problems: string[] = [];
    const bad = idProblem(id);
    if (bad) problems.push(bad);
    if (password === undefined && authorizedKeys === undefined && includeRefused === undefined) {
      problems.push('nothing to change: give at least one of password, authorizedKeys, includeRefused');
    }
    const reason = (err: unknown) => {
      if (err instanceof CdrAccessInputError) return err.message;
      throw err;
    };
    if (password !== undefined) {
      try {
        checkCdrPassword(password);
      } catch (err) {
        problems.push(`password: ${reason(err)}`);
      }
    }
    const lines: string[] = [];
    if (authorizedKeys !== undefined) {
      if (authorizedKeys.length > MAX_AUTHORIZED_KEYS) {
        problems.push(`authorizedKeys: at most ${MAX_AUTHORIZED_KEYS} keys, got ${authorizedKeys.length}`);
      }
      const seen = new Map<string, number>();
      authorizedKeys.forEach((line, i) => {
        try {
          const key = parseAuthorizedKey(line);
          const first = seen.get(key.fingerprint);
          if (first !== undefined) problems.push(`authorizedKeys[${i}]: the same key as authorizedKeys[${first}] (${key.fingerprint})`);
          else seen.set(key.fingerprint, i);
          lines.push(key.line);
        } catch (err) {
          problems.push(`authorizedKeys[${i}]: ${reason(err)}`);
        }
      });
    }
    if (problems.length > 0) throw new ValidationError(problems);
    // scrypt costs tens of milliseconds: not for an account that does not exist (the script checks again)
    if (password !== undefined && !(await bounded(() => redis.exists(keys.account(id))))) throw new AccountNotFoundError(id);
    const passwordHash = password === undefined ? '' : await hashCdrPassword(password);
    return writeAccess(id, [
      'put',
      passwordHash,
      authorizedKeys === undefined ? '' : JSON.stringify(lines),
      includeRefused === undefined ? '' : includeRefused ? '1' : '0',
    ]);
  });

  api.delete<{ Params: { id: string } }>('/accounts/:id/cdr-access', { schema: cdrSchemas.revokeAccess }, async (request) => {
    const { id } = request.params;
    const bad = idProblem(id);
    if (bad) throw new ValidationError([bad]);
    return writeAccess(id, ['revoke', '', '', '']);
  });
}
