import type { Config } from '../config/schema.js';
import { REJECT_TEXT, type RejectReason } from '../model/index.js';

export { REJECT_TEXT };

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
  /** `detail` is added to the reason's text (a fraud block names its rule). */
  return function reject(reason: RejectReason, retryAfterMs?: number, detail?: string): AdmissionRejection {
    let retry: number | undefined;
    if (reason === 'cps_exceeded') retry = Math.max(sip.retryAfterSeconds, Math.ceil((retryAfterMs ?? 0) / 1000));
    // the overload guard's Retry-After is already jittered, and sent only when the load is severe
    else if (reason === 'overloaded' && retryAfterMs !== undefined) retry = Math.ceil(retryAfterMs / 1000);
    return new AdmissionRejection(reason, sip.codes[reason], detail ? `${REJECT_TEXT[reason]}: ${detail}` : REJECT_TEXT[reason], retry);
  };
}
