/** What the command line is given from outside (tests pass their own), and what every command is handed. */
import type { Config } from '../config/index.js';
import type { ApiClient, Fetch } from './api-client.js';
import type { FieldOverrides } from './vocabulary.js';

/** The terminal `callgate top` draws on. */
export interface Terminal {
  columns: number;
  rows: number;
  write(text: string): void;
  /** Calls back with each key pressed; returns how to stop listening. Absent: no keyboard (q never comes). */
  onKey?(listener: (key: string) => void): () => void;
}

export interface CliDeps {
  /** The environment the admin URL and token are read from (src/config/admin-client.ts). Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** HTTP client; default the global fetch. */
  fetch?: Fetch;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Writes to stderr without a line end (progress redrawn in place with \r). */
  stderrRaw?: (text: string) => void;
  /** Whether stderr is a terminal: progress is shown only there. Default process.stderr.isTTY. */
  stderrIsTTY?: boolean;
  /** `callgate top` draws here when stdout is a terminal; default the process's own terminal. */
  terminal?: Terminal | null;
  /** Ends `callgate top`'s refresh loop (tests); default: until q, Ctrl-C or SIGTERM. */
  topSignal?: AbortSignal;
  /** All of standard input, as text (`cdrs access --password-stdin`); default the process's own stdin. */
  readStdin?: () => Promise<string>;
  /** Where files a command writes without a path go (`cdrs get`); default process.cwd(). */
  cwd?: string;
  /** Used by `serve` as is when given (tests); otherwise loadConfig() reads files and env once. */
  config?: Config;
  loadConfig?: () => Config;
  /** Loads the SIP server module for `serve`. */
  importServe?: () => Promise<unknown>;
}

/** What a command's action uses: where to print, and the admin API client for this command line. */
export interface CommandContext {
  deps: CliDeps;
  out: (text: string) => void;
  config: () => Config;
  /** The admin API, as --admin-url / --token / --timeout and the environment say. */
  api: () => ApiClient;
  /** Names the command's own arguments in error messages (see vocabulary.ts). */
  nameFields: (overrides: FieldOverrides) => void;
  /** Prints `value` as JSON (2-space indent) when --json was given, else `human()`'s text. */
  print: (json: boolean | undefined, value: unknown, human: () => string) => void;
}
