import type { AccountService } from '../accounts/service.js';
import type { Directory } from '../admission/directory.js';
import type { CallRegistry } from '../calls/registry.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';

/** What the /v1 routes share: built once by createAdminServer. */
export interface RouteContext {
  config: Pick<Config, 'switchId' | 'cdrExport'>;
  accounts: AccountService;
  redis: Redis;
  keys: Keys;
  logger: Logger;
  /** This instance's live calls, for GET /v1/switches/<own switchId>/calls. */
  registry: Pick<CallRegistry, 'all'> | undefined;
  /** The catalog's account ids as this instance holds them; without it the catalog is scanned in Redis. */
  directory: Pick<Directory, 'accountIds'> | undefined;
  /** Runs one request's Redis work, failing with AdminUnavailableError when it outlasts the admin bound. */
  bounded<T>(work: () => Promise<T>): Promise<T>;
  /** Wall clock, epoch ms. */
  now(): number;
  /** Accounts read at once when a switch's calls are gathered from Redis. */
  scanConcurrency: number;
}

/** Every account id: as this instance's directory holds them, or (without one) scanned from the catalog. */
export async function catalogAccountIds(ctx: Pick<RouteContext, 'directory' | 'redis' | 'keys'>): Promise<string[]> {
  if (ctx.directory) return [...ctx.directory.accountIds()];
  const ids: string[] = [];
  let cursor = '0';
  do {
    const page = await ctx.redis.hScan(ctx.keys.catalog, cursor, { COUNT: 1000 });
    cursor = String(page.cursor);
    for (const e of page.entries) ids.push(String(e.field));
  } while (cursor !== '0');
  return ids;
}
