import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, ENV_KEYS, isResolvedConfig, loadConfig, resolveConfig } from './index.js';

const emptyDir = () => mkdtempSync(join(tmpdir(), 'callgate-config-'));

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

function leaves(node: unknown, path: string[] = []): string[] {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return [path.join('.')];
  return Object.entries(node).flatMap(([k, v]) => leaves(v, [...path, k]));
}

describe('the built-in defaults', () => {
  it('are a whole, valid configuration: nothing else is needed to run', () => {
    const config = resolveConfig();
    expect(config.switchId).toBe('sw1');
    expect(config.billing.reenableMinimumUsd).toBe(1_000_000);
    expect(config.sip.codes.off_funds).toBe(402);
    expect(Object.isFrozen(config.billing)).toBe(true);
  });

  it('need no config folder: loadConfig from an empty folder gives the defaults', () => {
    expect(loadConfig({ env: {}, configDir: emptyDir() })).toEqual(resolveConfig());
  });

  it('are every one documented in the README, by path, as is every environment key', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const paths = new Set(leaves(DEFAULTS).map((p) => (p.startsWith('sip.codes.') ? 'sip.codes' : p)));
    expect([...paths].filter((p) => !readme.includes(`\`${p}\``))).toEqual([]);
    expect(Object.keys(ENV_KEYS).filter((k) => !readme.includes(k.replace(/_(PORT|SECRET|TOKEN|MIN_TIME_MS)$/, '')))).toEqual([]);
  });

  it('leave no environment variable undocumented: every one read or set in the code, scripts, images and CI is in the README', () => {
    const root = new URL('../../', import.meta.url).pathname;
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const files: string[] = [];
    const walk = (path: string): void => {
      if (!existsSync(path)) return;
      if (statSync(path).isDirectory()) {
        for (const f of readdirSync(path)) if (f !== 'node_modules') walk(join(path, f));
      } else if (!/\.test\.ts$/.test(path)) files.push(path);
    };
    for (const p of ['src', 'scripts', 'bench', 'Dockerfile', 'docker-compose.yml', '.ci', 'test/helpers', 'test/e2e/harness.ts']) walk(join(root, p));
    const names = new Set<string>();
    for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(/\b(CALLGATE_[A-Z0-9_]*[A-Z0-9]|[A-Z]+_BIN|NODE_ENV)\b/g)) names.add(m[1]!);
    // the config table writes a host/port/secret family on one row: `CALLGATE_DRACHTIO_HOST` / `_PORT` / `_SECRET`
    const documented = (name: string) => readme.includes(name) || readme.includes(name.replace(/_(PORT|SECRET|TOKEN|MIN_TIME_MS)$/, ''));
    expect([...names].filter((n) => !documented(n)).sort()).toEqual([]);
  });

  it('name every environment key\'s target', () => {
    const paths = new Set(leaves(DEFAULTS));
    for (const [key, spec] of Object.entries(ENV_KEYS)) expect(paths.has(spec.path.join('.')), key).toBe(true);
  });
});

describe('resolveConfig: plain data over the defaults', () => {
  it('keeps what is not given, and takes what is', () => {
    const config = resolveConfig({ switchId: 'edge-7', billing: { tickIntervalMs: 5000 } });
    expect(config.switchId).toBe('edge-7');
    expect(config.billing.tickIntervalMs).toBe(5000);
    expect(config.billing.leaseTtlMs).toBe(DEFAULTS.billing.leaseTtlMs);
    expect(config.drachtio.port).toBe(9022);
  });

  it('reports every problem at once, by path', () => {
    const problems = problemsOf(() => resolveConfig({ switchId: 'no spaces', drachtio: { port: 70000 }, routeUris: ['http://x'] }));
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/^switchId: /m);
    expect(problems.join('\n')).toMatch(/^drachtio\.port: /m);
    expect(problems.join('\n')).toMatch(/^routeUris\.0: must be a sip: or sips: URI/m);
  });

  it('takes money only as decimal text: a number could be dollars or micro-dollars', () => {
    expect(resolveConfig({ billing: { reenableMinimumUsd: '2.50' } }).billing.reenableMinimumUsd).toBe(2_500_000);
    const problems = problemsOf(() => resolveConfig({ billing: { reenableMinimumUsd: 2.5 as unknown as string } }));
    expect(problems).toEqual(['billing.reenableMinimumUsd: must be decimal dollars as text, like "1.00"']);
  });

  it('passes a config it made through unchanged, and refuses a copy whose money is already micro-dollars', () => {
    const config = resolveConfig({ billing: { reenableMinimumUsd: '5' } });
    expect(isResolvedConfig(config)).toBe(true);
    expect(resolveConfig(config)).toBe(config);
    // a spread copy is plain data again: its 5000000 micro-dollars must not be read as $5,000,000
    expect(() => resolveConfig({ ...config } as never)).toThrow(ConfigError);
  });

  it('refuses a number given as text: plain data is typed, only the environment is text', () => {
    expect(problemsOf(() => resolveConfig({ drachtio: { port: '9022' as unknown as number } }))[0]).toMatch(/^drachtio\.port: /);
  });
});

describe('loadConfig: files and the environment over the defaults', () => {
  it('reads numbers and booleans from environment text, and names the key of a typo', () => {
    const config = loadConfig({ env: { CALLGATE_DRACHTIO_PORT: '9023', CALLGATE_CDR_RECORD_REJECTED: 'no' }, configDir: emptyDir() });
    expect(config.drachtio.port).toBe(9023);
    expect(config.cdr.recordRejected).toBe(false);
    const problems = problemsOf(() => loadConfig({ env: { CALLGATE_TICK_INTERVAL_MS: '10s' }, configDir: emptyDir() }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^billing\.tickIntervalMs: /);
  });

  it('layers <dir>/default.json, then <dir>/<NODE_ENV>.json, then the environment', () => {
    const dir = emptyDir();
    writeFileSync(join(dir, 'default.json'), JSON.stringify({ switchId: 'from-file', sweeper: { intervalMs: 1000 } }));
    writeFileSync(join(dir, 'staging.json'), JSON.stringify({ sweeper: { intervalMs: 2000 } }));
    const config = loadConfig({ env: { NODE_ENV: 'staging', CALLGATE_SWITCH_ID: 'from-env' }, configDir: dir });
    expect(config.switchId).toBe('from-env');
    expect(config.sweeper.intervalMs).toBe(2000);
  });

  it('names a broken file and changes nothing', () => {
    const dir = emptyDir();
    writeFileSync(join(dir, 'default.json'), '{ not json');
    const problems = problemsOf(() => loadConfig({ env: {}, configDir: dir }));
    expect(problems[0]).toContain(join(dir, 'default.json'));
  });
});
