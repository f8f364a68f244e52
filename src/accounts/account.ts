/**
 * An account as the CLI and the admin API show it: its settings with its live state and money figures,
 * and the JSON form of that view.
 */
import { formatUsd, type Micros } from '../rating/money.js';
import type { AccountStatus, OffReason } from '../model/index.js';
import type { AccountSettings } from './settings.js';

export interface LiveCalls {
  /** Calls admitted and not yet finalized, on every switch. */
  total: number;
  /** The same calls by the switch that owns them; a switch's channel limit applies to its own count. */
  bySwitch: Record<string, number>;
}

/** An account as the CLI and the admin API show it. Money is integer micro-dollars. */
export interface Account extends AccountSettings {
  id: string;
  status: AccountStatus;
  offReason: OffReason | null;
  /** The engineer's note of the last manual status change. */
  statusNote: string;
  /** When an engineer last changed the status (ISO 8601 UTC). */
  statusChangedAt: string | null;
  taxExempt: boolean;
  /** Prepaid: funds left. Postpaid: negative as usage accrues. */
  balance: Micros;
  /** Held for the next unit of talk time of live calls. */
  reserved: Micros;
  /** What a new call may reserve: balance - reserved, plus the credit limit for postpaid. */
  available: Micros;
  /** Postpaid only: what the customer owes now (never below 0). null for prepaid. */
  owed: Micros | null;
  updatedAt: string | null;
  /** Present when read by getAccount. */
  liveCalls?: LiveCalls;
}

/** An account as JSON: every money field of Account with its `<name>Usd` twin. */
export interface AccountJson extends Account {
  balanceUsd: string;
  reservedUsd: string;
  availableUsd: string;
  owedUsd: string | null;
  creditLimitUsd: string;
  lowBalanceThresholdUsd: string;
}

/**
 * The JSON form of an account (CLI --json, admin API): every money field stays integer micro-dollars under
 * its own name, and gains a `<name>Usd` twin with the same amount as decimal dollars ("12.500000").
 */
export function accountToJson(a: Account): AccountJson {
  return {
    id: a.id,
    type: a.type,
    name: a.name,
    creditLimit: a.creditLimit,
    channels: a.channels,
    cps: a.cps,
    burst: a.burst,
    fusfOnFile: a.fusfOnFile,
    billingCountry: a.billingCountry,
    lowBalanceThreshold: a.lowBalanceThreshold,
    deckId: a.deckId,
    ips: a.ips,
    techPrefix: a.techPrefix,
    status: a.status,
    offReason: a.offReason,
    statusNote: a.statusNote,
    statusChangedAt: a.statusChangedAt,
    taxExempt: a.taxExempt,
    balance: a.balance,
    reserved: a.reserved,
    available: a.available,
    owed: a.owed,
    updatedAt: a.updatedAt,
    liveCalls: a.liveCalls,
    balanceUsd: formatUsd(a.balance),
    reservedUsd: formatUsd(a.reserved),
    availableUsd: formatUsd(a.available),
    owedUsd: a.owed === null ? null : formatUsd(a.owed),
    creditLimitUsd: formatUsd(a.creditLimit),
    lowBalanceThresholdUsd: formatUsd(a.lowBalanceThreshold),
  };
}
