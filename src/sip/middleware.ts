import { randomUUID } from 'node:crypto';
import Srf from 'drachtio-srf';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { seedOf, type AdmitInvite, type InviteFacts } from '../admission/admit.js';
import type { CdrSeed } from '../model/index.js';
import { AdmissionRejection, createRejections } from '../admission/rejections.js';
import type { RejectedAttempt } from '../cdr/builder.js';
import type { SipMiddleware, SrfRequest, SrfResponse } from './srf-augment.js';

export interface AdmissionControlDeps {
  admitInvite: AdmitInvite;
  config: Pick<Config, 'identification' | 'switchId' | 'sip' | 'cdr'>;
  logger: Logger;
  metrics?: Metrics;
  /** The attempt CDR of a refused INVITE (written straight to this instance's files). */
  recordRejection?: (attempt: RejectedAttempt) => void;
  /** True while the instance drains for shutdown: every new INVITE gets 503. */
  isDraining?: () => boolean;
}

/** The user part of a SIP URI, with RFC 3261 escapes decoded (a tech prefix `1001#` may arrive as `1001%23`). */
export const userOf = (uri: string | undefined): string => {
  if (!uri) return '';
  let user: string;
  try {
    user = Srf.parseUri(uri)?.user ?? '';
  } catch {
    return '';
  }
  if (!user.includes('%')) return user;
  try {
    return decodeURIComponent(user);
  } catch {
    return user; // a malformed escape stays as it came: it will simply match no account or rate
  }
};

/** The INVITE facts admission needs, read once from the request. SIP values stay opaque strings here. */
export function inviteFacts(req: SrfRequest, trustedHeader: string, receivedAt: number): InviteFacts {
  let fromUser = '';
  try {
    fromUser = userOf(req.getParsedHeader('From').uri);
  } catch {
    fromUser = '';
  }
  return {
    sipCallId: req.get('Call-ID') ?? '',
    sourceIp: req.source_address,
    ruriUser: userOf(req.uri),
    fromUser,
    toUser: userOf(req.uri),
    trustedAccountId: req.has(trustedHeader) ? req.get(trustedHeader) : undefined,
    receivedAt,
  };
}

/**
 * drachtio-srf middleware: `srf.use('invite', admissionControl(deps))`. Identifies the account, runs the
 * one admit script, and either refuses the INVITE (one function: code, Reason header, metrics, attempt
 * CDR) or hands it on with the decision on `req.locals.callgate`. It fails closed by itself: whatever
 * goes wrong inside is logged and the INVITE refused with 503 `unavailable`, so it needs no error
 * handler of the application's and never hands an error to next().
 */
export function admissionControl(deps: AdmissionControlDeps): SipMiddleware {
  const { config, logger, metrics } = deps;
  const unavailable = createRejections(config.sip)('unavailable');

  function rejectInvite(res: SrfResponse, rejection: AdmissionRejection, callId: string, seed: CdrSeed): void {
    const headers: Record<string, string> = { Reason: rejection.reasonHeader };
    if (rejection.retryAfterSeconds !== undefined) headers['Retry-After'] = String(rejection.retryAfterSeconds);
    if (!res.finalResponseSent) res.send(rejection.sipStatus, { headers });
    metrics?.invites.labels('rejected', rejection.reason).inc();
    if (config.cdr.recordRejected) {
      deps.recordRejection?.({ callId, switchId: config.switchId, seed, endedAt: Date.now(), sipCode: rejection.sipStatus, reason: rejection.reason });
    }
    logger.debug({ callId, accountId: seed.accountId, reason: rejection.reason, sipStatus: rejection.sipStatus }, 'INVITE refused');
  }

  async function admit(req: SrfRequest, res: SrfResponse, next: () => void): Promise<void> {
    const receivedAt = Date.now();
    const started = performance.now();
    const facts = inviteFacts(req, config.identification.trustedHeader, receivedAt);
    if (deps.isDraining?.()) {
      rejectInvite(res, unavailable, randomUUID(), seedOf(facts));
      return;
    }
    const decision = await deps.admitInvite(facts);
    metrics?.admissionSeconds.observe((performance.now() - started) / 1000);
    if (!decision.admitted) {
      rejectInvite(res, decision.rejection, decision.callId, decision.seed);
      return;
    }
    metrics?.invites.labels('admitted', 'none').inc();
    req.locals = { ...(req.locals ?? {}), callgate: decision.call };
    next();
  }

  return (req, res, next) => {
    admit(req, res, () => next()).catch((err: unknown) => {
      logger.error({ err, sipCallId: req.get('Call-ID') }, 'admission failed on an INVITE');
      if (!res.finalResponseSent) res.send(unavailable.sipStatus, { headers: { Reason: unavailable.reasonHeader } });
    });
  };
}
