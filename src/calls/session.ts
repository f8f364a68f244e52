import type { Config } from '../config/schema.js';
import { callFields, type Logger } from '../logger.js';
import type { Engine, TickResult } from '../redis/engine.js';
import { isEngineersOff, outcomeOf, type AdmittedCall, type CallEnd, type EndOutcome, type HangupCause } from '../model/index.js';
import { paidTalkMs, priceTalk, reservationFor, type TalkPrice } from '../rating/index.js';
import type { UsageJournal } from './journal.js';

export type { CallEnd };

export interface Clock {
  /** Monotonic milliseconds: talk time is measured on this. */
  monotonic(): number;
  /** Wall clock, epoch ms: CDR timestamps. */
  wall(): number;
}

/** Timers on the clock's time line, so that a test's fake clock both tells the time and fires them. */
export interface Timers {
  /** Runs `fn` once in `ms`; the returned function cancels it. Does not keep the process alive. */
  after(ms: number, fn: () => void): () => void;
  /** Runs `fn` every `ms`; the returned function stops it. Does not keep the process alive. */
  every(ms: number, fn: () => void): () => void;
  /** Resolves in `ms`, keeping the process alive meanwhile: a finalize waiting to retry must land. */
  sleep(ms: number): Promise<void>;
}

export interface SessionClock extends Clock, Timers {}

export const systemClock: SessionClock = {
  monotonic: () => performance.now(),
  wall: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return () => clearTimeout(t);
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref?.();
    return () => clearInterval(t);
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface SessionDeps {
  engine: Pick<Engine, 'tickCall' | 'finalizeCall'>;
  config: Pick<Config, 'billing' | 'switchId'>;
  logger: Logger;
  /** Time and timers; the system's by default. */
  clock?: SessionClock;
  /**
   * Ends the call on the wire: the final response before answer, a BYE on both legs after; the session
   * finalizes itself. Given the session, so that one function can serve every call.
   */
  hangup: (cause: HangupCause, session: CallSession) => Promise<void> | void;
  /** Receives the CDR stream entry of the finalized call, for the CDR writer. */
  onFinalized: (accountId: string, cdrEntryId: string) => void;
  onClosed?: (session: CallSession) => void;
  /** Once per call, whichever way it ended: the composition root counts it. */
  onEnded?: (end: CallEnd, outcome: EndOutcome) => void;
  /** Every tick's outcome, a failed one as `error`. */
  onTick?: (outcome: TickResult['outcome'] | 'error') => void;
  /** Base delay of finalize retries while Redis cannot be reached; a failed finalize is retried until it lands. */
  retryDelayMs?: number;
  /** Where a finalize that could not reach Redis is made durable meanwhile. */
  journal?: Pick<UsageJournal, 'record' | 'settled'>;
  /**
   * Aborted when this process stops. A finalize the journal holds then stops retrying here and is left to
   * the next start's journal replay, so a shutdown during a Redis outage does not wait for Redis.
   */
  stopSignal?: AbortSignal;
}

/**
 * One admitted call, from admit to its single finalize. It ticks on a timer (lease renewal, cost committed
 * in real time, next reservation), tears the call down at the end of its paid time when funds run short,
 * and finalizes exactly once whichever way the call ends.
 */
export class CallSession {
  readonly callId: string;
  readonly accountId: string;
  private answeredMono: number | undefined;
  private answeredWall = 0;
  private stopTicking: (() => void) | undefined;
  private cancelPaidEnd: (() => void) | undefined;
  private cancelMaxDuration: (() => void) | undefined;
  private held: number;
  /** Talk time paid for so far (ms), when funds are short; undefined while reservations keep up. */
  private paidUntilMs: number | undefined;
  private ticking: Promise<void> | undefined;
  private finalizing: Promise<void> | undefined;
  private readonly clock: SessionClock;

  constructor(
    readonly call: AdmittedCall,
    private readonly deps: SessionDeps,
  ) {
    this.callId = call.callId;
    this.accountId = call.account.id;
    this.held = call.reservation;
    this.clock = deps.clock ?? systemClock;
    this.stopTicking = this.clock.every(deps.config.billing.tickIntervalMs, () => void this.tick());
  }

  get answered(): boolean {
    return this.answeredMono !== undefined;
  }

  get ended(): boolean {
    return this.finalizing !== undefined;
  }

  talkMs(): number {
    return this.answeredMono === undefined ? 0 : Math.max(1, Math.round(this.clock.monotonic() - this.answeredMono));
  }

  private price(talkMs: number): TalkPrice {
    return priceTalk({ rate: this.call.rate, talkMs, taxExempt: this.call.account.taxExempt, taxes: this.taxes });
  }

  private get taxes() {
    return this.deps.config.billing.taxes;
  }

  /** The callee answered: talk time starts now, and the connect fee and first increment are committed. */
  markAnswered(): void {
    if (this.answeredMono !== undefined || this.ended) return;
    this.answeredMono = this.clock.monotonic();
    this.answeredWall = this.clock.wall();
    const max = this.call.maxCallSeconds;
    if (max) this.cancelMaxDuration = this.clock.after(max * 1000, () => void this.teardown({ kind: 'max_duration' }));
    void this.tick();
  }

  /** Runs one tick now (also used when funds arrive or the account goes OFF elsewhere). */
  tick(): Promise<void> {
    if (this.ended) return Promise.resolve();
    if (!this.ticking) {
      this.ticking = this.runTick().finally(() => {
        this.ticking = undefined;
      });
    }
    return this.ticking;
  }

  private async runTick(): Promise<void> {
    // when funds are short, never commit past the paid time: the call ends there
    const talkMs = this.paidUntilMs === undefined ? this.talkMs() : Math.min(this.talkMs(), Math.max(this.paidUntilMs, 1));
    const price = this.price(talkMs);
    const nextReservation = reservationFor({
      rate: this.call.rate, talkMs, unitSeconds: this.deps.config.billing.reservationSeconds, taxExempt: this.call.account.taxExempt, taxes: this.taxes,
    });
    let result: TickResult;
    try {
      result = await this.deps.engine.tickCall({
        accountId: this.accountId, callId: this.callId, total: price.total, cost: price.cost, tax: price.tax, billedSec: price.billedSec,
        talkMs, answeredAt: this.answeredWall, nextReservation,
      });
    } catch (err) {
      this.deps.onTick?.('error');
      this.log('warn', { err }, 'tick failed; the call goes on and the next tick retries');
      return;
    }
    this.deps.onTick?.(result.outcome);
    if (this.ended) return;
    switch (result.outcome) {
      case 'reserved':
        this.held = result.held;
        this.paidUntilMs = undefined;
        this.clearPaidEnd();
        return;
      case 'short': {
        this.held = result.held;
        this.schedulePaidEnd(price.total);
        return;
      }
      case 'off':
        if (isEngineersOff(result.offReason)) {
          await this.teardown({ kind: 'account_off' });
          return;
        }
        // OFF for funds, perhaps by this very commit: the call keeps the time it has paid for (the rest of
        // the increment it is in) and ends there, unless funds arrive before
        this.held = 0;
        this.schedulePaidEnd(price.total);
        return;
      case 'gone':
        // the lease expired and a sweeper already billed and closed the call: end it without a second CDR
        await this.teardown({ kind: 'lease_lost' });
        return;
    }
  }

  private clearPaidEnd(): void {
    this.cancelPaidEnd?.();
    this.cancelPaidEnd = undefined;
  }

  /** Funds are short: the call may talk until its paid time, then gets one more chance and is torn down. */
  private schedulePaidEnd(committedTotal: number): void {
    this.clearPaidEnd();
    if (this.answeredMono === undefined) {
      // not answered yet: the answer tick decides, unless the account has nothing left at all
      if (this.held === 0) void this.teardown({ kind: 'funds' });
      return;
    }
    const paid = paidTalkMs({ rate: this.call.rate, committedTotal, held: this.held, taxExempt: this.call.account.taxExempt, taxes: this.taxes });
    this.paidUntilMs = paid;
    const talk = this.talkMs();
    if (paid <= talk) {
      void this.teardown({ kind: 'funds' });
      return;
    }
    this.cancelPaidEnd = this.clock.after(paid - talk, () => void this.onPaidEnd());
  }

  private async onPaidEnd(): Promise<void> {
    // funds may have arrived since: a last tick decides whether the call goes on
    await this.tick();
    if (this.ended || this.paidUntilMs === undefined) return;
    if (this.paidUntilMs <= this.talkMs()) await this.teardown({ kind: 'funds' });
  }

  /** Hangs the call up with the cause its end kind gives (CALL_END_RULES), and finalizes. */
  async teardown(end: CallEnd): Promise<void> {
    if (this.ended) return;
    const cause = outcomeOf(end, this.answered).hangup;
    const done = this.end(end);
    if (!cause) return done;
    try {
      await this.deps.hangup(cause, this);
    } catch (err) {
      this.log('warn', { err }, 'hangup failed');
    }
    await done;
  }

  /** Resolves once the call's finalize is over (landed, or left to the journal at stop); at once if it has not ended. */
  whenFinalized(): Promise<void> {
    return this.finalizing ?? Promise.resolve();
  }

  /** Ends the call: the one place that finalizes it. Later calls return the same promise. */
  end(end: CallEnd): Promise<void> {
    if (!this.finalizing) this.finalizing = this.finalize(end);
    return this.finalizing;
  }

  /**
   * Wait before finalize attempt `attempt + 1`: exponential from retryDelayMs, at most 5 s, and at most a
   * quarter of the lease TTL. After an outage the sweeper waits one lease TTL before it sweeps expired leases;
   * a call that ended meanwhile must be finalized by its owner (billed to its real end) within that grace,
   * not swept (billed to its last heartbeat).
   */
  private finalizeRetryDelay(attempt: number): number {
    const base = (this.deps.retryDelayMs ?? 200) * 2 ** Math.min(attempt, 5);
    return Math.min(base, 5_000, this.deps.config.billing.leaseTtlMs / 4);
  }

  private async finalize(end: CallEnd): Promise<void> {
    this.stopTicking?.();
    this.stopTicking = undefined;
    this.clearPaidEnd();
    this.cancelMaxDuration?.();
    this.cancelMaxDuration = undefined;
    const answered = this.answeredMono !== undefined;
    let talkMs = this.talkMs();
    // a call torn down for funds is billed the time it was paid for, not the milliseconds the BYE took
    if (end.kind === 'funds' && this.paidUntilMs !== undefined) talkMs = Math.min(talkMs, Math.max(this.paidUntilMs, answered ? 1 : 0));
    const price = this.price(talkMs);
    const outcome = outcomeOf(end, answered);
    const { disposition, reason, sipCode } = outcome;
    this.deps.onEnded?.(end, outcome);
    this.logEnd(end, outcome, talkMs, price);
    if (!outcome.finalizes) {
      this.deps.onClosed?.(this);
      return;
    }
    const request = {
      accountId: this.accountId, callId: this.callId, total: price.total, cost: price.cost, tax: price.tax, billedSec: price.billedSec,
      talkMs, answeredAt: this.answeredWall, endedAt: this.clock.wall(), disposition, reason, sipCode,
      prefix: this.call.seed.prefix, dialed: this.call.seed.to,
    };
    let journaled = false;
    const stop = this.deps.stopSignal;
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.deps.engine.finalizeCall(request);
        if (r.outcome === 'finalized') this.deps.onFinalized(this.accountId, r.cdrEntryId);
        else this.log('info', {}, 'call was already finalized (swept after its lease expired)');
        if (journaled) await this.deps.journal?.settled(this.callId).catch(() => {});
        break;
      } catch (err) {
        this.log('warn', { err, attempt }, 'finalize failed; journaled locally and retried until it lands');
        if (!journaled && this.deps.journal) {
          journaled = await this.deps.journal.record(request).then(
            () => true,
            (jerr: unknown) => (this.log('error', { err: jerr }, 'could not journal a finalize'), false),
          );
        }
        if (stop?.aborted) {
          this.leaveToJournal(journaled, request);
          break;
        }
        await this.sleepUnlessStopped(this.finalizeRetryDelay(attempt));
        if (stop?.aborted) {
          this.leaveToJournal(journaled, request);
          break;
        }
      }
    }
    this.deps.onClosed?.(this);
  }

  /**
   * The one log line of the call's end: what ended it and how it is billed. A hangup or a cancel is normal
   * (debug); a call callgate tore down, lost, failed upstream or ended for shutdown is worth an engineer's
   * eye (info).
   */
  private logEnd(end: CallEnd, outcome: EndOutcome, talkMs: number, price: TalkPrice): void {
    const normal = end.kind === 'bye' || end.kind === 'cancel';
    // debug is off in production: the line of a normal end is then not even built
    if (normal && !this.deps.logger.isLevelEnabled('debug')) return;
    const { disposition, reason, sipCode } = outcome;
    const fields = {
      sipCallId: this.call.seed.sipCallId, end: end.kind, ...(end.kind === 'bye' && { by: end.by }), disposition, reason, sipCode,
      answered: this.answered, talkMs: this.answered ? talkMs : 0,
      ...(outcome.finalizes ? { billedSec: price.billedSec, total: price.total } : { billedBy: 'sweeper' }),
    };
    if (normal) this.log('debug', fields, `call ended: ${reason}`);
    else this.log('info', fields, `call ended: ${disposition} (${reason})${outcome.finalizes ? '' : ': its lease expired and a sweeper billed it'}`);
  }

  /** One line about this call on the shared logger, with the call's ids merged in (no child logger per call). */
  private log(level: 'debug' | 'info' | 'warn' | 'error', fields: object, msg: string): void {
    const logger = this.deps.logger;
    if (!logger.isLevelEnabled(level)) return;
    logger[level]({ ...callFields(logger, this, this.deps.config.switchId), ...fields }, msg);
  }

  /** The process stops while Redis is out of reach: what the journal holds is billed by the next start's replay. */
  private leaveToJournal(journaled: boolean, request: object): void {
    if (journaled) {
      this.log('info', {}, 'stopping: the finalize stays in the usage journal and is replayed at the next start');
    } else {
      // nothing local holds it: the lease expires in Redis and a sweeper bills the call to its last tick
      this.log('error', { finalize: request }, 'stopping with a finalize neither landed nor journaled: a sweeper will bill it to its last tick');
    }
  }

  private sleepUnlessStopped(ms: number): Promise<void> {
    const stop = this.deps.stopSignal;
    if (!stop) return this.clock.sleep(ms);
    return new Promise<void>((resolve) => {
      const onStop = () => resolve();
      stop.addEventListener('abort', onStop, { once: true });
      void this.clock.sleep(ms).then(() => {
        stop.removeEventListener('abort', onStop);
        resolve();
      });
    });
  }
}
