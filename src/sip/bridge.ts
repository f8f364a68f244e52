import Srf from 'drachtio-srf';
import { callFields, type Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { CallRegistry } from '../calls/registry.js';
import { CallSession, type SessionDeps } from '../calls/session.js';
import type { HangupCause } from '../model/index.js';
import { uacFailureStatus, type SrfDialog, type SrfRequest, type SrfResponse } from './srf-augment.js';

export interface BridgeDeps {
  srf: Srf;
  routeUris: readonly string[];
  registry: CallRegistry;
  logger: Logger;
  metrics?: Metrics;
  session: Omit<SessionDeps, 'hangup' | 'onClosed'>;
}

/** Builds the B-leg Request-URI: the route's host with the dialed destination as its user. */
export function routeTarget(routeUri: string, destination: string): string {
  const u = Srf.parseUri(routeUri);
  if (!u || !u.host) return routeUri;
  const port = u.port ? `:${u.port}` : '';
  const params = Object.entries(u.params ?? {})
    .map(([k, v]) => (v === null ? `;${k}` : `;${k}=${v}`))
    .join('');
  return `${u.scheme}:${encodeURIComponent(destination)}@${u.host}${port}${params}`;
}

/** An RFC 3326 Reason header value for a response callgate sends itself. */
export function reasonHeader(status: number, text: string): string {
  return `SIP;cause=${status};text="${text}"`;
}

/**
 * The Reason of the final response when no route connected: the switch's own final answer (busy, no
 * answer, or a failure), or 500 when the B leg could not even be tried. Never the switch's reason phrase:
 * that is SIP text from elsewhere.
 */
export function upstreamFailureReason(status: number): string {
  if (status === 486 || status === 600) return reasonHeader(status, 'Busy');
  if (status === 408 || status === 480 || status === 487) return reasonHeader(status, 'No answer');
  return reasonHeader(status, 'Upstream failure');
}

/** The Reason of a final response callgate did not word itself: drachtio-srf's own 487 and 500, or a switch's answer. */
function defaultReason(status: number): string {
  return status === 487 ? reasonHeader(487, 'Request terminated') : upstreamFailureReason(status);
}

/**
 * Makes every final response sent through this call's `res` carry a Reason. createB2BUA answers the caller
 * itself in places, without one: 500 when the INVITE to the switch cannot be sent, 487 on a CANCEL. A
 * response that already has a Reason keeps it. Takes drachtio-srf's argument forms
 * (`send(status, reason?, opts?, callback?)`, or `send(status, opts?, callback?)`). Returns what puts `res`
 * back as it was: once the call is answered no final response can follow, and the wrapper need not live
 * as long as the call.
 */
export function giveEveryFinalResponseAReason(res: SrfResponse): () => void {
  const target = res as { send: unknown };
  const own = Object.prototype.hasOwnProperty.call(res, 'send');
  const original = target.send;
  const send = res.send.bind(res) as (status: number, ...rest: unknown[]) => unknown;
  target.send = (status: number, ...rest: unknown[]) => {
    if (typeof status !== 'number' || status < 300) return send(status, ...rest);
    return send(status, ...withReason(status, rest));
  };
  return () => {
    if (own) target.send = original;
    else delete (target as { send?: unknown }).send;
  };
}

const isOpts = (v: unknown): v is { headers?: Record<string, string> } => typeof v === 'object' && v !== null;

/** send()'s arguments after the status, with a Reason in the options unless they carry one already. */
function withReason(status: number, rest: readonly unknown[]): unknown[] {
  const args = [...rest];
  let at = 0;
  if (typeof args[0] === 'function') args.unshift({});
  else if (!isOpts(args[0])) {
    at = 1; // a reason phrase (or nothing) first, then the options
    if (typeof args[1] === 'function') args.splice(1, 0, {});
    else if (!isOpts(args[1])) args[1] = {};
  }
  const opts = args[at] as { headers?: Record<string, string> };
  const headers = { ...(opts.headers ?? {}) };
  if (!Object.keys(headers).some((k) => k.toLowerCase() === 'reason')) headers.Reason = defaultReason(status);
  args[at] = { ...opts, headers };
  return args;
}

/** 5xx and timeouts move on to the next route; 4xx and 6xx are the callee's answer and go back to the caller. */
export function shouldTryNextRoute(status: number): boolean {
  return (status >= 500 && status < 600) || status === 408;
}

/** Both legs of an answered call. */
interface Legs {
  uas: SrfDialog;
  uac: SrfDialog;
}

/**
 * What the bridge holds of one live call on the wire: the caller's response until both legs exist, then
 * the legs (the response is then drachtio-srf's, not callgate's, to keep).
 */
interface CallWire {
  res: SrfResponse | undefined;
  legs: Legs | undefined;
}

/** Ends the call on the wire with callgate's cause: a BYE on both legs after answer, the final response before. */
function hangUpWire(wire: CallWire | undefined, { cause, text }: HangupCause): void {
  if (!wire) return;
  const headers = { Reason: reasonHeader(cause, text) };
  if (wire.legs) {
    wire.legs.uas.destroy({ headers });
    wire.legs.uac.destroy({ headers });
  } else if (wire.res && !wire.res.finalResponseSent) {
    // before answer the cause is the final response itself: the CDR's SIP code is this one (CALL_END_RULES)
    wire.res.send(cause, { headers });
  }
}

/**
 * Whether the caller has sent CANCEL, watched only while the routes are tried. Built outside the INVITE
 * handler so that drachtio-srf, which keeps the request for the dialog's life, keeps no closure over it.
 */
function watchCancel(req: SrfRequest): { readonly cancelled: boolean; stop(): void } {
  const watch = { cancelled: false, stop: () => void req.off('cancel', onCancel) };
  const onCancel = () => {
    watch.cancelled = true;
  };
  req.on('cancel', onCancel);
  return watch;
}

/**
 * createB2BUA's progress callbacks for one call. Made here, not in the INVITE handler: createB2BUA's own
 * listeners hold them for the call's life, and with them whatever scope they were made in.
 */
const progressOf = (session: CallSession) => ({ cbFinalizedUac: () => session.markAnswered() });

/** After answer the two legs end together: the destroy of either BYEs the other and ends the session. */
function joinLegs(session: CallSession, { uas, uac }: Legs): void {
  uas.on('destroy', () => {
    uac.destroy();
    void session.end({ kind: 'bye', by: 'caller' });
  });
  uac.on('destroy', () => {
    uas.destroy();
    void session.end({ kind: 'bye', by: 'callee' });
  });
}

/**
 * The INVITE handler after admission: bridges the call as a B2BUA to the switch routes in order, and
 * drives the call's session from the dialogs' events so that every path ends in one finalize.
 *
 * A live call holds little of its own here: its session, its wire (the legs), and the two destroy listeners.
 * The sessions share one deps object; the handler's own scope, with the request and the response, is let
 * go once the call is answered.
 */
export function createBridge({ srf, routeUris, registry, logger, metrics, session: sessionDeps }: BridgeDeps) {
  const switchId = sessionDeps.config.switchId;
  // keyed by the session, so that the one shared hangup finds its call's wire; it goes with the session
  const wires = new WeakMap<CallSession, CallWire>();
  const deps: SessionDeps = {
    ...sessionDeps,
    hangup: (cause, session) => hangUpWire(wires.get(session), cause),
    // the wire is not dropped here: a lease-lost teardown closes the session before it hangs up
    onClosed: (s) => {
      registry.remove(s);
      metrics?.liveCalls.set(registry.size());
    },
  };

  return async function bridgeCall(req: SrfRequest, res: SrfResponse): Promise<void> {
    const call = req.locals.callgate;
    if (!call) throw new Error('bridgeCall reached without an admission decision: admissionControl must run first');
    const restoreSend = giveEveryFinalResponseAReason(res);
    const cancel = watchCancel(req);
    const session = new CallSession(call, deps);
    const wire: CallWire = { res, legs: undefined };
    wires.set(session, wire);
    registry.add(session);
    metrics?.liveCalls.set(registry.size());
    try {
      let lastStatus = 503;
      for (const route of routeUris) {
        if (session.ended) return;
        if (cancel.cancelled) {
          // CANCEL arrived while admission ran: no B leg was ever tried
          if (!res.finalResponseSent) res.send(487, { headers: { Reason: reasonHeader(487, 'Request terminated') } });
          await session.end({ kind: 'cancel' });
          return;
        }
        try {
          wire.legs = await srf.createB2BUA(req, res, routeTarget(route, call.destination), {
            passFailure: false,
            proxyRequestHeaders: [],
          }, progressOf(session));
          break;
        } catch (err) {
          lastStatus = uacFailureStatus(err);
          if (cancel.cancelled || lastStatus === 487) {
            await session.end({ kind: 'cancel' });
            return;
          }
          if (!shouldTryNextRoute(lastStatus)) break;
          logger.info({ ...callFields(logger, session, switchId), route, status: lastStatus }, 'route failed; trying the next');
        }
      }
      const legs = wire.legs;
      if (!legs) {
        if (!res.finalResponseSent) res.send(lastStatus, { headers: { Reason: upstreamFailureReason(lastStatus) } });
        await session.end({ kind: 'upstream_failure', sipCode: lastStatus });
        return;
      }
      // answered: the final response is sent, and the call no longer needs its response or the Reason wrapper
      wire.res = undefined;
      restoreSend();
      session.markAnswered();
      if (session.ended) {
        // torn down (account OFF, funds) while the B leg was being set up
        legs.uas.destroy();
        legs.uac.destroy();
        return;
      }
      joinLegs(session, legs);
    } finally {
      cancel.stop();
    }
  };
}
