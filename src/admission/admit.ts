import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { Engine, AdmitResult } from '../redis/engine.js';
import { reservationFor, type Rate } from '../rating/index.js';
import type { CatalogEntry, Directory } from './directory.js';
import type { StaticCdr } from '../cdr/builder.js';

export type { StaticCdr };
import { createRejections, type AdmissionRejection } from './rejections.js';

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

export interface AdmittedCall {
  callId: string;
  account: CatalogEntry;
  destination: string;
  rate: Rate;
  reservation: number;
  staticCdr: StaticCdr;
  leaseExpiryMs: number;
}

export type AdmissionDecision =
  | { admitted: true; call: AdmittedCall }
  | { admitted: false; rejection: AdmissionRejection; accountId: string | null; callId: string };

/** SIP values are hostile input: they are cut to a sane length before they are stored anywhere. */
const MAX_TEXT = 128;
export const clip = (s: string) => (s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s);

export interface AdmissionDeps {
  config: Pick<Config, 'billing' | 'sip' | 'redis'>;
  directory: Pick<Directory, 'identify' | 'rateFor'>;
  engine: Pick<Engine, 'admitCall' | 'finalizeCall'>;
  logger: Logger;
  /** Called with the outcome of every admit script call, for metrics. */
  observe?: (outcome: AdmitResult['outcome'] | 'timeout' | 'error', seconds: number) => void;
}

export class AdmissionTimeoutError extends Error {
  override readonly name = 'AdmissionTimeoutError';
}

/**
 * The admission decision for one INVITE: identify the account and price the destination from memory,
 * then one admit script call. Fails closed: when Redis does not answer within redis.commandTimeoutMs the
 * INVITE is refused as `unavailable`, and an admit that lands after that is released at once.
 */
export function createAdmission({ config, directory, engine, logger, observe }: AdmissionDeps) {
  const reject = createRejections(config.sip);
  const timeoutMs = config.redis.commandTimeoutMs;

  function releaseLateAdmit(accountId: string, callId: string): void {
    engine
      .finalizeCall({
        accountId, callId, total: 0, cost: 0, tax: 0, billedSec: 0, talkMs: 0, answeredAt: 0, endedAt: Date.now(),
        disposition: 'failed', reason: 'admission_timeout', sipCode: config.sip.codes.unavailable,
      })
      .catch((err) => logger.warn({ err, callId, accountId }, 'could not release a late admit; the sweeper will'));
  }

  return async function admitInvite(facts: InviteFacts): Promise<AdmissionDecision> {
    const callId = randomUUID();
    const refused = (rejection: AdmissionRejection, accountId: string | null): AdmissionDecision => ({
      admitted: false, rejection, accountId, callId,
    });
    const who = directory.identify({ sourceIp: facts.sourceIp, ruriUser: facts.ruriUser, trustedAccountId: facts.trustedAccountId });
    if (!who.ok) return refused(reject('unknown_account'), null);
    const { account, destination } = who;
    const rate = directory.rateFor(account, destination);
    if (!rate) return refused(reject('no_rate'), account.id);

    const reservation = reservationFor({
      rate, talkMs: 0, unitSeconds: config.billing.reservationSeconds, taxExempt: account.taxExempt, taxes: config.billing.taxes,
    });
    const staticCdr: StaticCdr = {
      sipCallId: clip(facts.sipCallId), accountId: account.id, from: clip(facts.fromUser), to: clip(destination), srcIp: clip(facts.sourceIp),
      invitedAt: facts.receivedAt, prefix: rate.prefix, ratePerMin: rate.ratePerMinMicros, connectFee: rate.connectFeeMicros,
      firstIncrement: rate.firstIncrement, nextIncrement: rate.nextIncrement, taxExempt: account.taxExempt,
    };

    const started = performance.now();
    const pending = engine.admitCall({ accountId: account.id, callId, reservation, staticCdr: JSON.stringify(staticCdr) });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new AdmissionTimeoutError(`admit took longer than ${timeoutMs} ms`)), timeoutMs);
    });
    let result: AdmitResult;
    try {
      result = await Promise.race([pending, timeout]);
    } catch (err) {
      const timedOut = err instanceof AdmissionTimeoutError;
      observe?.(timedOut ? 'timeout' : 'error', (performance.now() - started) / 1000);
      if (timedOut) {
        pending.then((late) => late.outcome === 'admitted' && releaseLateAdmit(account.id, callId)).catch(() => {});
      }
      logger.warn({ err, accountId: account.id, callId }, 'admission unavailable: refusing the INVITE');
      return refused(reject('unavailable'), account.id);
    } finally {
      clearTimeout(timer);
    }
    observe?.(result.outcome, (performance.now() - started) / 1000);

    switch (result.outcome) {
      case 'admitted':
        return {
          admitted: true,
          call: { callId, account, destination, rate, reservation, staticCdr, leaseExpiryMs: result.leaseExpiryMs },
        };
      case 'unknown_account':
        return refused(reject('unknown_account'), null);
      case 'off':
        return refused(reject(result.offReason === 'manual' ? 'off_manual' : 'off_funds'), account.id);
      case 'insufficient_funds':
        return refused(reject('insufficient_funds'), account.id);
      case 'cps_exceeded':
        return refused(reject('cps_exceeded', result.retryAfterMs), account.id);
      case 'channel_limit':
        return refused(reject('channel_limit'), account.id);
      case 'duplicate_call':
        // callIds are random UUIDs: a duplicate means something is badly wrong; refuse rather than guess
        logger.error({ callId, accountId: account.id }, 'admit reported a duplicate call id');
        return refused(reject('unavailable'), account.id);
    }
  };
}

export type AdmitInvite = ReturnType<typeof createAdmission>;
