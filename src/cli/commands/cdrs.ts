/**
 * `callgate cdrs ...`: an account's customer CDR files (list, download) and the SFTP access its customer
 * downloads them with (password, public keys, refused attempts in or out), through the admin API.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { CdrAccessView } from '../../admin/cdr-routes.js';
import type { CdrFileRecord } from '../../export/file-record.js';
import { path } from '../api-client.js';
import type { CommandContext } from '../context.js';
import { AdminUnreachableError, ApiError, DownloadCorruptError, InputFileError, OutputFileError, UsageError } from '../errors.js';
import { keyValueTable, table } from '../format.js';

/** A day's file can be large and the link slow: the download may take longer than a plain request. */
const DOWNLOAD_TIMEOUT_MS = 300_000;
/** A public key file is one line, an authorized_keys file a few: anything larger is not one. */
const MAX_KEY_FILE_BYTES = 256 * 1024;

const jsonOption = (shape: string) => new Option('--json', `print JSON instead of text: ${shape}`);
const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
/** The names the account commands give their arguments, for the API's problems. */
const CDR_FIELDS = { id: '<account>' } as const;

/** The account's published days as a table, newest first. */
export function formatCdrFiles(accountId: string, days: readonly CdrFileRecord[]): string {
  if (days.length === 0) return `${accountId} has no published CDR files`;
  const rows = days.map((d) => [d.day, String(d.revision), String(d.rows), String(d.bytes), d.sha256, d.name]);
  const heading = `CDR files of ${accountId}: ${days.length} day${days.length === 1 ? '' : 's'}`;
  return `${heading}\n${table(
    [{ title: 'DAY' }, { title: 'REVISION', right: true }, { title: 'ROWS', right: true }, { title: 'BYTES', right: true }, { title: 'SHA256' }, { title: 'NAME' }],
    rows,
  )}`;
}

/** The access view as an engineer reads it; the password itself is never shown (the API does not have it). */
export function formatCdrAccess(v: CdrAccessView): string {
  const lines = [
    keyValueTable([
      ['account', v.accountId],
      ['password', v.hasPassword ? 'set (kept as an scrypt hash)' : 'none'],
      ['public keys', v.authorizedKeys.length === 0 ? 'none' : String(v.authorizedKeys.length)],
      ['refused attempts', v.includeRefused ? 'included in the files' : 'left out of the files'],
    ]),
  ];
  for (const k of v.authorizedKeys) lines.push(`  ${k.type}  ${k.fingerprint}${k.comment ? `  ${k.comment}` : ''}`);
  if (!v.hasPassword && v.authorizedKeys.length === 0) lines.push('the customer cannot log in to SFTP (no password, no key)');
  return lines.join('\n');
}

/** `yes` / `no` as the API's boolean. */
function yesNo(flag: string, value: string): boolean {
  if (value === 'yes') return true;
  if (value === 'no') return false;
  throw new UsageError([`${flag}: must be yes or no, got ${JSON.stringify(value.slice(0, 40))}`]);
}

/** Where each key came from, to name it in a problem: the file, and the line when the file holds several. */
interface KeyOrigin {
  file: string;
  line: number;
  ofFile: number;
}

/** The public key lines of each file (blank lines and `#` comments skipped), with where each came from. */
async function readKeyFiles(files: readonly string[]): Promise<{ keys: string[]; origins: KeyOrigin[] }> {
  const keys: string[] = [];
  const origins: KeyOrigin[] = [];
  const empty: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      const bytes = await readFile(file);
      if (bytes.length > MAX_KEY_FILE_BYTES) throw new InputFileError(`--key-file ${file}: larger than ${MAX_KEY_FILE_BYTES / 1024} KiB, not a public key file`);
      text = bytes.toString('utf8');
    } catch (err) {
      if (err instanceof InputFileError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new InputFileError(`--key-file: cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}`);
    }
    const found: { line: string; n: number }[] = [];
    text.split('\n').forEach((raw, i) => {
      const line = raw.replace(/\r$/, '').trim();
      if (line !== '' && !line.startsWith('#')) found.push({ line, n: i + 1 });
    });
    if (found.length === 0) empty.push(`--key-file ${file}: holds no public key line`);
    for (const f of found) {
      keys.push(f.line);
      origins.push({ file, line: f.n, ofFile: found.length });
    }
  }
  if (empty.length > 0) throw new UsageError(empty);
  return { keys, origins };
}

/** The API's `authorizedKeys[i]` problems said by the file (and line) the key came from. */
function problemsByKeyFile(err: unknown, origins: readonly KeyOrigin[]): unknown {
  if (!(err instanceof ApiError) || err.code !== 'invalid_request') return err;
  const named = (i: number) => {
    const o = origins[i];
    if (!o) return `--key-file #${i + 1}`;
    return o.ofFile > 1 ? `--key-file ${o.file} (line ${o.line})` : `--key-file ${o.file}`;
  };
  const problems = err.problems.map((p) =>
    String(p).replace(/authorizedKeys\[(\d+)\]/g, (_, i: string) => named(Number(i))),
  );
  return new ApiError(err.status, err.code, err.message, problems, err.problemCount);
}

/** A file name the API sent (content-disposition) that may be used as is: a plain name, no path. */
function attachmentName(disposition: string | null): string | null {
  const m = /filename="([^"]*)"/.exec(disposition ?? '');
  const name = m?.[1] ?? '';
  return /^[A-Za-z0-9_.-]{1,255}$/.test(name) && !/^\.+$/.test(name) ? name : null;
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

export function registerCdrCommands(program: Command, { api, print, deps, nameFields }: CommandContext): void {
  const cdrs = program
    .command('cdrs')
    .description("an account's customer daily CDR files (list, download) and its customer's SFTP access to them")
    .addHelpCommand(false);

  cdrs
    .command('list')
    .description('the published days of an account, newest first: revision, CDR rows, bytes and SHA-256 of each file')
    .argument('<account>', 'account id')
    .addOption(jsonOption('{"accountId", "days": [{"day", "name", "path", "revision", "rows", "bytes", "sha256", "publishedAt"}]}'))
    .action(async (id: string, o: { json?: boolean }) => {
      nameFields(CDR_FIELDS);
      const r = await api().request<{ accountId: string; days: CdrFileRecord[] }>({ method: 'GET', path: path`/v1/accounts/${id}/cdrs` });
      print(o.json, r, () => formatCdrFiles(r.accountId, r.days));
    });

  cdrs
    .command('get')
    .description(
      "download one day's file (gzip CSV) and check it against the SHA-256 the API sends; a file that does not match is " +
        "not kept (exit 4). Served by an admin API that shares the export role's cdrExport.dir; elsewhere exit 4 (cdr_file_unavailable)",
    )
    .argument('<account>', 'account id')
    .argument('<day>', 'the UTC day: YYYY-MM-DD or YYYYMMDD')
    .option('-o, --output <file>', 'where to write it (a directory: the file name inside it); default: the file name in the current directory')
    .option('--force', 'overwrite the file if it exists')
    .addOption(jsonOption('{"file", "name", "bytes", "sha256"}'))
    .action(async (id: string, day: string, o: { output?: string; force?: boolean; json?: boolean }) => {
      nameFields(CDR_FIELDS);
      const cwd = deps.cwd ?? process.cwd();
      let target: string | null = null;
      let intoDir = cwd;
      if (o.output !== undefined) {
        const given = resolve(cwd, o.output);
        if (existsSync(given) && statSync(given).isDirectory()) intoDir = given;
        else {
          target = given;
          intoDir = dirname(given);
          if (!o.force && existsSync(target)) throw new OutputFileError(`${o.output} exists: nothing downloaded (give --force to overwrite it)`);
        }
      }
      const result = await api().download(
        { method: 'GET', path: path`/v1/accounts/${id}/cdrs/${day}`, timeoutMs: DOWNLOAD_TIMEOUT_MS },
        'application/gzip',
        async ({ headers, chunks }) => {
          const expected = headers.get('x-checksum-sha256') ?? '';
          const name = attachmentName(headers.get('content-disposition'));
          if (!/^[0-9a-f]{64}$/.test(expected)) throw new DownloadCorruptError('the admin API sent the file without its SHA-256 (x-checksum-sha256): nothing written');
          if (target === null && name === null) throw new DownloadCorruptError('the admin API sent the file without a usable name: give -o FILE');
          const file = target ?? join(intoDir, name!);
          // said as the engineer gave it: -o as typed, else the name (in the current directory) or the path in -o DIR
          const shown = target !== null ? o.output! : intoDir === cwd ? basename(file) : file;
          if (!o.force && existsSync(file)) throw new OutputFileError(`${shown} exists: nothing written (give --force to overwrite it)`);
          const part = join(dirname(file), `.${basename(file)}.part-${randomBytes(4).toString('hex')}`);
          const hash = createHash('sha256');
          let bytes = 0;
          let handle;
          try {
            handle = await open(part, 'wx', 0o644);
          } catch (err) {
            throw new OutputFileError(`cannot write ${shown}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
          }
          try {
            for await (const chunk of chunks) {
              hash.update(chunk);
              bytes += chunk.length;
              await handle.write(chunk);
            }
            await handle.close();
            handle = undefined;
            const actual = hash.digest('hex');
            const length = headers.get('content-length');
            if (length !== null && Number(length) !== bytes) {
              throw new DownloadCorruptError(`${basename(file)}: received ${bytes} of ${length} bytes: the transfer was cut short, nothing kept; try again`);
            }
            if (actual !== expected) {
              throw new DownloadCorruptError(`${basename(file)}: the bytes received have SHA-256 ${actual}, the API sent ${expected}: corrupt in transfer, nothing kept; try again`);
            }
            await place(part, file, o.force === true, shown);
            return { file, shown, name: name ?? basename(file), bytes, sha256: actual };
          } catch (err) {
            await handle?.close().catch(() => {});
            await unlink(part).catch(() => {});
            if (err instanceof DownloadCorruptError || err instanceof OutputFileError || err instanceof AdminUnreachableError) throw err;
            throw new OutputFileError(`cannot write ${shown}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
          }
        },
      );
      const { shown, ...json } = result;
      print(o.json, json, () => `wrote ${shown}: ${result.bytes} bytes, SHA-256 ${result.sha256} (checked)`);
    });

  cdrs
    .command('access')
    .description(
      "show the account's SFTP access to its files, or set it: a password (read from stdin, kept only as an scrypt hash), " +
        'public keys (--key-file replaces the whole list), and whether refused attempts go into the files. The customer logs ' +
        'in as the account id. Checked as the API checks it: nothing changes on a problem',
    )
    .argument('<account>', 'account id')
    .option('--password-stdin', 'set the password to what stdin holds (12-256 printable characters; one trailing line break is dropped)')
    .option('--key-file <file>', 'an OpenSSH public key file (.pub; or several keys, one per line); repeatable; replaces the list', collect)
    .option('--include-refused <yes|no>', 'refused attempts in the customer files (yes, the default) or left out (no)')
    .addOption(jsonOption('{"accountId", "hasPassword", "authorizedKeys": [{"type", "fingerprint", "comment"}], "includeRefused"}'))
    .action(async (id: string, o: { passwordStdin?: boolean; keyFile?: string[]; includeRefused?: string; json?: boolean }) => {
      nameFields(CDR_FIELDS);
      if (!o.passwordStdin && o.keyFile === undefined && o.includeRefused === undefined) {
        const v = await api().request<CdrAccessView>({ method: 'GET', path: path`/v1/accounts/${id}/cdr-access` });
        print(o.json, v, () => formatCdrAccess(v));
        return;
      }
      const body: { password?: string; authorizedKeys?: string[]; includeRefused?: boolean } = {};
      if (o.includeRefused !== undefined) body.includeRefused = yesNo('--include-refused', o.includeRefused);
      let origins: KeyOrigin[] = [];
      if (o.keyFile !== undefined) {
        const read = await readKeyFiles(o.keyFile);
        body.authorizedKeys = read.keys;
        origins = read.origins;
      }
      if (o.passwordStdin) body.password = (await (deps.readStdin ?? readAllStdin)()).replace(/\r?\n$/, '');
      const v = await api()
        .request<CdrAccessView>({ method: 'PUT', path: path`/v1/accounts/${id}/cdr-access`, json: body })
        .catch((err: unknown) => {
          throw problemsByKeyFile(err, origins);
        });
      print(o.json, v, () => `updated the CDR access of ${id}\n${formatCdrAccess(v)}`);
    });

  cdrs
    .command('revoke')
    .description("remove the account's SFTP password and public keys: its customer can no longer log in (the refused-attempts setting stays)")
    .argument('<account>', 'account id')
    .addOption(jsonOption('the access after: {"accountId", "hasPassword", "authorizedKeys", "includeRefused"}'))
    .action(async (id: string, o: { json?: boolean }) => {
      nameFields(CDR_FIELDS);
      const v = await api().request<CdrAccessView>({ method: 'DELETE', path: path`/v1/accounts/${id}/cdr-access` });
      print(o.json, v, () => `revoked the CDR access of ${id}\n${formatCdrAccess(v)}`);
    });
}

/**
 * Moves the finished download into place: over an existing file only with --force; without it, a link that
 * fails when the name is taken, so a file that appeared meanwhile is not overwritten either.
 */
async function place(part: string, file: string, force: boolean, shown: string): Promise<void> {
  if (force) {
    await rename(part, file);
    return;
  }
  try {
    await link(part, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new OutputFileError(`${shown} exists: nothing written (give --force to overwrite it)`);
    // a file system without hard links: check, then rename
    if (existsSync(file)) throw new OutputFileError(`${shown} exists: nothing written (give --force to overwrite it)`);
    await rename(part, file);
    return;
  }
  await unlink(part);
}
