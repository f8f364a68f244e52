import Srf from 'drachtio-srf';
import { callLogger, type Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { CallRegistry } from '../calls/registry.js';
import { CallSession, type CallEnd, type SessionDeps } from '../calls/session.js';
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
 * (`send(status, reason?, opts?, callback?)`, or `send(status, opts?, callback?)`).
 */
export function giveEveryFinalResponseAReason(res: SrfResponse): void {
  const send = res.send.bind(res) as (status: number, ...rest: unknown[]) => unknown;
  const isOpts = (v: unknown): v is { headers?: Record<string, string> } => typeof v === 'object' && v !== null;
  (res as { send: unknown }).send = (status: number, ...rest: unknown[]) => {
    if (typeof status !== 'number' || status < 300) return send(status, ...rest);
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
    return send(status, ...args);
  };
}

/** 5xx and timeouts move on to the next route; 4xx and 6xx are the callee's answer and go back to the caller. */
export function shouldTryNextRoute(status: number): boolean {
  return (status >= 500 && status < 600) || status === 408;
}

/**
 * The INVITE handler after admission: bridges the call as a B2BUA to the switch routes in order, and
 * drives the call's session from the dialogs' events so that every path ends in one finalize.
 */
export function createBridge({ srf, routeUris, registry, logger, metrics, session: sessionDeps }: BridgeDeps) {
  return async function bridgeCall(req: SrfRequest, res: SrfResponse): Promise<void> {
    const call = req.locals.callgate;
    if (!call) throw new Error('bridgeCall reached without an admission decision: admissionControl must run first');
    giveEveryFinalResponseAReason(res);
    const log = callLogger(logger, { callId: call.callId, accountId: call.account.id, switchId: sessionDeps.config.switchId });
    let legs: { uas: SrfDialog; uac: SrfDialog } | undefined;
    let cancelled = false;
    req.on('cancel', () => {
      cancelled = true;
    });

    const session = new CallSession(call, {
      ...sessionDeps,
      hangup: async ({ cause, text }) => {
        const headers = { Reason: reasonHeader(cause, text) };
        if (legs) {
          legs.uas.destroy({ headers });
          legs.uac.destroy({ headers });
        } else if (!res.finalResponseSent) {
          // before answer the cause is the final response itself: the CDR's SIP code is this one (CALL_END_RULES)
          res.send(cause, { headers });
        }
      },
      onClosed: (s) => {
        registry.remove(s);
        metrics?.liveCalls.set(registry.size());
      },
    });
    registry.add(session);
    metrics?.liveCalls.set(registry.size());
    const end = (e: CallEnd) => session.end(e);

    let lastStatus = 503;
    for (const route of routeUris) {
      if (session.ended) return;
      if (cancelled) {
        // CANCEL arrived while admission ran: no B leg was ever tried
        if (!res.finalResponseSent) res.send(487, { headers: { Reason: reasonHeader(487, 'Request terminated') } });
        await end({ kind: 'cancel' });
        return;
      }
      try {
        legs = await srf.createB2BUA(req, res, routeTarget(route, call.destination), {
          passFailure: false,
          proxyRequestHeaders: [],
        }, {
          cbFinalizedUac: () => session.markAnswered(),
        });
        break;
      } catch (err) {
        lastStatus = uacFailureStatus(err);
        if (cancelled || lastStatus === 487) {
          await end({ kind: 'cancel' });
          return;
        }
        if (!shouldTryNextRoute(lastStatus)) break;
        log.info({ route, status: lastStatus }, 'route failed; trying the next');
      }
    }
    if (!legs) {
      if (!res.finalResponseSent) res.send(lastStatus, { headers: { Reason: upstreamFailureReason(lastStatus) } });
      await end({ kind: 'upstream_failure', sipCode: lastStatus });
      return;
    }
    session.markAnswered();
    const { uas, uac } = legs;
    if (session.ended) {
      // torn down (account OFF, funds) while the B leg was being set up
      uas.destroy();
      uac.destroy();
      return;
    }
    uas.on('destroy', () => {
      uac.destroy();
      void end({ kind: 'bye', by: 'caller' });
    });
    uac.on('destroy', () => {
      uas.destroy();
      void end({ kind: 'bye', by: 'callee' });
    });
  };
}
