/**
 * The fraud guard of one instance, consulted on every INVITE from memory: the fraud rules and maximum call
 * duration of each account, and the prefixes a critical has blocked. The directory hands it every account
 * hash it reads (fields `traffic` and `fraudBlocks`), at its reloads and on `traffic|<account>` changes, so
 * the INVITE path adds no Redis call: a call under a rule is admitted by admit-watched instead of admit,
 * which returns the rule's counts in the same step.
 *
 * A call that reaches a level is judged here; the alert (and a critical's block) is written by fraud-alert
 * off the INVITE path. The block is held here at once, so this instance refuses the prefix from the next
 * INVITE; other instances hold it when the change message reaches them.
 */
import type { Logger } from '../logger.js';
import type { Engine } from '../redis/engine.js';
import { blockUntil, decodeBlock, judgeFraud, ruleFor, type FraudBlock, type FraudCounts, type FraudLimit, type FraudRule } from './fraud.js';
import { storedTrafficSettings } from './profiles.js';

interface AccountGuard {
  rules: FraudRule[];
  maxCallSeconds: number | null;
  blocks: FraudBlock[];
  /** Prefix ('*': all) -> until when an engineer's lift keeps it from being blocked again. */
  lifted: Record<string, number>;
}

const NONE: AccountGuard = Object.freeze({ rules: [], maxCallSeconds: null, blocks: [], lifted: {} }) as unknown as AccountGuard;

function liftedOf(json: string | undefined): Record<string, number> {
  if (!json) return {};
  try {
    const raw = JSON.parse(json) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(raw).filter((e): e is [string, number] => typeof e[1] === 'number'));
  } catch {
    return {};
  }
}

/** The guard's part of an account hash. Pure. */
export function guardOfHash(hash: Record<string, string>): AccountGuard {
  const { settings } = storedTrafficSettings(hash.traffic ?? '');
  const blocks: FraudBlock[] = [];
  if (hash.fraudBlocks) {
    try {
      const raw = JSON.parse(hash.fraudBlocks) as Record<string, unknown>;
      for (const [prefix, v] of Object.entries(raw)) {
        const b = typeof v === 'string' ? decodeBlock(prefix, v) : undefined;
        if (b) blocks.push(b);
      }
    } catch {
      // an unreadable blocks field blocks nothing; the next critical rewrites it
    }
  }
  if (settings.fraudRules.length === 0 && settings.maxCallSeconds === null && blocks.length === 0) return NONE;
  return { rules: settings.fraudRules, maxCallSeconds: settings.maxCallSeconds, blocks, lifted: liftedOf(hash.fraudLifted) };
}

/** The block that refuses a call to `destination` at `atMs`, if any: a live block of a prefix starting it. Pure. */
export function activeBlock(blocks: readonly FraudBlock[], destination: string, atMs: number): FraudBlock | undefined {
  for (const b of blocks) if (b.untilMs > atMs && destination.startsWith(b.prefix)) return b;
  return undefined;
}

export interface TrafficGuardDeps {
  engine: Pick<Engine, 'writeFraudAlert'>;
  logger: Logger;
  snoozeMs: number;
  /** Each fraud alert raised, by limit (`fraud_<limit>`: a closed set, a metric label), for the metrics. */
  onAlert?: (rule: `fraud_${FraudLimit}`, level: 'warning' | 'critical') => void;
  now?: () => number;
}

export function createTrafficGuard(deps: TrafficGuardDeps) {
  const now = deps.now ?? Date.now;
  const accounts = new Map<string, AccountGuard>();
  /** `<account>|<rule>|<limit>|<level>` -> until when this instance need not write that level again. */
  const written = new Map<string, number>();

  function reached(accountId: string, rule: FraudRule, counts: FraudCounts, atMs: number): void {
    for (const v of judgeFraud(rule, counts)) {
      const key = `${accountId}|${rule.name}|${v.limit}|${v.level}`;
      if ((written.get(key) ?? 0) > atMs) continue;
      const untilMs = blockUntil(v.limit, atMs);
      // the next call of this window at the same level needs no write: the block (or the snooze) holds it
      written.set(key, v.level === 'critical' ? untilMs : atMs + Math.min(deps.snoozeMs, 60_000));
      const g = accounts.get(accountId);
      if (v.level === 'critical' && Math.max(g?.lifted[rule.prefix] ?? 0, g?.lifted['*'] ?? 0) <= atMs) {
        const block: FraudBlock = { prefix: rule.prefix, rule: rule.name, limit: v.limit, untilMs };
        if (g) accounts.set(accountId, { ...g, blocks: [...g.blocks.filter((b) => b.prefix !== rule.prefix), block] });
      }
      deps.engine
        .writeFraudAlert({ accountId, rule: rule.name, limit: v.limit, level: v.level, prefix: rule.prefix, value: v.value, threshold: v.threshold, untilMs, snoozeMs: deps.snoozeMs })
        .then((r) => {
          if (r?.alerted) {
            deps.onAlert?.(`fraud_${v.limit}`, v.level);
            deps.logger.warn(
              { accountId, rule: rule.name, limit: v.limit, level: v.level, value: v.value, threshold: v.threshold, prefix: rule.prefix },
              `fraud rule ${rule.name}: ${v.limit} reached its ${v.level} level (${v.value} >= ${v.threshold})` +
                (v.level === 'critical' ? `; calls to ${rule.prefix} refused until ${new Date(untilMs).toISOString()}` : ''),
            );
          }
        })
        .catch((err: unknown) => {
          written.delete(key); // the next call at this level tries again
          deps.logger.warn({ err, accountId, rule: rule.name }, 'fraud alert not written; the next call at this level writes it');
        });
    }
    if (written.size > 50_000) for (const [k, until] of written) if (until <= atMs) written.delete(k);
  }

  return {
    /** An account hash as the directory read it (undefined: the account is gone). */
    update(accountId: string, hash: Record<string, string> | undefined): void {
      const g = hash ? guardOfHash(hash) : NONE;
      if (g === NONE) accounts.delete(accountId);
      else accounts.set(accountId, g);
    },
    /** The block refusing a call of the account to `destination` now, if any. */
    blockFor(accountId: string, destination: string, atMs = now()): FraudBlock | undefined {
      const g = accounts.get(accountId);
      return g && g.blocks.length > 0 ? activeBlock(g.blocks, destination, atMs) : undefined;
    },
    /** The fraud rule a call of the account to `destination` is counted under now, if any. */
    watchFor(accountId: string, destination: string, atMs = now()): FraudRule | undefined {
      const g = accounts.get(accountId);
      return g && g.rules.length > 0 ? ruleFor(g.rules, destination, atMs) : undefined;
    },
    /** Accounts with fraud rules, blocks or a maximum call duration held now. */
    size: () => accounts.size,
    maxCallSeconds: (accountId: string): number | null => accounts.get(accountId)?.maxCallSeconds ?? null,
    /** An admitted call's counts under its rule: judged, and any level reached is written. */
    admitted(accountId: string, rule: FraudRule, counts: FraudCounts, atMs = now()): void {
      reached(accountId, rule, counts, atMs);
    },
  };
}

export type TrafficGuard = ReturnType<typeof createTrafficGuard>;
