import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { configSchema, type CallgateConfigInput, type Config } from './schema.js';
import { DEFAULTS } from './defaults.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

type Json = Record<string, unknown>;

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);

/** Every environment key callgate reads, and where it lands in the config tree. */
export const ENV_KEYS: Record<string, { path: string[]; parse?: (v: string) => unknown }> = {
  CALLGATE_SWITCH_ID: { path: ['switchId'] },
  CALLGATE_LOG_LEVEL: { path: ['logLevel'] },
  CALLGATE_REDIS_URL: { path: ['redis', 'url'] },
  CALLGATE_REDIS_CLUSTER_NODES: { path: ['redis', 'clusterNodes'], parse: list },
  CALLGATE_REDIS_KEY_PREFIX: { path: ['redis', 'keyPrefix'] },
  CALLGATE_REDIS_COMMAND_TIMEOUT_MS: { path: ['redis', 'commandTimeoutMs'] },
  CALLGATE_REDIS_OPERATION_TIMEOUT_MS: { path: ['redis', 'operationTimeoutMs'] },
  CALLGATE_DRACHTIO_HOST: { path: ['drachtio', 'host'] },
  CALLGATE_DRACHTIO_PORT: { path: ['drachtio', 'port'] },
  CALLGATE_DRACHTIO_SECRET: { path: ['drachtio', 'secret'] },
  CALLGATE_ROUTE_URIS: { path: ['routeUris'], parse: list },
  CALLGATE_RESERVATION_SECONDS: { path: ['billing', 'reservationSeconds'] },
  CALLGATE_TICK_INTERVAL_MS: { path: ['billing', 'tickIntervalMs'] },
  CALLGATE_LEASE_TTL_MS: { path: ['billing', 'leaseTtlMs'] },
  CALLGATE_REENABLE_MINIMUM_USD: { path: ['billing', 'reenableMinimumUsd'] },
  CALLGATE_PAYMENT_ID_RETENTION_DAYS: { path: ['billing', 'paymentIdRetentionDays'] },
  CALLGATE_TAXES: { path: ['billing', 'taxes'], parse: (v) => JSON.parse(v) },
  CALLGATE_TRUSTED_PEERS: { path: ['identification', 'trustedPeers'], parse: list },
  CALLGATE_TRUSTED_HEADER: { path: ['identification', 'trustedHeader'] },
  CALLGATE_SWEEP_INTERVAL_MS: { path: ['sweeper', 'intervalMs'] },
  CALLGATE_DRAIN_TIMEOUT_MS: { path: ['sip', 'drainTimeoutMs'] },
  CALLGATE_MAX_DIALED_LENGTH: { path: ['sip', 'maxDialedLength'] },
  CALLGATE_OVERLOAD_ENABLED: { path: ['overload', 'enabled'] },
  CALLGATE_OVERLOAD_LOOP_DELAY_LOW_MS: { path: ['overload', 'eventLoopDelayMs', 'low'] },
  CALLGATE_OVERLOAD_LOOP_DELAY_HIGH_MS: { path: ['overload', 'eventLoopDelayMs', 'high'] },
  CALLGATE_OVERLOAD_IN_FLIGHT_LOW: { path: ['overload', 'inFlight', 'low'] },
  CALLGATE_OVERLOAD_IN_FLIGHT_HIGH: { path: ['overload', 'inFlight', 'high'] },
  CALLGATE_OVERLOAD_ADMIT_LATENCY_LOW: { path: ['overload', 'admitLatencyShare', 'low'], parse: Number },
  CALLGATE_OVERLOAD_ADMIT_LATENCY_HIGH: { path: ['overload', 'admitLatencyShare', 'high'], parse: Number },
  CALLGATE_OVERLOAD_UNROUTE_HOLD_MS: { path: ['overload', 'unrouteHoldMs'] },
  CALLGATE_OVERLOAD_HOST_CPU_LOW: { path: ['overload', 'hostCpuBusy', 'low'], parse: Number },
  CALLGATE_OVERLOAD_HOST_CPU_HIGH: { path: ['overload', 'hostCpuBusy', 'high'], parse: Number },
  CALLGATE_OVERLOAD_HOST_CPU_STEP: { path: ['overload', 'hostCpuStep'], parse: Number },
  CALLGATE_OVERLOAD_INVITE_WAIT_LOW_MS: { path: ['overload', 'inviteWaitMs', 'low'] },
  CALLGATE_OVERLOAD_INVITE_WAIT_HIGH_MS: { path: ['overload', 'inviteWaitMs', 'high'] },
  CALLGATE_TRAFFIC_ENABLED: { path: ['traffic', 'enabled'] },
  CALLGATE_TRAFFIC_SHORT_CALL_SECONDS: { path: ['traffic', 'shortCallSeconds'] },
  CALLGATE_TRAFFIC_MIN_ANSWERED: { path: ['traffic', 'minAnswered'] },
  CALLGATE_TRAFFIC_SNOOZE_MS: { path: ['traffic', 'snoozeMs'] },
  CALLGATE_TRAFFIC_EVALUATE_INTERVAL_MS: { path: ['traffic', 'evaluateIntervalMs'] },
  CALLGATE_TRAFFIC_REFUSAL_FLUSH_MS: { path: ['traffic', 'refusalFlushMs'] },
  CALLGATE_CDR_DIR: { path: ['cdr', 'dir'] },
  CALLGATE_CDR_RECORD_REJECTED: { path: ['cdr', 'recordRejected'] },
  CALLGATE_CDR_EXPORT_ENABLED: { path: ['cdrExport', 'enabled'] },
  CALLGATE_CDR_EXPORT_DIR: { path: ['cdrExport', 'dir'] },
  CALLGATE_CDR_EXPORT_CLOSE_AFTER_MINUTES: { path: ['cdrExport', 'closeAfterMinutes'] },
  CALLGATE_CDR_EXPORT_RETENTION_DAYS: { path: ['cdrExport', 'retentionDays'] },
  CALLGATE_CDR_EXPORT_INTERVAL_MS: { path: ['cdrExport', 'intervalMs'] },
  CALLGATE_CDR_EXPORT_LEASE_MS: { path: ['cdrExport', 'leaseMs'] },
  CALLGATE_CDR_EXPORT_METRICS_LISTEN: { path: ['cdrExport', 'metricsListen'] },
  CALLGATE_CDR_SFTP_ENABLED: { path: ['cdrExport', 'sftp', 'enabled'] },
  CALLGATE_CDR_SFTP_LISTEN: { path: ['cdrExport', 'sftp', 'listen'] },
  CALLGATE_CDR_SFTP_HOST_KEY: { path: ['cdrExport', 'sftp', 'hostKeyPath'] },
  CALLGATE_CDR_SFTP_MAX_FAILURES: { path: ['cdrExport', 'sftp', 'maxFailures'] },
  CALLGATE_ADMIN_LISTEN: { path: ['admin', 'listen'] },
  CALLGATE_ADMIN_TOKEN: { path: ['admin', 'token'] },
  CALLGATE_WEBHOOKS: { path: ['notify', 'webhooks'], parse: (v) => JSON.parse(v) },
  CALLGATE_NOTIFY_MAX_ATTEMPTS: { path: ['notify', 'maxAttempts'] },
  CALLGATE_NOTIFY_BACKOFF_MS: { path: ['notify', 'backoffMs'] },
  CALLGATE_NOTIFY_TIMEOUT_MS: { path: ['notify', 'timeoutMs'] },
  CALLGATE_NOTIFY_CONCURRENCY: { path: ['notify', 'concurrency'] },
  CALLGATE_NOTIFY_MIN_TIME_MS: { path: ['notify', 'minTimeMs'] },
  CALLGATE_NOTIFY_SCAN_INTERVAL_MS: { path: ['notify', 'scanIntervalMs'] },
  CALLGATE_NOTIFY_RECLAIM_IDLE_MS: { path: ['notify', 'reclaimIdleMs'] },
  CALLGATE_NOTIFY_MAX_UNDELIVERED: { path: ['notify', 'maxUndeliveredPerAccount'] },
};

/**
 * Environment values are text. Where the default is a number or a boolean, the text is read as one
 * (a typo stays text, and validation names it); lists and JSON have their own parse above.
 */
function envValue(key: string, text: string): unknown {
  const spec = ENV_KEYS[key]!;
  if (spec.parse) return spec.parse(text);
  const model = getPath(DEFAULTS as Json, spec.path);
  if (typeof model === 'number') return /^-?\d+$/.test(text.trim()) ? Number(text) : text;
  if (typeof model === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    if (/^(0|false|no|off)$/i.test(text)) return false;
  }
  return text;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isObject(v) && isObject(out[k]) ? merge(out[k] as Json, v) : v;
  }
  return out;
}

function getPath(source: Json, path: string[]): unknown {
  let node: unknown = source;
  for (const key of path) node = isObject(node) ? node[key] : undefined;
  return node;
}

function setPath(target: Json, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isObject(node[key])) node[key] = {};
    node = node[key] as Json;
  }
  node[path[path.length - 1]!] = value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Configs made by resolveConfig: already validated, so never parsed twice (money would be read again). */
const resolved = new WeakSet<object>();

export function isResolvedConfig(value: unknown): value is Config {
  return typeof value === 'object' && value !== null && resolved.has(value);
}

function validate(raw: Json, problems: string[]): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(`${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  const config = deepFreeze(result.data);
  resolved.add(config);
  return config;
}

/**
 * A carrier's configuration as plain data, laid over the built-in defaults and validated once: every
 * problem is reported at once (ConfigError). A config this returned is passed through as it is. Reads
 * no file and no environment.
 */
export function resolveConfig(input: CallgateConfigInput | Config = {}): Config {
  if (isResolvedConfig(input)) return input;
  if (!isObject(input)) throw new ConfigError(['(root): must be an object']);
  return validate(merge(DEFAULTS as Json, input as Json), []);
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Folder of optional `default.json` and `<NODE_ENV>.json`; CALLGATE_CONFIG_DIR, else `./config`. */
  configDir?: string;
  /** Applied after files and before env: used by tests and benches to set values programmatically. */
  overrides?: Json;
}

/**
 * `callgate serve`'s configuration: the built-in defaults, then `<dir>/default.json` and
 * `<dir>/<NODE_ENV>.json` when they exist, then CALLGATE_* env keys; validated once, every problem
 * reported at once, frozen. The only reader of process.env.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const dir = resolve(options.configDir ?? env.CALLGATE_CONFIG_DIR ?? 'config');
  const problems: string[] = [];
  const readJson = (file: string): Json => {
    if (!existsSync(file)) return {};
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (!isObject(parsed)) throw new Error('top level must be an object');
      return parsed;
    } catch (err) {
      problems.push(`${file}: ${(err as Error).message}`);
      return {};
    }
  };
  let raw = merge(structuredClone(DEFAULTS) as Json, readJson(resolve(dir, 'default.json')));
  if (env.NODE_ENV) raw = merge(raw, readJson(resolve(dir, `${env.NODE_ENV}.json`)));
  if (options.overrides) raw = merge(raw, options.overrides);
  for (const key of Object.keys(ENV_KEYS)) {
    const value = env[key];
    if (value === undefined || value === '') continue;
    try {
      setPath(raw, ENV_KEYS[key]!.path, envValue(key, value));
    } catch (err) {
      problems.push(`${key}: ${(err as Error).message}`);
    }
  }
  return validate(raw, problems);
}

/** Hooks for the end-to-end tests, never configuration: no default, no config path, no place in Config. */
export interface TestHooks {
  /**
   * CALLGATE_TEST_OVERLOAD_LEVEL_FILE: a file holding a load level (0 to 1) that the overload guard takes in
   * place of this process's own signals, read at each new INVITE; how an e2e test forces the guard severe.
   */
  overloadLevelFile?: string;
}

export function readTestHooks(env: NodeJS.ProcessEnv = process.env): TestHooks {
  const file = env.CALLGATE_TEST_OVERLOAD_LEVEL_FILE;
  return file ? { overloadLevelFile: resolve(file) } : {};
}
