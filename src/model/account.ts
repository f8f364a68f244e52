/** An account's commercial type: prepaid spends a balance, postpaid a credit line. */
export type AccountType = 'prepaid' | 'postpaid';

/** ON admits calls; OFF refuses every INVITE and ends the account's live calls. */
export type AccountStatus = 'on' | 'off';

/**
 * Why an account is OFF. `depleted` (prepaid) and `credit_limit` (postpaid) are set by the engine when the
 * money runs out and are lifted by a payment; `manual` is an engineer's, and only an engineer lifts it;
 * `msa_violation` is set by a critical traffic alert on an account with autoSuspend, and is lifted, like
 * `manual`, only by an engineer.
 */
export type OffReason = 'depleted' | 'credit_limit' | 'manual' | 'msa_violation';

/** OFF reasons only an engineer lifts: the account's calls end as for an engineer's OFF, not for funds. */
export function isEngineersOff(reason: OffReason | ''): boolean {
  return reason === 'manual' || reason === 'msa_violation';
}

/**
 * What identification and rating need of an account, held in every instance's memory so that an INVITE
 * costs one Redis call. Written to the catalog by src/accounts, decoded by parseEntry in src/admission/directory.ts.
 */
export interface CatalogEntry {
  id: string;
  type: AccountType;
  /** Source addresses and CIDR ranges the account's traffic comes from. */
  ips: string[];
  /** Request-URI user prefix that tells accounts sharing an address apart; stripped before rating. */
  techPrefix: string | null;
  deckId: string;
  taxExempt: boolean;
}
