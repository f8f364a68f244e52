import { z } from 'zod';
import { parsePpm, parseUsd } from '../rating/money.js';
import { REJECT_REASONS, type RejectReason } from '../model/refusal.js';

export const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

const id = z.string().regex(ID_PATTERN, 'must match [A-Za-z0-9_.-]{1,64}');
const port = z.number().int().min(1).max(65535);
/** Dollars as decimal text ("1.00"), never a JSON number: a number could be dollars or micro-dollars. */
const usd = z
  .string({ error: 'must be decimal dollars as text, like "1.00"' })
  .transform((v, ctx) => {
    try {
      return parseUsd(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
const ppm = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    return parsePpm(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const sipCode = z.number().int().min(400).max(699);
const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port');

export { REJECT_REASONS, type RejectReason };

const ms = (min: number, max: number) => z.number().int().min(min).max(max);
const webhookUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL');

/** Webhook notifications (src/notify): where events are POSTed, and how deliveries are paced and retried. */
const notifySchema = z.object({
  webhooks: z
    .array(
      z.object({
        id,
        url: webhookUrl,
        secret: z.string().min(16, 'must be at least 16 characters'),
        /** Event types this endpoint receives (low_balance, status_changed, call_torn_down, ...); absent means all. */
        events: z.array(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be an event type like low_balance')).min(1).optional(),
      }),
    )
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((w, i) => {
        if (seen.has(w.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate webhook id ${w.id}` });
        seen.add(w.id);
      });
    }),
  maxAttempts: z.number().int().min(1).max(100),
  backoffMs: ms(1, 600_000),
  maxBackoffMs: ms(1, 3_600_000),
  timeoutMs: ms(10, 120_000),
  concurrency: z.number().int().min(1).max(1000),
  minTimeMs: ms(0, 60_000),
  scanIntervalMs: ms(50, 3_600_000),
  reclaimIdleMs: ms(100, 3_600_000),
  /** The most undelivered events an account keeps; beyond it the oldest move to the dead letters. */
  maxUndeliveredPerAccount: z.number().int().min(100).max(10_000_000),
});

/** Each load signal's shed ramp: nothing is shed at or below `low`, everything at or above `high`. */
const band = (max: number) => z
  .object({ low: z.number().min(0).max(max), high: z.number().min(0).max(max) })
  .refine((b) => b.high > b.low, { message: 'high must be above low', path: ['high'] });

/** The overload guard of the INVITE edge (src/admission/overload.ts). */
const overloadSchema = z.object({
  enabled: z.boolean(),
  /** How often the event-loop delay and the admit-latency EWMA are sampled. */
  sampleIntervalMs: ms(10, 60_000),
  eventLoopDelayMs: band(60_000),
  inFlight: band(10_000_000),
  /** The admit script's recent latency as a share of redis.commandTimeoutMs, its deadline. */
  admitLatencyShare: band(1),
  /** How long new INVITEs waited between drachtio-server and this process (mean of the window, above the idle wait). */
  inviteWaitMs: band(60_000),
  /** The host's CPU in use, all cores, as a share (EWMA of the sample windows). */
  hostCpuBusy: band(1),
  /** How far the host-CPU shed level moves per sample window (up above hostCpuBusy.high, half of it down below .low). */
  hostCpuStep: z.number().gt(0).max(1),
  /** The load level (0-1) from which a shed INVITE also carries a jittered Retry-After. */
  severeLevel: z.number().gt(0).max(1),
  /** At the severe level the INVITE route comes off drachtio-server for at least this long; 0: never. */
  unrouteHoldMs: z.number().int().min(0).max(600_000),
  retryAfterSeconds: z
    .object({ min: z.number().int().min(0).max(3600), max: z.number().int().min(0).max(3600) })
    .refine((r) => r.max >= r.min, { message: 'max must be at least min', path: ['max'] }),
});

/** Traffic profiles (src/traffic): the figures every account's calls feed, and how and when they are judged. */
const trafficSchema = z.object({
  enabled: z.boolean(),
  /** An answered call shorter than this many seconds is a short call. */
  shortCallSeconds: z.number().int().min(1).max(600),
  /** A window is judged only once it holds at least this many answered calls. */
  minAnswered: z.number().int().min(1).max(1_000_000),
  /** After a rule alerts at a level, the same rule does not alert again at that level for this long. */
  snoozeMs: ms(0, 30 * 86_400_000),
  /** How often each instance judges the accounts whose calls it ended. */
  evaluateIntervalMs: ms(100, 600_000),
  /** Refused attempts are counted in the instance and written in one batch this often (a crash loses at most this much). */
  refusalFlushMs: ms(50, 10_000),
  /** Most call ids a critical alert carries as samples. */
  maxSamples: z.number().int().min(0).max(20),
});

/** Customer daily CDR files (src/export): assembled per account across switches, served over SFTP. */
const cdrExportSchema = z.object({
  /** Switches hand their CDRs over for the customer files; the `callgate cdr-export` role assembles them. */
  enabled: z.boolean(),
  /** Where the export role keeps the day masters (days/) and the published files (files/). */
  dir: z.string().min(1),
  /** A UTC day's file is published (closed) this long after midnight UTC. */
  closeAfterMinutes: z.number().int().min(0).max(1440),
  /** Published files and day masters older than this many days are pruned, once a day. */
  retentionDays: z.number().int().min(1).max(3650),
  /** How often the export role drains the accounts' export streams. */
  intervalMs: ms(100, 600_000),
  /** The export lease's lifetime; the active exporter renews it every third of it, a standby takes over after it. */
  leaseMs: ms(1000, 600_000),
  /** The export role's own HTTP address: GET /metrics (Prometheus) and GET /healthz. */
  metricsListen: hostPort,
  sftp: z.object({
    enabled: z.boolean(),
    listen: hostPort,
    /** The SSH host key (ed25519), generated at the first start and kept. */
    hostKeyPath: z.string().min(1),
    /** Failed logins from one address within 15 minutes before it is locked out for 15 minutes. */
    maxFailures: z.number().int().min(1).max(1000),
  }),
});

export const configSchema = z
  .object({
    switchId: id,
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    redis: z.object({
      url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
      clusterNodes: z.array(hostPort),
      keyPrefix: z.string().regex(/^[A-Za-z0-9_.:-]{0,32}$/, 'must be [A-Za-z0-9_.:-]{0,32}'),
      commandTimeoutMs: z.number().int().min(10).max(60_000),
      operationTimeoutMs: z.number().int().min(10).max(600_000),
    }),
    drachtio: z.object({ host: z.string().min(1), port, secret: z.string().min(1) }),
    routeUris: z.array(z.string().regex(/^sips?:/, 'must be a sip: or sips: URI')),
    billing: z.object({
      reservationSeconds: z.number().int().min(1).max(3600),
      tickIntervalMs: z.number().int().min(100).max(300_000),
      leaseTtlMs: z.number().int().min(300).max(900_000),
      reenableMinimumUsd: usd,
      /** How long a payment id is remembered: a retry within this window is a duplicate, never a second credit. */
      paymentIdRetentionDays: z.number().int().min(1).max(3650),
      taxes: z.array(z.object({ name: z.string().regex(/^[A-Za-z0-9_ .-]{1,32}$/), rate: ppm })),
    }),
    identification: z.object({
      trustedPeers: z.array(z.string().min(1)),
      trustedHeader: z.string().regex(/^[A-Za-z0-9-]{1,64}$/),
    }),
    sip: z.object({
      codes: z.object(Object.fromEntries(REJECT_REASONS.map((r) => [r, sipCode])) as Record<RejectReason, typeof sipCode>),
      retryAfterSeconds: z.number().int().min(0).max(3600),
      drainTimeoutMs: z.number().int().min(0).max(3_600_000),
      /** Longest Request-URI user (tech prefix and number, in characters) admission looks at; longer is refused. */
      maxDialedLength: z.number().int().min(1).max(256),
    }),
    sweeper: z.object({ intervalMs: z.number().int().min(100).max(600_000) }),
    overload: overloadSchema,
    traffic: trafficSchema,
    cdr: z.object({ dir: z.string().min(1), recordRejected: z.boolean() }),
    cdrExport: cdrExportSchema,
    admin: z.object({ listen: hostPort, token: z.string() }),
    notify: notifySchema,
  })
  .superRefine((c, ctx) => {
    if (c.billing.leaseTtlMs <= c.billing.tickIntervalMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['billing', 'leaseTtlMs'],
        message: 'must be longer than billing.tickIntervalMs, or every live call would lose its lease between ticks',
      });
    }
  });

export type Config = z.output<typeof configSchema>;
export type NotifyConfig = Config['notify'];
export type WebhookConfig = NotifyConfig['webhooks'][number];
/** A whole configuration as written (files, env, the defaults): money as decimal text, before validation. */
export type ConfigInput = z.input<typeof configSchema>;

type DeepPartial<T> = T extends readonly (infer _)[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/**
 * What a carrier's application passes to createCallgate: any part of the configuration, as plain data;
 * the rest comes from the built-in defaults (src/config/defaults.ts).
 */
export type CallgateConfigInput = DeepPartial<ConfigInput>;
