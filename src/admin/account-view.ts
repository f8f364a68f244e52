import type { Account } from '../accounts/account.js';
import { estimateDepletion, type Depletion } from '../accounts/depletion.js';
import { formatUsd } from '../rating/money.js';
import type { Redis } from '../redis/client.js';
import { decodeAccountHash } from '../redis/codecs/account-hash.js';
import type { Keys } from '../redis/keys.js';

/**
 * The status, money and depletion figures of an account as GET /v1/accounts/:id/usage and /v1/live both show
 * them: built in one place, so the live view can never disagree with the usage route.
 */
export function accountFundsView(account: Account, hash: Record<string, string>, nowMs: number) {
  const estimate: Depletion = estimateDepletion(decodeAccountHash(hash), account.available, nowMs);
  return {
    estimate,
    fields: {
      status: account.status,
      offReason: account.offReason,
      balance: account.balance,
      balanceUsd: formatUsd(account.balance),
      reserved: account.reserved,
      reservedUsd: formatUsd(account.reserved),
      available: account.available,
      availableUsd: formatUsd(account.available),
    },
    depletion: {
      secondsToDepletion: estimate.secondsToDepletion,
      depletesAt: estimate.depletesAt === null ? null : new Date(estimate.depletesAt).toISOString(),
    },
  };
}

/** The latest payment applied to an account: what `callgate account get` shows beside the balance. */
export interface LatestPayment {
  paymentId: string;
  amount: number;
  amountUsd: string;
  /** ISO 8601 UTC: when the payment was applied (Redis time). */
  at: string;
}

/**
 * Reads the payments hash (paymentId -> `<micros>|<appliedAtMs>`, written by apply-funds-3.lua) a page at a
 * time, so a long history never blocks Redis in one command, and keeps the newest entry. Entries that do not
 * decode are passed over.
 */
export async function readLatestPayment(redis: Redis, keys: Keys, accountId: string): Promise<LatestPayment | null> {
  let latest: { paymentId: string; amount: number; atMs: number } | null = null;
  let cursor = '0';
  do {
    const page = await redis.hScan(keys.payments(accountId), cursor, { COUNT: 1000 });
    cursor = String(page.cursor);
    for (const { field, value } of page.entries) {
      const [amountText, atText] = String(value).split('|');
      const amount = Number(amountText);
      const atMs = Number(atText);
      if (!Number.isSafeInteger(amount) || !Number.isSafeInteger(atMs)) continue;
      const paymentId = String(field);
      if (latest === null || atMs > latest.atMs || (atMs === latest.atMs && paymentId > latest.paymentId)) {
        latest = { paymentId, amount, atMs };
      }
    }
  } while (cursor !== '0');
  if (latest === null) return null;
  return { paymentId: latest.paymentId, amount: latest.amount, amountUsd: formatUsd(latest.amount), at: new Date(latest.atMs).toISOString() };
}
