import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { AdmittedCall, AdmittedSeed, CatalogEntry, CdrSeed, RejectReason } from '../model/index.js';
import type { Engine, AdmitResult } from '../redis/engine.js';
import { isEngineersOff } from '../model/index.js';
import { encodeSeed } from '../redis/codecs/call-record.js';
import { ScriptTimeoutError } from '../redis/script.js';
import { reservationFor, type Rate } from '../rating/index.js';
import type { TrafficGuard } from '../traffic/guard.js';
import type { Directory } from './directory.js';
import { createRejections, type AdmissionRejection } from './rejections.js';

export type { AdmittedCall };

/** What admission needs to know of an INVITE, taken from the request by the SIP layer. */
export interface InviteFacts {
  sipCallId: string;
  sourceIp: string;
  ruriUser: string;
  fromUser: string;
  toUser: string;
  trustedAccountId?: string | undefined;
  /** Wall clock, epoch ms, when the INVITE arrived. */
  receivedAt: number;
}

/** Both branches carry the CDR seed: a refused INVITE's CDR is built from the same facts as an admitted call's. */
export type AdmissionDecision =
  | { admitted: true; call: AdmittedCall }
  | { admitted: false; rejection: AdmissionRejection; callId: string; seed: CdrSeed };

/** SIP values are hostile input: they are cut to a sane length before they are stored anywhere. */
const MAX_TEXT = 128;
export const clip = (s: string) => (s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s);

/**
 * The seed of an INVITE's CDR, from what admission knows when it decides: who sent it (once identified),
 * where it goes (without the tech prefix, once identified) and at what rate (once rated).
 */
export function seedOf(facts: InviteFacts, account?: CatalogEntry, destination?: string, rate?: Rate): CdrSeed {
  return {
    sipCallId: clip(facts.sipCallId), accountId: account?.id ?? null, from: clip(facts.fromUser), to: clip(destination ?? facts.ruriUser),
    srcIp: clip(facts.sourceIp), invitedAt: facts.receivedAt, prefix: rate?.prefix ?? '', ratePerMin: rate?.ratePerMinMicros ?? null,
    connectFee: rate?.connectFeeMicros ?? null, firstIncrement: rate?.firstIncrement ?? null, nextIncrement: rate?.nextIncrement ?? null,
    taxExempt: account?.taxExempt ?? false,
  };
}

export interface AdmissionDeps {
  config: Pick<Config, 'billing' | 'sip' | 'redis'>;
  directory: Pick<Directory, 'identify' | 'rateFor'>;
  engine: Pick<Engine, 'admitCall' | 'finalizeCall'>;
  logger: Logger;
  /** Fraud rules, blocks and maximum call durations (traffic.enabled); absent: none apply. */
  guard?: Pick<TrafficGuard, 'blockFor' | 'watchFor' | 'admitted' | 'maxCallSeconds'>;
}

/** The admit script's outcome that refuses the INVITE, as a refusal reason. */
function refusalOf(result: Exclude<AdmitResult, { outcome: 'admitted' }>): RejectReason {
  switch (result.outcome) {
    case 'unknown_account':
      return 'unknown_account';
    case 'off':
      return isEngineersOff(result.offReason) ? 'off_manual' : 'off_funds';
    case 'insufficient_funds':
      return 'insufficient_funds';
    case 'cps_exceeded':
      return 'cps_exceeded';
    case 'channel_limit':
      return 'channel_limit';
    case 'duplicate_call':
      // callIds are random UUIDs: a duplicate means something is badly wrong; refuse rather than guess
      return 'unavailable';
  }
}

/**
 * The admission decision for one INVITE: identify the account and price the destination from memory,
 * then one admit script call. Fails closed: when Redis does not answer within redis.commandTimeoutMs the
 * INVITE is refused as `unavailable`, and an admit that lands after that is released at once.
 */
export function createAdmission({ config, directory, engine, logger, guard }: AdmissionDeps) {
  const reject = createRejections(config.sip);
  const timeoutMs = config.redis.commandTimeoutMs;

  function releaseLateAdmit(accountId: string, callId: string): void {
    const unavailable = config.sip.codes.unavailable;
    engine
      .finalizeCall({
        accountId, callId, total: 0, cost: 0, tax: 0, billedSec: 0, talkMs: 0, answeredAt: 0, endedAt: Date.now(),
        disposition: 'failed', reason: 'admission_timeout', sipCode: unavailable,
      })
      .catch((err) => logger.warn({ err, callId, accountId }, 'could not release a late admit; the sweeper will'));
  }

  return async function admitInvite(facts: InviteFacts): Promise<AdmissionDecision> {
    const callId = randomUUID();
    const refused = (rejection: AdmissionRejection, seed: CdrSeed): AdmissionDecision => ({ admitted: false, rejection, callId, seed });
    const who = directory.identify({ sourceIp: facts.sourceIp, ruriUser: facts.ruriUser, trustedAccountId: facts.trustedAccountId });
    // an INVITE that several accounts could own is refused, never billed to a guess
    if (!who.ok) return refused(reject(who.why === 'ambiguous' ? 'ambiguous_account' : 'unknown_account'), seedOf(facts));
    const { account, destination } = who;
    const rate = directory.rateFor(account, destination);
    if (!rate) return refused(reject('no_rate'), seedOf(facts, account, destination));

    const reservation = reservationFor({
      rate, talkMs: 0, unitSeconds: config.billing.reservationSeconds, taxExempt: account.taxExempt, taxes: config.billing.taxes,
    });
    const seed = seedOf(facts, account, destination, rate) as AdmittedSeed;
    const block = guard?.blockFor(account.id, destination, facts.receivedAt);
    if (block) {
      return refused(reject('fraud_blocked', undefined, `rule ${block.rule} (${block.limit}) until ${new Date(block.untilMs).toISOString()}`), seed);
    }
    const rule = guard?.watchFor(account.id, destination, facts.receivedAt);

    let result: AdmitResult;
    try {
      result = await engine.admitCall(
        { accountId: account.id, callId, reservation, seed: encodeSeed(seed), ...(rule ? { watch: { prefix: rule.prefix, number: destination } } : {}) },
        { timeoutMs, onLateAdmit: (late) => late.outcome === 'admitted' && releaseLateAdmit(account.id, callId) },
      );
    } catch (err) {
      if (!(err instanceof ScriptTimeoutError)) logger.warn({ err, accountId: account.id, callId }, 'admission unavailable: refusing the INVITE');
      else logger.warn({ accountId: account.id, callId, timeoutMs }, 'admit got no answer in time: refusing the INVITE');
      return refused(reject('unavailable'), seed);
    }
    if (result.outcome === 'admitted') {
      const call: AdmittedCall = { callId, account, destination, rate, reservation, seed, leaseExpiryMs: result.leaseExpiryMs };
      if (rule && result.fraud) {
        call.watchedPrefix = rule.prefix;
        guard?.admitted(account.id, rule, result.fraud, facts.receivedAt);
      }
      const max = guard?.maxCallSeconds(account.id);
      if (max) call.maxCallSeconds = max;
      return { admitted: true, call };
    }
    if (result.outcome === 'duplicate_call') logger.error({ callId, accountId: account.id }, 'admit reported a duplicate call id');
    // an account deleted since the catalog was read is, to this INVITE, an unknown source
    const refusedSeed = result.outcome === 'unknown_account' ? seedOf(facts) : seed;
    return refused(reject(refusalOf(result), result.outcome === 'cps_exceeded' ? result.retryAfterMs : undefined), refusedSeed);
  };
}

export type AdmitInvite = ReturnType<typeof createAdmission>;
