/**
 * The gaps in drachtio-srf's bundled types, filled once here rather than with `any` around the code.
 * - requests carry `locals` (middleware hands its decision on there) and `getHeaderName`;
 * - `createB2BUA` accepts `passFailure` and the progress callbacks with `cbFinalizedUac`;
 * - `srf.use` takes a 4-argument error handler (connect-style, lib/proto.js);
 * - a failed UAC leg rejects with an error that carries the final `status`.
 */
import type Srf from 'drachtio-srf';
import type { AdmittedCall } from '../admission/admit.js';

export interface CallgateLocals {
  /** The admission decision of this INVITE, set by admissionControl before next(). */
  callgate?: AdmittedCall;
  [key: string]: unknown;
}

export type SrfRequest = Srf.SrfRequest & {
  locals: CallgateLocals;
  getHeaderName(name: string): string | undefined;
  callingNumber?: string;
};
export type SrfResponse = Srf.SrfResponse;
export type SrfDialog = Srf.Dialog;
export type NextFunction = (err?: unknown) => void;
export type SipMiddleware = (req: SrfRequest, res: SrfResponse, next: NextFunction) => void;
export type SipErrorHandler = (err: unknown, req: SrfRequest, res: SrfResponse, next: NextFunction) => void;

/** What createB2BUA rejects with when the B leg gets a final non-2xx (or a timeout, as 408). */
export interface UacFailure extends Error {
  status?: number;
  reason?: string;
}

export function uacFailureStatus(err: unknown): number {
  const s = (err as UacFailure | undefined)?.status;
  return typeof s === 'number' && s >= 300 && s < 700 ? s : 500;
}

/**
 * Connect-style middleware only routes synchronous throws to next(err): this wrapper makes an async
 * middleware's rejection reach the error handler too.
 */
export function asyncMiddleware(fn: (req: SrfRequest, res: SrfResponse, next: NextFunction) => Promise<void>): SipMiddleware {
  return (req, res, next) => {
    fn(req, res, next).catch(next);
  };
}
