/** What the command line is given from outside (tests pass fakes), and what every command is handed. */
import type { AccountService } from '../accounts/index.js';
import type { Config } from '../config/index.js';
import type { RedisConnection } from '../redis/client.js';

export interface CliDeps {
  /** Used as is when given (tests); otherwise loadConfig() reads files and env once. */
  config?: Config;
  loadConfig?: () => Config;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  connect?: (config: Config) => Promise<RedisConnection>;
  /** Loads the SIP server module for `serve`. */
  importServe?: () => Promise<unknown>;
  /** How long to wait for Redis before giving up. */
  connectTimeoutMs?: number;
}

/** What a command's action uses: where to print, the configuration, and the account service for one operation. */
export interface CommandContext {
  deps: CliDeps;
  out: (text: string) => void;
  config: () => Config;
  withService: <T>(fn: (service: AccountService) => Promise<T>) => Promise<T>;
}
