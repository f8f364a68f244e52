import { ID_PATTERN } from '../config/schema.js';

export class InvalidKeyPartError extends Error {
  override readonly name = 'InvalidKeyPartError';
}

function checkId(kind: string, id: string): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new InvalidKeyPartError(`${kind} id must match [A-Za-z0-9_.-]{1,64}`);
  }
  return id;
}

/** A destination prefix in a key: digits only, as rate decks hold them. */
export const KEY_PREFIX_PATTERN = /^[0-9]{1,16}$/;

function checkPrefix(prefix: string): string {
  if (typeof prefix !== 'string' || !KEY_PREFIX_PATTERN.test(prefix)) throw new InvalidKeyPartError('destination prefix must be 1-16 digits');
  return prefix;
}

/** A traffic bucket's granularity (src/traffic/buckets.ts): 1-minute or UTC-day buckets. */
export type TrafficGranularity = 'm' | 'd';

function checkBucket(gran: TrafficGranularity, index: number): string {
  if ((gran !== 'm' && gran !== 'd') || !Number.isSafeInteger(index) || index < 0) {
    throw new InvalidKeyPartError('traffic bucket must be m or d and a whole bucket index');
  }
  return `${gran}:${index}`;
}

/**
 * Every Redis key callgate uses is built here. All of an account's keys share the hash tag {a:<id>}, so
 * each script touches one slot and runs unchanged on a Redis Cluster. Ids are validated again here, so a
 * hostile id can never reach another account's slot or a global key.
 */
export function createKeys(prefix: string) {
  const account = (id: string) => `${prefix}{a:${checkId('account', id)}}`;
  return {
    prefix,
    /** Hash: the account's fields, balance, reservation total and CPS bucket. */
    account: (id: string) => `${account(id)}:acct`,
    /** Sorted set: callId -> lease expiry (ms, Redis TIME) for live calls on one switch. */
    leases: (id: string, switchId: string) => `${account(id)}:leases:${checkId('switch', switchId)}`,
    /** Hash: callId -> live-call record of each live call (src/redis/codecs/call-record.ts: meter, then seed JSON). */
    calls: (id: string) => `${account(id)}:calls`,
    /** Sorted set: callId -> lease expiry, across all switches: what the sweeper reads. */
    expiry: (id: string) => `${account(id)}:expiry`,
    /** Stream: CDRs appended by finalize and sweep, deleted once a CDR writer has made them durable. */
    cdrs: (id: string) => `${account(id)}:cdrs`,
    /**
     * Stream: the account's CDRs on their way to its daily customer file (src/export). A CDR writer moves each
     * written entry here from cdrs() in one atomic step, and appends refused attempts in batches; the active
     * exporter deletes them once the day file holds them.
     */
    cdrExport: (id: string) => `${account(id)}:cdrx`,
    /** Hash: UTC day (YYYYMMDD) -> JSON of the account's published day file (name, revision, rows, bytes, sha256). */
    cdrFiles: (id: string) => `${account(id)}:cdrfiles`,
    /** Hash: the account's customer-file settings: its SFTP password hash, authorized keys, and whether refused attempts are included. */
    cdrAccess: (id: string) => `${account(id)}:cdraccess`,
    /** Stream: events (low balance, status change, teardown for funds) awaiting dispatch. */
    events: (id: string) => `${account(id)}:events`,
    /** Hash: `<eventId>|<webhookId>` -> delivery state of an event to one webhook (src/notify). */
    deliveries: (id: string) => `${account(id)}:events:deliveries`,
    /** Hash: payment id -> `amount|atMs`, so a retried payment never credits twice within the retention window. */
    payments: (id: string) => `${account(id)}:payments`,
    /** Sorted set: payment id -> when it was applied (epoch ms): what prunes payments() past the retention window. */
    paymentsByTime: (id: string) => `${account(id)}:payments:at`,
    /**
     * Hash: one traffic bucket of the account (granularity, bucket index): its counts (at, an, ue, tm, bs, sh,
     * ze) and, as `<prefix>|<count>`, those of each destination prefix. Expires after its window has passed.
     */
    trafficBucket: (id: string, gran: TrafficGranularity, index: number) => `${account(id)}:tr:${checkBucket(gran, index)}`,
    /** HyperLogLog: the numbers dialed in one traffic bucket, by the account, or to one destination prefix. */
    trafficNumbers: (id: string, gran: TrafficGranularity, index: number, prefix?: string) =>
      `${account(id)}:tr:${checkBucket(gran, index)}:n${prefix === undefined ? '' : `:${checkPrefix(prefix)}`}`,
    /** List: the newest short and zero-second call ids, what a critical alert carries as samples. */
    trafficSamples: (id: string) => `${account(id)}:tr:samples`,
    /** Hash: `<window>|<rule>` -> alert state of one rule, and `recommended` -> the suspension recommendation. */
    trafficAlerts: (id: string) => `${account(id)}:tr:alerts`,
    /** String (counter): admitted calls to one fraud-rule prefix in one minute. */
    fraudMinute: (id: string, prefix: string, minute: number) => `${account(id)}:tr:f:${checkPrefix(prefix)}:${checkBucket('m', minute)}`,
    /** Hash: admitted calls to one fraud-rule prefix in one UTC day (`calls`), and per number dialed (`n:<number>`). */
    fraudDay: (id: string, prefix: string, day: number) => `${account(id)}:tr:f:${checkPrefix(prefix)}:${checkBucket('d', day)}`,
    /** Sorted set: callId -> admitted at (ms) of the live calls to one fraud-rule prefix (concurrent calls). */
    fraudLive: (id: string, prefix: string) => `${account(id)}:tr:f:${checkPrefix(prefix)}:live`,
    /** Hash: accountId -> identification JSON (ACL, tech prefix, deck, tax exemption). */
    catalog: `${prefix}{catalog}:accounts`,
    /**
     * String: the token of the account write under way. Account writes take it (SET NX PX) so that the check
     * that no two accounts share an address without distinct tech prefixes holds across instances.
     */
    catalogLock: `${prefix}{catalog}:lock`,
    /** Hash: deckId -> version of the deck; the deck itself lives under deck(). */
    deckIndex: `${prefix}{catalog}:decks`,
    deck: (deckId: string) => `${prefix}{deck:${checkId('deck', deckId)}}:rates`,
    /** Stream: events given up for a webhook after notify.maxAttempts, across all accounts (not an account key). */
    deadLetters: `${prefix}{notify}:dead`,
    /** String: the instance that moves event overflow to the dead letters this round (SET NX PX), so one does. */
    eventOverflowLease: `${prefix}{notify}:overflow-lease`,
    /** String: the instance that assembles the customer CDR files (SET NX PX, renewed), so that one does. */
    exportLease: `${prefix}{export}:lease`,
    /** Pub/sub channel announcing catalog, deck and account changes to every instance. */
    changes: `${prefix}changes`,
  };
}

export type Keys = ReturnType<typeof createKeys>;
