/** Exit codes: what they are, how `--help` lists them, and which failure gets which one message and code. */
import { CommanderError } from 'commander';
import {
  AccountExistsError,
  AccountNotFoundError,
  DeckNotFoundError,
  RateDeckInvalidError,
  ValidationError,
} from '../accounts/index.js';
import { ConfigError } from '../config/index.js';
import { InputFileError, RedisUnavailableError, ServeUnavailableError } from './errors.js';

/** Exit codes, also listed in `callgate --help`. */
export const EXIT = {
  ok: 0,
  /** Bad arguments, a refused request, an invalid rate deck or configuration. Nothing was changed. */
  invalid: 1,
  /** The account or rate deck does not exist. */
  notFound: 2,
  /** `account put --create` for an id that is taken. */
  exists: 3,
  /** Redis could not be reached, or an unexpected failure. */
  unavailable: 4,
} as const;

export const EXIT_HELP = `
Exit codes:
  0  done
  1  refused: bad arguments or values (nothing was changed)
  2  no such account or rate deck
  3  account put --create: the account already exists
  4  Redis unreachable, or an unexpected failure

Configuration: built-in defaults, then the optional config/default.json and config/<NODE_ENV>.json
(folder: CALLGATE_CONFIG_DIR), then CALLGATE_* variables
(CALLGATE_REDIS_URL, CALLGATE_REDIS_CLUSTER_NODES, CALLGATE_REDIS_KEY_PREFIX, ...).`;

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();

/** Exit code and message of a failure. */
export function describeFailure(err: unknown, argv: readonly string[]): { code: number; message: string } {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') {
      const path = ['callgate', ...argv.filter((a) => !a.startsWith('-'))].slice(0, 3).join(' ');
      return { code: EXIT.invalid, message: `a command is missing: see ${path} --help` };
    }
    return { code: err.exitCode === 0 ? EXIT.ok : EXIT.invalid, message: oneLine(err.message.replace(/^error: /, '')) };
  }
  if (err instanceof ValidationError) return { code: EXIT.invalid, message: `refused, nothing changed: ${err.problems.join('; ')}` };
  if (err instanceof RateDeckInvalidError) return { code: EXIT.invalid, message: `rate deck refused, nothing stored: ${oneLine(err.message)}` };
  if (err instanceof ConfigError) return { code: EXIT.invalid, message: `invalid configuration: ${err.problems.join('; ')}` };
  if (err instanceof InputFileError) return { code: EXIT.invalid, message: err.message };
  if (err instanceof AccountNotFoundError || err instanceof DeckNotFoundError) return { code: EXIT.notFound, message: err.message };
  if (err instanceof AccountExistsError) return { code: EXIT.exists, message: err.message };
  // `serve` that cannot start is a usage failure of this install, as for any command that cannot run
  if (err instanceof ServeUnavailableError) return { code: EXIT.invalid, message: oneLine(err.message) };
  if (err instanceof RedisUnavailableError) return { code: EXIT.unavailable, message: oneLine(err.message) };
  return { code: EXIT.unavailable, message: `unexpected failure: ${oneLine(err instanceof Error ? err.message : String(err))}` };
}
