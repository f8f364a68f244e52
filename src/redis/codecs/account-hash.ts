import type { AccountStatus, AccountType, OffReason } from '../../model/account.js';

/**
 * The account hash keeps what every INVITE reads in two packed fields (see includes/common.lua):
 *   limits = type|creditLimit|channels|cps|burst|lowBalanceThreshold   (set by account-put and set-limits)
 *   state  = status|offReason|balance|reserved|tokens|tokensAt|lowArmed|burn|burnAt (owned by the scripts)
 * Every other field is descriptive and stored as plain hash fields. This module is the only TypeScript
 * that knows the packing.
 */
export interface AccountLimits {
  type: AccountType;
  creditLimit: number;
  channels: number;
  cps: number;
  burst: number;
  lowBalanceThreshold: number;
}

export interface AccountState {
  status: AccountStatus;
  offReason: OffReason | '';
  balance: number;
  reserved: number;
  /** Spend rate, micro-dollars per second, as of burnAt: a decaying average of debits (tau 300 s). */
  burn: number;
  /** Redis time (epoch ms) of the last debit; 0 when never debited. */
  burnAt: number;
}

/** The descriptive hash fields account-put writes beside the packed limits (toAccountPut in src/accounts). */
export const DESCRIPTIVE_FIELDS = ['name', 'fusfOnFile', 'billingCountry', 'taxExempt', 'deckId', 'ips', 'techPrefix', 'updatedAt'] as const;

/**
 * Every field an account hash holds: the two packed fields, the descriptive fields and the note set-status
 * keeps. The account-view script reads exactly these, in this order, by name: its list and this one must match.
 */
export const ACCOUNT_VIEW_FIELDS = ['limits', 'state', ...DESCRIPTIVE_FIELDS, 'statusNote', 'statusChangedAt'] as const;

/** The time constant of the burn rate's decay, as in includes/common.lua. */
export const BURN_TAU_MS = 300_000;

export class CorruptAccountError extends Error {
  override readonly name = 'CorruptAccountError';
}

/** The limits as the account-put script takes them: '' keeps the stored value. */
export function limitsArgs(l: Partial<AccountLimits>): string[] {
  const arg = (v: string | number | undefined) => (v === undefined ? '' : String(v));
  return [arg(l.type), arg(l.creditLimit), arg(l.channels), arg(l.cps), arg(l.burst), arg(l.lowBalanceThreshold)];
}

export function decodeLimits(packed: string | undefined): AccountLimits {
  const p = (packed ?? '').split('|');
  if (p.length !== 6 || (p[0] !== 'prepaid' && p[0] !== 'postpaid')) throw new CorruptAccountError(`account limits field is malformed`);
  return {
    type: p[0],
    creditLimit: Number(p[1]),
    channels: Number(p[2]),
    cps: Number(p[3]),
    burst: Number(p[4]),
    lowBalanceThreshold: Number(p[5]),
  };
}

export function decodeState(packed: string | undefined): AccountState {
  const p = (packed ?? '').split('|');
  if ((p.length !== 7 && p.length !== 9) || (p[0] !== 'on' && p[0] !== 'off')) throw new CorruptAccountError(`account state field is malformed`);
  return {
    status: p[0], offReason: p[1] as OffReason | '', balance: Number(p[2]), reserved: Number(p[3]),
    burn: Number(p[7] ?? 0) || 0, burnAt: Number(p[8] ?? 0) || 0,
  };
}

/** Decodes an HGETALL of an account hash: packed fields expanded, descriptive fields as stored. */
export function decodeAccountHash(hash: Record<string, string>): AccountLimits & AccountState & { fields: Record<string, string> } {
  const { limits, state, ...fields } = hash;
  const l = decodeLimits(limits);
  const s = decodeState(state);
  // written out: spreading both into one literal took V8 ~10 µs a call, this well under 1 µs
  return {
    type: l.type, creditLimit: l.creditLimit, channels: l.channels, cps: l.cps, burst: l.burst, lowBalanceThreshold: l.lowBalanceThreshold,
    status: s.status, offReason: s.offReason, balance: s.balance, reserved: s.reserved, burn: s.burn, burnAt: s.burnAt,
    fields,
  };
}
