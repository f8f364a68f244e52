/** How an account is printed: a table for people, and the help text for the JSON form. */
import type { AccountJson } from '../accounts/account.js';
import { bySwitchText, keyValueTable, usd } from './format.js';

/** The latest payment as GET /v1/accounts/:id/payments/latest gives it. */
export interface LatestPayment {
  paymentId: string;
  amount: number;
  amountUsd: string;
  at: string;
}

/** A two-column table of an account for people: money in decimal dollars. */
export function formatAccountTable(a: AccountJson, lastPayment?: LatestPayment | null): string {
  const rows: [string, string][] = [
    ['account', a.id],
    ['name', a.name || '-'],
    ['type', a.type],
    ['status', a.status === 'on' ? 'on' : `off (${a.offReason ?? 'unknown reason'})`],
  ];
  if (a.statusNote) rows.push(['status note', a.statusNote]);
  rows.push(['balance', usd(a.balance)]);
  if (a.type === 'postpaid') {
    rows.push(['credit limit', usd(a.creditLimit)]);
    rows.push(['owed', usd(a.owed ?? 0)]);
  }
  rows.push(
    ['reserved', usd(a.reserved)],
    ['available', usd(a.available)],
    ['low balance at', a.lowBalanceThreshold > 0 ? usd(a.lowBalanceThreshold) : '-'],
  );
  if (lastPayment !== undefined) {
    rows.push(['last payment', lastPayment ? `${usd(lastPayment.amount)} at ${lastPayment.at} (payment ${lastPayment.paymentId})` : '-']);
  }
  rows.push(
    ['channels', `${a.channels} per switch`],
    ['cps', a.cps > 0 ? `${a.cps} (burst ${a.burst})` : '0 (no new calls)'],
  );
  if (a.liveCalls) {
    const bySwitch = bySwitchText(a.liveCalls.bySwitch);
    rows.push(['live calls', bySwitch ? `${a.liveCalls.total} (${bySwitch})` : String(a.liveCalls.total)]);
  }
  rows.push(
    ['source ips', a.ips.join(', ') || '-'],
    ['tech prefix', a.techPrefix ?? '-'],
    ['rate deck', a.deckId || '-'],
    ['billing country', a.billingCountry || '-'],
    ['fusf on file', a.fusfOnFile ? 'yes' : 'no'],
    ['tax exempt', a.taxExempt ? 'yes' : 'no (taxes appear in CDRs)'],
    ['updated', a.updatedAt ?? '-'],
  );
  return keyValueTable(rows);
}

export const JSON_FIELDS_HELP = `
JSON fields (--json): the account as GET /v1/accounts/:id returns it
  id, name, type ("prepaid"|"postpaid"), status ("on"|"off"),
  offReason ("depleted"|"credit_limit"|"manual"|null), statusNote, statusChangedAt,
  balance, reserved, available, owed, creditLimit, lowBalanceThreshold
      money as integer micro-dollars (1 USD = 1000000); owed is null for prepaid
  balanceUsd, reservedUsd, availableUsd, owedUsd, creditLimitUsd, lowBalanceThresholdUsd
      the same amounts as decimal dollar strings ("12.500000")
  channels, cps, burst, ips[], techPrefix, deckId, billingCountry, fusfOnFile, taxExempt,
  updatedAt (ISO 8601 UTC), liveCalls {total, bySwitch {<switchId>: count}}
  account get only: lastPayment {paymentId, amount, amountUsd, at} or null`;
