import type { ConfigInput } from './schema.js';

/**
 * Every setting's built-in value: what callgate runs with when nothing overrides it. A carrier's app
 * passes only what differs (createCallgate), and `callgate serve` layers files and the environment over
 * these (loadConfig). Plain data, the one place a default is written.
 */
export const DEFAULTS = deepFreeze(
{
  switchId: 'sw1',
  logLevel: 'info',
  redis: {
    url: 'redis://127.0.0.1:6379',
    clusterNodes: [],
    keyPrefix: 'cg:',
    commandTimeoutMs: 250,
    operationTimeoutMs: 2000,
  },
  drachtio: {
    host: '127.0.0.1',
    port: 9022,
    secret: 'cymru',
  },
  routeUris: [],
  billing: {
    reservationSeconds: 60,
    tickIntervalMs: 10_000,
    leaseTtlMs: 30_000,
    reenableMinimumUsd: '1.00',
    paymentIdRetentionDays: 400,
    taxes: [],
  },
  identification: {
    trustedPeers: [],
    trustedHeader: 'X-Callgate-Account',
  },
  sip: {
    codes: {
      unknown_account: 403,
      ambiguous_account: 403,
      no_rate: 403,
      off_manual: 403,
      off_funds: 402,
      insufficient_funds: 402,
      cps_exceeded: 503,
      channel_limit: 503,
      unavailable: 503,
      invalid_request_uri: 400,
      number_too_long: 414,
      overloaded: 503,
      fraud_blocked: 403,
    },
    retryAfterSeconds: 1,
    drainTimeoutMs: 30_000,
    maxDialedLength: 32,
  },
  sweeper: {
    intervalMs: 5000,
  },
  overload: {
    enabled: true,
    sampleIntervalMs: 250,
    eventLoopDelayMs: { low: 100, high: 400 },
    inFlight: { low: 250, high: 1000 },
    admitLatencyShare: { low: 0.6, high: 0.95 },
    inviteWaitMs: { low: 50, high: 250 },
    hostCpuBusy: { low: 0.97, high: 0.995 },
    hostCpuStep: 0.1,
    severeLevel: 0.9,
    unrouteHoldMs: 2000,
    retryAfterSeconds: { min: 2, max: 10 },
  },
  traffic: {
    enabled: true,
    shortCallSeconds: 6,
    minAnswered: 100,
    snoozeMs: 3_600_000,
    evaluateIntervalMs: 5000,
    refusalFlushMs: 1000,
    maxSamples: 20,
  },
  cdr: {
    dir: './cdr',
    recordRejected: true,
  },
  cdrExport: {
    enabled: false,
    dir: './cdr-export',
    closeAfterMinutes: 30,
    retentionDays: 180,
    intervalMs: 1000,
    leaseMs: 10_000,
    metricsListen: '127.0.0.1:9464',
    sftp: { enabled: false, listen: '0.0.0.0:2222', hostKeyPath: './cdr-export/ssh_host_ed25519_key', maxFailures: 5 },
  },
  admin: {
    listen: '127.0.0.1:8088',
    token: '',
  },
  notify: {
    webhooks: [],
    maxAttempts: 8,
    backoffMs: 500,
    maxBackoffMs: 60_000,
    timeoutMs: 5000,
    concurrency: 4,
    minTimeMs: 50,
    scanIntervalMs: 30_000,
    reclaimIdleMs: 60_000,
    maxUndeliveredPerAccount: 100_000,
  },
} satisfies ConfigInput);

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
