import type { Rate } from '../rating/index.js';
import type { CatalogEntry } from './account.js';

/** The CDR disposition of an admitted call. */
export type Disposition = 'answered' | 'unanswered' | 'cancelled' | 'failed' | 'busy' | 'torn_down' | 'orphaned';

/** Every CDR disposition, refused INVITEs' `rejected` included. A closed set: a metric label and a CDR column. */
export const CDR_DISPOSITIONS = [
  'answered',
  'unanswered',
  'cancelled',
  'failed',
  'busy',
  'torn_down',
  'orphaned',
  'rejected',
] as const satisfies readonly (Disposition | 'rejected')[];
export type CdrDisposition = (typeof CDR_DISPOSITIONS)[number];

/**
 * The CDR fields known when the INVITE arrived, on both branches of admission. An admitted call's seed is
 * stored as JSON in its live-call record (src/redis/codecs/call-record.ts) and copied verbatim by the
 * finalize and sweep scripts into the CDR stream entry; a refused INVITE's seed goes straight to the CDR
 * builder. Either way src/cdr/builder.ts turns it into the CDR with the same code.
 */
export interface CdrSeed {
  sipCallId: string;
  /** null when the source could not be identified. */
  accountId: string | null;
  from: string;
  /** The dialed destination: the Request-URI user without the account's tech prefix, once identified. */
  to: string;
  srcIp: string;
  /** Epoch ms, instance clock, when the INVITE arrived. */
  invitedAt: number;
  /** The rate's fields, once the destination was rated; '' and null before. */
  prefix: string;
  ratePerMin: number | null;
  connectFee: number | null;
  firstIncrement: number | null;
  nextIncrement: number | null;
  taxExempt: boolean;
}

/** The seed of an admitted call: identified and rated. */
export interface AdmittedSeed extends CdrSeed {
  accountId: string;
  ratePerMin: number;
  connectFee: number;
  firstIncrement: number;
  nextIncrement: number;
}

/** An INVITE admission let through: what the bridge and the call's session need. */
export interface AdmittedCall {
  /** callgate's own id of the call (not the SIP Call-ID). */
  callId: string;
  account: CatalogEntry;
  destination: string;
  rate: Rate;
  /** The first reservation held by the admit script, micro-dollars. */
  reservation: number;
  seed: AdmittedSeed;
  leaseExpiryMs: number;
  /** The prefix of the fraud rule the call was counted under (src/traffic/fraud.ts), if any: it leaves the rule's live count at finalize. */
  watchedPrefix?: string;
  /** Tear the call down at this talk time (the account's traffic maxCallSeconds), if set. */
  maxCallSeconds?: number;
}
