import { randomUUID } from 'node:crypto';
import Srf from 'drachtio-srf';
import type { Config } from '../config/schema.js';
import { callFields, type Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { seedOf, type AdmitInvite, type InviteFacts } from '../admission/admit.js';
import { withoutControls, type CdrSeed, type RejectReason } from '../model/index.js';
import { AdmissionRejection, createRejections } from '../admission/rejections.js';
import type { OverloadGuard } from '../admission/overload.js';
import type { RejectedAttempt } from '../cdr/builder.js';
import type { SipMiddleware, SrfRequest, SrfResponse } from './srf-augment.js';

export interface AdmissionControlDeps {
  admitInvite: AdmitInvite;
  config: Pick<Config, 'identification' | 'switchId' | 'sip' | 'cdr'>;
  logger: Logger;
  metrics?: Metrics;
  /** The attempt CDR of a refused INVITE (written straight to this instance's files). */
  recordRejection?: (attempt: RejectedAttempt) => void;
  /** Every refused INVITE of an identified account, for its traffic figures (counted in the instance, written in batches). */
  countRefusal?: (accountId: string, prefix: string, dialed: string) => void;
  /** True while the instance drains for shutdown: every new INVITE gets 503. */
  isDraining?: () => boolean;
  /** Sheds new INVITEs under overload (503 `overloaded`), before any Redis work. */
  overload?: OverloadGuard;
  /**
   * The overload guard's signals from this middleware: each new INVITE as it is read (with drachtio-server's
   * stamp, for the wait signal), and each admission's start and end (the in-flight signal).
   */
  load?: { inviteReceived(stackTime: string | undefined): void; admissionStarted(): void; admissionEnded(): void };
}

/** A SIP URI's user part and whether it carried a password part (`sip:user:password@host`). */
interface UriUser {
  user: string;
  hasPassword: boolean;
}

function uriUserOf(uri: string | undefined): UriUser {
  if (!uri) return { user: '', hasPassword: false };
  let parsed: ReturnType<typeof Srf.parseUri> | undefined;
  try {
    parsed = Srf.parseUri(uri);
  } catch {
    return { user: '', hasPassword: false };
  }
  const raw = parsed?.user ?? '';
  // an empty password (`sip:4420:@host`) is a password part all the same
  const hasPassword = typeof parsed?.password === 'string';
  let user = raw;
  if (raw.includes('%')) {
    try {
      user = decodeURIComponent(raw);
    } catch {
      user = raw; // a malformed escape stays as it came: it will simply match no account or rate
    }
  }
  return { user: withoutControls(user), hasPassword };
}

/**
 * The user part of a SIP URI, with RFC 3261 escapes decoded (a tech prefix `1001#` may arrive as `1001%23`),
 * and every control character a decoded escape (`%00`, `%0D%0A`) or the raw text held replaced by U+FFFD.
 */
export const userOf = (uri: string | undefined): string => uriUserOf(uri).user;

/** A header value from SIP, its control characters replaced (src/model/sip-text.ts). */
const sipText = (value: string | undefined): string | undefined => (value === undefined ? undefined : withoutControls(value));

/**
 * The INVITE facts admission needs, read once from the request. SIP values stay opaque strings here, with
 * no control character left in them: they go on into CDRs, logs and events.
 */
export function inviteFacts(req: SrfRequest, trustedHeader: string, receivedAt: number): InviteFacts {
  let fromUser = '';
  try {
    fromUser = userOf(req.getParsedHeader('From').uri);
  } catch {
    fromUser = '';
  }
  const ruriUser = userOf(req.uri);
  return {
    sipCallId: sipText(req.get('Call-ID')) ?? '',
    sourceIp: req.source_address,
    ruriUser,
    fromUser,
    toUser: ruriUser,
    trustedAccountId: req.has(trustedHeader) ? sipText(req.get(trustedHeader)) : undefined,
    receivedAt,
  };
}

/**
 * What refuses a Request-URI before admission looks at it: a password part (the user would be billed as
 * the part before the colon), or a dialed number (tech prefix included) longer than sip.maxDialedLength.
 */
export function requestUriRefusal(uri: string | undefined, maxDialedLength: number): RejectReason | undefined {
  const { user, hasPassword } = uriUserOf(uri);
  if (hasPassword) return 'invalid_request_uri';
  if ([...user].length > maxDialedLength) return 'number_too_long';
  return undefined;
}

/**
 * drachtio-srf middleware: `srf.use('invite', admissionControl(deps))`. Identifies the account, runs the
 * one admit script, and either refuses the INVITE (one function: code, Reason header, metrics, attempt
 * CDR) or hands it on with the decision on `req.locals.callgate`. It fails closed by itself: whatever
 * goes wrong inside is logged and the INVITE refused with 503 `unavailable`, so it needs no error
 * handler of the application's and never hands an error to next().
 *
 * The overload guard runs here, after the Request-URI checks and before the admit script, so a shed INVITE
 * costs no Redis work. This placement is what keeps it off everything but new calls: drachtio-srf's own
 * dialog middleware, mounted before any `srf.use`, hands every request of a known dialog (re-INVITE, BYE,
 * INFO, ...) to its Dialog and never to this chain; `srf.use('invite', ...)` sees no ACK, BYE or CANCEL (a
 * CANCEL ends the INVITE's own transaction); and an admitted call has passed this middleware once already
 * and never comes back to it.
 */
export function admissionControl(deps: AdmissionControlDeps): SipMiddleware {
  const { config, logger, metrics } = deps;
  const reject = createRejections(config.sip);
  const unavailable = reject('unavailable');

  function rejectInvite(res: SrfResponse, rejection: AdmissionRejection, callId: string, seed: CdrSeed): void {
    const headers: Record<string, string> = { Reason: rejection.reasonHeader };
    if (rejection.retryAfterSeconds !== undefined) headers['Retry-After'] = String(rejection.retryAfterSeconds);
    if (!res.finalResponseSent) res.send(rejection.sipStatus, { headers });
    metrics?.invites.labels('rejected', rejection.reason).inc();
    if (seed.accountId !== null) deps.countRefusal?.(seed.accountId, seed.prefix, seed.to);
    if (config.cdr.recordRejected) {
      deps.recordRejection?.({ callId, switchId: config.switchId, seed, endedAt: Date.now(), sipCode: rejection.sipStatus, reason: rejection.reason });
    }
    // tied to the call by callgate's ids only (the account id is the catalog's, never a header's)
    if (logger.isLevelEnabled('debug')) {
      const ids = callFields(logger, { callId, accountId: seed.accountId }, config.switchId);
      logger.debug({ ...ids, sipCallId: seed.sipCallId, reason: rejection.reason, sipStatus: rejection.sipStatus }, `INVITE refused: ${rejection.reason}`);
    }
  }

  async function admit(req: SrfRequest, res: SrfResponse, next: () => void): Promise<void> {
    const receivedAt = Date.now();
    const started = performance.now();
    deps.load?.inviteReceived(req.stackTime);
    const facts = inviteFacts(req, config.identification.trustedHeader, receivedAt);
    const malformed = requestUriRefusal(req.uri, config.sip.maxDialedLength);
    if (malformed) {
      rejectInvite(res, reject(malformed), randomUUID(), seedOf(facts));
      return;
    }
    if (deps.isDraining?.()) {
      rejectInvite(res, unavailable, randomUUID(), seedOf(facts));
      return;
    }
    const verdict = deps.overload?.check();
    if (verdict?.shed) {
      const retryMs = verdict.retryAfterSeconds === undefined ? undefined : verdict.retryAfterSeconds * 1000;
      rejectInvite(res, reject('overloaded', retryMs), randomUUID(), seedOf(facts));
      return;
    }
    deps.load?.admissionStarted();
    let decision: Awaited<ReturnType<AdmitInvite>>;
    try {
      decision = await deps.admitInvite(facts);
    } finally {
      deps.load?.admissionEnded();
    }
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
      logger.error({ err, sipCallId: sipText(req.get('Call-ID')) }, 'admission failed on an INVITE');
      if (!res.finalResponseSent) res.send(unavailable.sipStatus, { headers: { Reason: unavailable.reasonHeader } });
    });
  };
}
