/**
 * The gaps in drachtio-srf's bundled types (lib/@types/index.d.ts), filled once here, as a real module
 * augmentation, so that neither callgate nor a carrier's application needs a cast at `srf.use`,
 * `srf.invite` or `srf.connect` (with the handler types below):
 * - requests carry `locals` (middleware hands its decision on there, lib/connect.js) and `getHeaderName`,
 *   and, being EventEmitters (lib/request.js), can drop a listener again with `off`;
 * - `srf.connect` takes the `reconnect` backoff options (lib/wire-protocol.js);
 * - a failed UAC leg rejects with an error that carries the final `status`.
 * The package's own `index.d.ts` imports this file, so the augmentation reaches every consumer.
 */
import type Srf from 'drachtio-srf';
import type { AdmittedCall } from '../model/call.js';

export interface CallgateLocals {
  /** The admission decision of this INVITE, set by callgate's admission middleware before next(). */
  callgate?: AdmittedCall;
  [key: string]: unknown;
}

/**
 * drachtio-srf types `next` as `Function` (lib/@types/index.d.ts); the union keeps a handler written
 * against it assignable to `srf.use` while callgate's own code calls it as what it is.
 */
export type NextFunction = ((err?: unknown) => void) | Function;
/** A connect-style SIP middleware, as `srf.use(...)` takes it. */
export type SipMiddleware = (req: Srf.SrfRequest, res: Srf.SrfResponse, next: NextFunction) => void;
/** The last handler of an INVITE, as `srf.invite(...)` takes it. */
export type SipHandler = (req: Srf.SrfRequest, res: Srf.SrfResponse) => void;

declare module 'drachtio-srf' {
  // drachtio-srf exports its `Srf` namespace with `export =`: these merge into that namespace's interfaces
  interface SrfRequest {
    locals: CallgateLocals;
    /** The header's name as the sender spelled it, or undefined when the request has none. */
    getHeaderName(name: string): string | undefined;
    /** Removes a listener added with `on` (EventEmitter's own `off`). */
    off(event: 'cancel', callback: (req: Srf.SrfRequest) => void): this;
  }
  interface ReconnectOptions {
    /** The longest wait between two connection attempts, in ms. */
    retryMaxDelay?: number;
  }
  interface SrfConfig {
    reconnect?: ReconnectOptions;
  }
}

export type SrfRequest = Srf.SrfRequest;
export type SrfResponse = Srf.SrfResponse;
export type SrfDialog = Srf.Dialog;

/** What createB2BUA rejects with when the B leg gets a final non-2xx (or a timeout, as 408). */
export interface UacFailure extends Error {
  status?: number;
  reason?: string;
}

export function uacFailureStatus(err: unknown): number {
  const s = (err as UacFailure | undefined)?.status;
  return typeof s === 'number' && s >= 300 && s < 700 ? s : 500;
}

