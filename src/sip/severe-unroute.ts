import type Srf from 'drachtio-srf';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';

/** drachtio-srf's route switches (lib/srf.js), missing from its bundled types. */
interface InviteRouting {
  unregisterForMessages(verb: string): void;
  reregisterForMessages(verb: string): void;
}

/** Whether this Srf can take a route off drachtio-server and put it back (drachtio-srf 4.5.37 and later). */
export function hasInviteRouting(srf: object): srf is InviteRouting {
  return 'unregisterForMessages' in srf && typeof srf.unregisterForMessages === 'function'
    && 'reregisterForMessages' in srf && typeof srf.reregisterForMessages === 'function';
}

export interface SevereUnrouteDeps {
  srf: Srf;
  logger: Logger;
  metrics: Pick<Metrics, 'inviteRouteOff' | 'inviteRouteOffSeconds'>;
  /** The load level (0-1) from which the route is taken off. */
  severeLevel: number;
  /** The least time the route stays off; 0 never takes it off. */
  holdMs: number;
  now?: () => number;
}

/**
 * The cheapest refusal there is, for the guard's severe level: callgate takes its INVITE route off
 * drachtio-server (`remove_route|invite`, drachtio-srf's unregisterForMessages), and drachtio-server answers
 * each new INVITE itself, statelessly, with `100 Trying` and a bare `503 Service Unavailable`: no message
 * reaches this process, where a refusal of its own costs three messages on the link and the work of parsing
 * and answering. The price: that 503 carries no Reason and no Retry-After, and callgate cannot count those
 * INVITEs or write their attempt CDRs (drachtio-server counts them, in
 * `drachtio_sip_responses_out_total{method="INVITE",code="503"}`). Requests of live dialogs are routed by
 * their dialog and are not affected.
 *
 * The route goes back once the level is below `severeLevel` again and it has been off for `holdMs`, and at
 * once when the link to drachtio-server comes back (drachtio-srf re-sends only the routes it still holds).
 * drachtio-server's remove_route drops every route this connection holds (callgate holds only INVITE's);
 * the route is taken off only while connected, since drachtio-srf forgets a removal made while disconnected.
 */
export function createSevereUnroute({ srf, logger, metrics, severeLevel, holdMs, now = Date.now }: SevereUnrouteDeps) {
  const routing = hasInviteRouting(srf) ? srf : undefined;
  if (!routing && holdMs > 0) logger.warn('overload: this drachtio-srf cannot take its INVITE route off drachtio-server; the severe level refuses in callgate');
  let connected = false;
  let offSince: number | undefined;

  function restore(why: string): void {
    if (offSince === undefined) return;
    const seconds = (now() - offSince) / 1000;
    offSince = undefined;
    try {
      routing?.reregisterForMessages('invite');
    } catch (err) {
      // 'duplicate route request': drachtio-srf holds the route already
      logger.debug({ err }, 'INVITE route already held');
    }
    metrics.inviteRouteOff.set(0);
    metrics.inviteRouteOffSeconds.inc(seconds);
    logger.warn({ seconds, why }, 'overload: INVITE route back on drachtio-server; callgate answers new INVITEs again');
  }

  const onConnect = (err: Error | null) => {
    if (err) return;
    connected = true;
    restore('the link to drachtio-server is back');
  };
  const onClose = () => {
    connected = false;
  };
  srf.addListener('connect', onConnect);
  // addListener: drachtio-srf's types list its SIP methods under on(), not the link's 'close'
  srf.addListener('close', onClose);

  return {
    /** Called once per sample window with the guard's level. */
    update(level: number): void {
      if (offSince === undefined) {
        if (!routing || holdMs <= 0 || !connected || !(level >= severeLevel)) return;
        try {
          routing.unregisterForMessages('invite');
        } catch (err) {
          logger.warn({ err }, 'overload: could not take the INVITE route off drachtio-server');
          return;
        }
        offSince = now();
        metrics.inviteRouteOff.set(1);
        logger.warn({ level, holdMs }, 'overload: severe, INVITE route taken off drachtio-server; it answers new INVITEs 503 itself');
        return;
      }
      if (level < severeLevel && now() - offSince >= holdMs) restore('the load fell below the severe level');
    },
    isOff: () => offSince !== undefined,
    /** Puts the route back (if off) and stops listening to the link. */
    stop(): void {
      restore('callgate stops');
      srf.removeListener('connect', onConnect);
      srf.removeListener('close', onClose);
    },
  };
}

export type SevereUnroute = ReturnType<typeof createSevereUnroute>;
