import { describe, expect, it } from 'vitest';
import { ConfigError } from './load.js';
import { resolveAdminClient } from './admin-client.js';

describe('resolveAdminClient: where the CLI finds the admin API', () => {
  it('flags first, then CALLGATE_ADMIN_URL / CALLGATE_ADMIN_TOKEN, then the listen address', () => {
    const env = { CALLGATE_ADMIN_URL: 'http://10.0.0.5:8088/', CALLGATE_ADMIN_TOKEN: 'env-token' };
    expect(resolveAdminClient({}, env)).toEqual({ url: 'http://10.0.0.5:8088', token: 'env-token' });
    expect(resolveAdminClient({ adminUrl: 'https://admin.example:9443', token: 'flag' }, env)).toEqual({ url: 'https://admin.example:9443', token: 'flag' });
    expect(resolveAdminClient({}, {})).toEqual({ url: 'http://127.0.0.1:8088', token: '' });
    expect(resolveAdminClient({}, { CALLGATE_ADMIN_LISTEN: '0.0.0.0:9000' }).url).toBe('http://127.0.0.1:9000');
    expect(resolveAdminClient({}, { CALLGATE_ADMIN_LISTEN: '[::]:9000' }).url).toBe('http://[::1]:9000');
  });

  it('refuses what is not an http(s) URL', () => {
    expect(() => resolveAdminClient({ adminUrl: 'redis://127.0.0.1:6379' }, {})).toThrow(ConfigError);
    expect(() => resolveAdminClient({}, { CALLGATE_ADMIN_URL: 'not a url' })).toThrow(/must be an http/);
  });
});
