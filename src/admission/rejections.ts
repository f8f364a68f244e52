import type { Config, RejectReason } from '../config/schema.js';

/** Readable text for each refusal, sent in the RFC 3326 Reason header and written to the attempt CDR. */
export const REJECT_TEXT: Record<RejectReason, string> = {
  unknown_account: 'Unknown source or account',
  no_rate: 'No rate for the dialed destination',
  off_manual: 'Account suspended',
  off_funds: 'Account disabled for funds',
  insufficient_funds: 'Insufficient funds',
  cps_exceeded: 'Call rate limit exceeded',
  channel_limit: 'Channel limit reached on this switch',
  unavailable: 'Admission temporarily unavailable',
};

/** A refused INVITE: the one shape every rejection takes on its way to the SIP response. */
export class AdmissionRejection extends Error {
  override readonly name = 'AdmissionRejection';
  constructor(
    readonly reason: RejectReason,
    readonly sipStatus: number,
    readonly text: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(`${reason}: ${text}`);
  }

  /** RFC 3326 Reason header value. */
  get reasonHeader(): string {
    return `SIP;cause=${this.sipStatus};text="${this.text}"`;
  }
}

export function createRejections(sip: Config['sip']) {
  return function reject(reason: RejectReason, retryAfterMs?: number): AdmissionRejection {
    const retry = reason === 'cps_exceeded' ? Math.max(sip.retryAfterSeconds, Math.ceil((retryAfterMs ?? 0) / 1000)) : undefined;
    return new AdmissionRejection(reason, sip.codes[reason], REJECT_TEXT[reason], retry);
  };
}
