import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isAccountFolderName,
  MAX_NAME_BYTES,
  MAX_PATH_BYTES,
  normaliseSftpPath,
  openAccountFile,
  readDirectoryNames,
  resolveAccountPath,
  SftpPathError,
  visibleEntryStats,
  type SftpPathProblem,
} from './paths.js';

async function problemOf(run: () => Promise<unknown>): Promise<SftpPathProblem> {
  try {
    await run();
  } catch (err) {
    if (err instanceof SftpPathError) return err.problem;
    throw err;
  }
  throw new Error('expected an SftpPathError');
}

describe('normaliseSftpPath', () => {
  it('makes every path absolute from "/", with POSIX rules', () => {
    const cases: [string, string][] = [
      ['', '/'],
      ['.', '/'],
      ['/', '/'],
      ['//', '/'],
      ['2026', '/2026'],
      ['./2026/./12/', '/2026/12'],
      ['/2026//12///a.csv', '/2026/12/a.csv'],
      ['2026/12/../11/b.csv', '/2026/11/b.csv'],
      ['a\\b', '/a\\b'],
      ['...', '/...'],
    ];
    for (const [input, expected] of cases) expect(normaliseSftpPath(input), input).toBe(expected);
  });

  it('never climbs above "/"', () => {
    for (const input of ['..', '../..', '/..', '/../../../etc/passwd', '2026/../../../acct2', '../acct2/x.csv', '/a/b/../../../../c']) {
      expect(normaliseSftpPath(input), input).not.toContain('..');
    }
    expect(normaliseSftpPath('/../../../etc/passwd')).toBe('/etc/passwd');
    expect(normaliseSftpPath('../acct2/x.csv')).toBe('/acct2/x.csv');
  });

  it('refuses NUL bytes, paths over 1024 bytes and names over 255', () => {
    const invalid = (path: string) => {
      try {
        normaliseSftpPath(path);
      } catch (err) {
        return err instanceof SftpPathError && err.problem === 'invalid_path';
      }
      return false;
    };
    expect(invalid('a.csv\u0000.txt')).toBe(true);
    expect(invalid(`/${'a'.repeat(MAX_PATH_BYTES)}`)).toBe(true);
    expect(invalid(`/${'a/'.repeat(511)}b`)).toBe(false); // 1024 bytes exactly
    expect(invalid(`/${'a/'.repeat(511)}bc`)).toBe(true);
    expect(invalid('é'.repeat(513))).toBe(true); // 1026 bytes in UTF-8
    expect(invalid(`/${'n'.repeat(MAX_NAME_BYTES)}`)).toBe(false);
    expect(invalid(`/${'n'.repeat(MAX_NAME_BYTES + 1)}`)).toBe(true);
    expect(invalid(`/${'n'.repeat(MAX_NAME_BYTES + 1)}/..`)).toBe(true);
    expect(invalid(null as unknown as string)).toBe(true);
  });
});

describe('isAccountFolderName', () => {
  it('takes ids of the id pattern, never "." or ".."', () => {
    for (const id of ['acct1', 'a.b-c_d', 'A'.repeat(64), '.hidden']) expect(isAccountFolderName(id), id).toBe(true);
    for (const id of ['', '.', '..', '...', 'a/b', 'a b', 'A'.repeat(65), '../x']) expect(isAccountFolderName(id), id).toBe(false);
  });
});

describe('resolving into the account folder', () => {
  let base = '';
  let root = '';

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'callgate-sftp-paths-'));
    root = join(base, 'root');
    await mkdir(join(root, 'acct1', '2026', '12'), { recursive: true });
    await mkdir(join(root, 'acct2'), { recursive: true });
    await writeFile(join(root, 'acct1', '2026', '12', 'acct1_20261203.csv'), 'a,b\n1,2\n');
    await writeFile(join(root, 'acct2', 'acct2_20261203.csv'), 'secret\n');
    await writeFile(join(base, 'outside.txt'), 'outside\n');
    await symlink(join(root, 'acct2', 'acct2_20261203.csv'), join(root, 'acct1', 'other.csv'));
    await symlink('/etc/passwd', join(root, 'acct1', 'passwd'));
    await symlink(join(root, 'acct2'), join(root, 'acct1', 'acct2dir'));
    await symlink('2026', join(root, 'acct1', 'inside-link'));
    await symlink(join(root, 'acct2'), join(root, 'linked'));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('finds files and directories of the account', async () => {
    const dir = await resolveAccountPath(root, 'acct1', '2026/12');
    expect(dir.path).toBe('/2026/12');
    expect(dir.stats?.isDirectory()).toBe(true);
    const file = await resolveAccountPath(root, 'acct1', '/2026/12/acct1_20261203.csv');
    expect(file.hostPath).toBe(join(root, 'acct1', '2026', '12', 'acct1_20261203.csv'));
    const { file: handle, stats } = await openAccountFile(file);
    try {
      expect(stats.size).toBe(8);
      expect((await handle.readFile()).toString()).toBe('a,b\n1,2\n');
    } finally {
      await handle.close();
    }
  });

  it('keeps ".." inside the account: the other account and the host are not reachable', async () => {
    expect(await problemOf(() => resolveAccountPath(root, 'acct1', '../acct2/acct2_20261203.csv'))).toBe('no_such_file');
    expect(await problemOf(() => resolveAccountPath(root, 'acct1', '/../../outside.txt'))).toBe('no_such_file');
    expect(await problemOf(() => resolveAccountPath(root, 'acct1', '/etc/passwd'))).toBe('no_such_file');
    expect((await resolveAccountPath(root, 'acct1', '/../..')).hostPath).toBe(join(root, 'acct1'));
  });

  it('refuses every symlink, wherever it points, also inside the account', async () => {
    for (const path of ['other.csv', 'passwd', 'acct2dir', 'acct2dir/acct2_20261203.csv', 'inside-link', 'inside-link/12']) {
      expect(await problemOf(() => resolveAccountPath(root, 'acct1', path)), path).toBe('permission_denied');
    }
  });

  it('refuses an account folder that is itself a symlink', async () => {
    expect(await problemOf(() => resolveAccountPath(root, 'linked', '/'))).toBe('permission_denied');
    expect(await problemOf(() => resolveAccountPath(root, 'linked', 'acct2_20261203.csv'))).toBe('permission_denied');
  });

  it('shows a missing account folder, or a missing root, as an empty "/"', async () => {
    const missing = await resolveAccountPath(root, 'acct9', '/');
    expect(missing).toEqual({ path: '/', hostPath: null, stats: null });
    expect(await readDirectoryNames(missing)).toEqual([]);
    expect(await problemOf(() => resolveAccountPath(root, 'acct9', '/2026'))).toBe('no_such_file');
    expect((await resolveAccountPath(join(base, 'no-root'), 'acct1', '.')).hostPath).toBeNull();
  });

  it('refuses ids that are not account folders', async () => {
    expect(await problemOf(() => resolveAccountPath(root, '..', '/'))).toBe('permission_denied');
    expect(await problemOf(() => resolveAccountPath(root, 'a/b', '/'))).toBe('permission_denied');
  });

  it('lists names, and shows only regular files and directories', async () => {
    const top = await resolveAccountPath(root, 'acct1', '/');
    const names = await readDirectoryNames(top);
    expect(names).toEqual(['2026', 'acct2dir', 'inside-link', 'other.csv', 'passwd']);
    const visible = [];
    for (const name of names) if (await visibleEntryStats(top, name)) visible.push(name);
    expect(visible).toEqual(['2026']);
    expect(await visibleEntryStats(top, '../acct2')).toBeNull();
  });

  it('does not open a directory as a file, nor list a file as a directory', async () => {
    expect(await problemOf(async () => openAccountFile(await resolveAccountPath(root, 'acct1', '/2026')))).toBe('not_a_file');
    expect(await problemOf(async () => readDirectoryNames(await resolveAccountPath(root, 'acct1', '/2026/12/acct1_20261203.csv')))).toBe('not_a_file');
    expect(await problemOf(() => resolveAccountPath(root, 'acct1', '/2026/12/acct1_20261203.csv/x'))).toBe('no_such_file');
  });

  it('refuses to open a file swapped after the walk: for a symlink, or for another file', async () => {
    const path = join(root, 'acct1', 'swap.csv');
    await writeFile(path, 'first\n');
    // made while the first exists, so that it cannot reuse its inode number
    await writeFile(join(root, 'acct1', 'other-file.csv'), 'second\n');
    const walked = await resolveAccountPath(root, 'acct1', '/swap.csv');
    await rm(path);
    await symlink('/etc/passwd', path);
    expect(await problemOf(() => openAccountFile(walked))).toBe('permission_denied');
    await rm(path);
    await rename(join(root, 'acct1', 'other-file.csv'), path);
    expect(await problemOf(() => openAccountFile(walked))).toBe('permission_denied');
    await rm(path);
  });

  it('refuses invalid paths before touching the disk', async () => {
    expect(await problemOf(() => resolveAccountPath(root, 'acct1', 'a\u0000b'))).toBe('invalid_path');
    expect(await problemOf(() => resolveAccountPath(root, 'acct1', 'x'.repeat(300)))).toBe('invalid_path');
  });
});
