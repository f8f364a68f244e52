/**
 * The chroot of one SFTP login: the paths a client names, absolute or relative to "/", map into the
 * account's folder `<root>/<accountId>` and nowhere else.
 *
 * A path is first normalised by itself, with POSIX rules and without the disk: `.` and empty segments
 * drop, `..` drops the segment before it and never climbs above "/", NUL bytes are refused, and so are
 * paths over 1024 bytes and segments over 255. The result is then walked on disk from the account folder,
 * one lstat per segment: a symlink anywhere on the way is refused outright (permission denied), wherever it
 * points, and a final realpath must give back the very path walked. Only regular files and directories
 * are visible; anything else reads as missing. Files are opened O_RDONLY|O_NOFOLLOW and checked again
 * (fstat: the same regular file that was walked), so a symlink or other file swapped in after the walk is
 * refused too.
 *
 * The errors say which SFTP status to answer and carry a message fit for the client: never a host path.
 */
import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, realpath, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ID_PATTERN } from '../../config/schema.js';

export const MAX_PATH_BYTES = 1024;
export const MAX_NAME_BYTES = 255;

export type SftpPathProblem = 'no_such_file' | 'permission_denied' | 'invalid_path' | 'not_a_file';

/** A path the client may not have: `problem` picks the SFTP status, the message is safe to send. */
export class SftpPathError extends Error {
  override readonly name = 'SftpPathError';
  constructor(
    readonly problem: SftpPathProblem,
    message: string,
  ) {
    super(message);
  }
}

const noSuchFile = () => new SftpPathError('no_such_file', 'No such file');
const permissionDenied = () => new SftpPathError('permission_denied', 'Permission denied');

/** The normalised SFTP path ("/", "/2026/12/a.csv") of what the client sent; throws SftpPathError('invalid_path'). */
export function normaliseSftpPath(path: string): string {
  if (typeof path !== 'string') throw new SftpPathError('invalid_path', 'Invalid path');
  if (path.includes('\u0000')) throw new SftpPathError('invalid_path', 'Invalid path: NUL byte');
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) throw new SftpPathError('invalid_path', `Path too long (over ${MAX_PATH_BYTES} bytes)`);
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      segments.pop();
      continue;
    }
    if (Buffer.byteLength(segment, 'utf8') > MAX_NAME_BYTES) throw new SftpPathError('invalid_path', `Name too long (over ${MAX_NAME_BYTES} bytes)`);
    segments.push(segment);
  }
  return `/${segments.join('/')}`;
}

/** Whether `accountId` may name a folder under the root: the id pattern, and not `.` or `..` (which it allows). */
export function isAccountFolderName(accountId: string): boolean {
  return typeof accountId === 'string' && ID_PATTERN.test(accountId) && !/^\.+$/.test(accountId);
}

export interface AccountEntry {
  /** The normalised SFTP path. */
  path: string;
  /** Where it is on disk; null for "/" of an account whose folder does not exist (yet): an empty directory. */
  hostPath: string | null;
  /** lstat of hostPath: a regular file or a directory; null with hostPath. */
  stats: Stats | null;
}

const isMissing = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG';
};
const isDenied = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EACCES' || code === 'EPERM' || code === 'ELOOP';
};

/** lstat, or null when the path does not exist; a permission error becomes SftpPathError. */
async function lstatOrNull(hostPath: string): Promise<Stats | null> {
  try {
    return await lstat(hostPath);
  } catch (err) {
    if (isMissing(err)) return null;
    if (isDenied(err)) throw permissionDenied();
    throw err;
  }
}

/**
 * Finds what `sftpPath` names inside the account's folder under `root`, walking it segment by segment.
 * Throws SftpPathError: no_such_file when it is missing or is neither a regular file nor a directory,
 * permission_denied when a symlink is on the way, invalid_path for what normaliseSftpPath refuses.
 */
export async function resolveAccountPath(root: string, accountId: string, sftpPath: string): Promise<AccountEntry> {
  const path = normaliseSftpPath(sftpPath);
  if (!isAccountFolderName(accountId)) throw permissionDenied();
  const emptyRoot = (): AccountEntry => {
    if (path === '/') return { path, hostPath: null, stats: null };
    throw noSuchFile();
  };
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch (err) {
    if (isMissing(err)) return emptyRoot();
    throw err;
  }
  let hostPath = join(realRoot, accountId);
  let stats = await lstatOrNull(hostPath);
  if (stats === null) return emptyRoot();
  if (stats.isSymbolicLink()) throw permissionDenied();
  if (!stats.isDirectory()) return emptyRoot();
  for (const segment of path.split('/').filter(Boolean)) {
    if (!stats.isDirectory()) throw noSuchFile();
    hostPath = join(hostPath, segment);
    stats = await lstatOrNull(hostPath);
    if (stats === null) throw noSuchFile();
    if (stats.isSymbolicLink()) throw permissionDenied();
  }
  if (!stats.isFile() && !stats.isDirectory()) throw noSuchFile();
  // every segment was lstat'ed as no symlink; a different realpath means the tree changed under the walk
  let real: string;
  try {
    real = await realpath(hostPath);
  } catch (err) {
    if (isMissing(err)) throw noSuchFile();
    throw err;
  }
  if (real !== hostPath) throw permissionDenied();
  return { path, hostPath, stats };
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Opens a file resolveAccountPath found, read-only and without following a symlink, and checks that what
 * was opened is the regular file that was walked. Throws SftpPathError('not_a_file') for a directory.
 */
export async function openAccountFile(entry: AccountEntry): Promise<{ file: FileHandle; stats: Stats }> {
  if (entry.hostPath === null || entry.stats === null || entry.stats.isDirectory()) throw new SftpPathError('not_a_file', 'Not a regular file');
  let file: FileHandle;
  try {
    file = await open(entry.hostPath, OPEN_FLAGS);
  } catch (err) {
    if (isMissing(err)) throw noSuchFile();
    if (isDenied(err)) throw permissionDenied();
    throw err;
  }
  try {
    const stats = await file.stat();
    if (!stats.isFile() || stats.ino !== entry.stats.ino || stats.dev !== entry.stats.dev) throw permissionDenied();
    return { file, stats };
  } catch (err) {
    await file.close().catch(() => undefined);
    throw err;
  }
}

/** The names in a directory resolveAccountPath found, sorted; none for the empty "/" of a missing account folder. */
export async function readDirectoryNames(entry: AccountEntry): Promise<string[]> {
  if (entry.hostPath === null) return [];
  if (entry.stats === null || !entry.stats.isDirectory()) throw new SftpPathError('not_a_file', 'Not a directory');
  try {
    return (await readdir(entry.hostPath)).sort();
  } catch (err) {
    if (isMissing(err)) throw noSuchFile();
    if (isDenied(err)) throw permissionDenied();
    throw err;
  }
}

/** lstat of one name in a listed directory when it is a regular file or a directory; null for symlinks, other kinds, and names gone since. */
export async function visibleEntryStats(entry: AccountEntry, name: string): Promise<Stats | null> {
  if (entry.hostPath === null || name.includes('/') || name === '.' || name === '..') return null;
  try {
    const stats = await lstat(join(entry.hostPath, name));
    return stats.isFile() || stats.isDirectory() ? stats : null;
  } catch {
    return null;
  }
}
