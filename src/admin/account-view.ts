import type { Account } from '../accounts/account.js';
import { estimateDepletion, type Depletion } from '../accounts/depletion.js';
import { formatUsd } from '../rating/money.js';
import { decodeAccountHash } from '../redis/codecs/account-hash.js';

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
