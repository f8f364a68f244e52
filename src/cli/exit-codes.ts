/**
 * Exit codes: what they are, how `--help` lists them, and which failure gets which code and one message.
 * A refusal of the admin API is mapped by its stable error code (src/admin/errors.ts AdminErrorCode),
 * never by its message; a code this CLI does not know is a generic failure.
 */
import { CommanderError } from 'commander';
import type { AdminErrorCode } from '../admin/errors.js';
import { ConfigError } from '../config/index.js';
import { AdminUnreachableError, ApiError, DownloadCorruptError, InputFileError, OutputFileError, ServeUnavailableError, UsageError } from './errors.js';
import { inCliWords, type FieldOverrides } from './vocabulary.js';

/** Exit codes, also listed in `callgate --help`. */
export const EXIT = {
  ok: 0,
  /** Bad arguments, a refused request, an invalid rate deck or configuration. Nothing was changed. */
  invalid: 1,
  /** The account, rate deck or CDR file does not exist. */
  notFound: 2,
  /** `account create` (or `put --create`) for an id that is taken. */
  exists: 3,
  /**
   * The admin API could not be reached, Redis behind it was unavailable, a CDR file is not on the API's host or
   * arrived corrupt, or an unexpected failure.
   */
  unavailable: 4,
  /** A conflict with what is stored: a payment id already applied for another amount. Nothing changed. */
  conflict: 5,
  /** The admin API refused the token (CALLGATE_ADMIN_TOKEN / --token). */
  unauthorized: 6,
} as const;

export const EXIT_HELP = `
Exit codes:
  0  done (a payment already applied with the same id and amount is done: nothing changed)
  1  refused: bad arguments or values (nothing was changed)
  2  no such account, rate deck or CDR file
  3  account create / put --create: the account already exists
  4  the admin API is unreachable, Redis behind it is unavailable, a CDR file is kept on another host
     or arrived corrupt (nothing was kept), or an unexpected failure
  5  conflict: the payment id was applied before for another amount (nothing was changed)
  6  the admin API refused the token

The admin API: --admin-url or CALLGATE_ADMIN_URL (default http://<CALLGATE_ADMIN_LISTEN>, 127.0.0.1:8088),
token: CALLGATE_ADMIN_TOKEN (or --token, which other users of the host can see in the process list).`;

/**
 * Which exit code each of the API's error codes gets. `satisfies` makes a new code in AdminErrorCode fail
 * the type check until it is given one here; at run time a code not listed is a generic failure.
 */
const API_EXIT: Readonly<Record<string, number>> = {
  invalid_request: EXIT.invalid,
  ratedeck_invalid: EXIT.invalid,
  payload_too_large: EXIT.invalid,
  unsupported_media_type: EXIT.invalid,
  not_found: EXIT.notFound,
  account_not_found: EXIT.notFound,
  deck_not_found: EXIT.notFound,
  cdr_file_not_found: EXIT.notFound,
  account_exists: EXIT.exists,
  payment_conflict: EXIT.conflict,
  unauthorized: EXIT.unauthorized,
  unavailable: EXIT.unavailable,
  not_ready: EXIT.unavailable,
  cdr_file_unavailable: EXIT.unavailable,
  internal: EXIT.unavailable,
} satisfies Record<AdminErrorCode, number>;

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();

function deckProblems(err: ApiError): string {
  const lines = err.problems.map((p) => {
    const { line, message } = (p ?? {}) as { line?: unknown; message?: unknown };
    return typeof line === 'number' && line > 0 ? `line ${line}: ${String(message)}` : String(message ?? p);
  });
  const more = err.problemCount !== undefined && err.problemCount > lines.length ? ` (and ${err.problemCount - lines.length} more)` : '';
  return `${lines.join('; ')}${more}`;
}

function apiFailure(err: ApiError, overrides: FieldOverrides): { code: number; message: string } {
  const code = API_EXIT[err.code];
  switch (err.code) {
    case 'invalid_request': {
      const problems = err.problems.length > 0 ? err.problems.map((p) => inCliWords(String(p), overrides)) : [err.message];
      return { code: EXIT.invalid, message: `refused, nothing changed: ${oneLine(problems.join('; '))}` };
    }
    case 'ratedeck_invalid':
      return { code: EXIT.invalid, message: `rate deck refused, nothing stored: ${oneLine(deckProblems(err))}` };
    case 'unauthorized':
      return { code: EXIT.unauthorized, message: 'the admin API refused the token: set CALLGATE_ADMIN_TOKEN (or --token) to admin.token' };
    case 'unavailable':
      return { code: EXIT.unavailable, message: `the admin API cannot reach Redis: ${oneLine(err.message)}` };
    case 'internal':
      return { code: EXIT.unavailable, message: 'the admin API failed unexpectedly (see its log)' };
  }
  if (code !== undefined) return { code, message: oneLine(err.message) };
  return { code: EXIT.unavailable, message: `the admin API refused the request (${err.status} ${err.code}): ${oneLine(err.message)}` };
}

/** Exit code and message of a failure. `overrides` names the command's own arguments (see vocabulary.ts). */
export function describeFailure(err: unknown, argv: readonly string[], overrides: FieldOverrides = {}): { code: number; message: string } {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') {
      const path = ['callgate', ...argv.filter((a) => !a.startsWith('-'))].slice(0, 3).join(' ');
      return { code: EXIT.invalid, message: `a command is missing: see ${path} --help` };
    }
    return { code: err.exitCode === 0 ? EXIT.ok : EXIT.invalid, message: oneLine(err.message.replace(/^error: /, '')) };
  }
  if (err instanceof ApiError) return apiFailure(err, overrides);
  if (err instanceof UsageError) return { code: EXIT.invalid, message: `refused, nothing sent: ${err.problems.join('; ')}` };
  if (err instanceof ConfigError) return { code: EXIT.invalid, message: `invalid configuration: ${err.problems.join('; ')}` };
  if (err instanceof InputFileError) return { code: EXIT.invalid, message: err.message };
  if (err instanceof OutputFileError) return { code: EXIT.invalid, message: oneLine(err.message) };
  if (err instanceof DownloadCorruptError) return { code: EXIT.unavailable, message: oneLine(err.message) };
  // `serve` that cannot start is a usage failure of this install, as for any command that cannot run
  if (err instanceof ServeUnavailableError) return { code: EXIT.invalid, message: oneLine(err.message) };
  if (err instanceof AdminUnreachableError) return { code: EXIT.unavailable, message: oneLine(err.message) };
  return { code: EXIT.unavailable, message: `unexpected failure: ${oneLine(err instanceof Error ? err.message : String(err))}` };
}
