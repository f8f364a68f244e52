/**
 * Where the CLI finds the admin API, and the token it sends: the command line's flags, then the environment
 * (CALLGATE_ADMIN_URL, CALLGATE_ADMIN_TOKEN), then the server's own listen address (CALLGATE_ADMIN_LISTEN,
 * default 127.0.0.1:8088), so that on the host callgate runs on the defaults just work. This is the CLI's
 * only configuration: it needs no Redis settings, and it never loads the server's config files.
 */
import { ConfigError } from './load.js';

export interface AdminClientSettings {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:8088. */
  url: string;
  /** Bearer token; empty when the API runs without one (loopback only). */
  token: string;
}

export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:8088';

export function resolveAdminClient(
  flags: { adminUrl?: string; token?: string },
  env: Readonly<Record<string, string | undefined>> = process.env,
): AdminClientSettings {
  const fromListen = () => {
    const listen = env.CALLGATE_ADMIN_LISTEN || DEFAULT_ADMIN_LISTEN;
    // the server listens on every address: the CLI on the same host reaches it on loopback
    const host = listen.replace(/:\d+$/, '');
    const port = listen.slice(host.length + 1);
    const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' || host === '[::]' ? '[::1]' : host;
    return `http://${reachable}:${port}`;
  };
  const given = flags.adminUrl ?? (env.CALLGATE_ADMIN_URL || undefined);
  const url = given ?? fromListen();
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError([`--admin-url / CALLGATE_ADMIN_URL: must be an http:// or https:// URL, got ${JSON.stringify(url.slice(0, 200))}`]);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError([`--admin-url / CALLGATE_ADMIN_URL: must be an http:// or https:// URL, got ${JSON.stringify(url.slice(0, 200))}`]);
  }
  return { url: parsed.href.replace(/\/+$/, ''), token: flags.token ?? env.CALLGATE_ADMIN_TOKEN ?? '' };
}
