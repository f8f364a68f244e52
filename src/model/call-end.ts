import type { Disposition } from './call.js';

/** Why an admitted call ended, as callgate saw it. */
export type CallEnd =
  | { kind: 'bye'; by: 'caller' | 'callee' }
  | { kind: 'cancel' }
  | { kind: 'upstream_failure'; sipCode: number }
  | { kind: 'link_lost' }
  | { kind: 'shutdown' }
  | { kind: 'funds' }
  | { kind: 'account_off' }
  | { kind: 'lease_lost' }
  /** The call reached its account's maximum call duration (traffic maxCallSeconds). */
  | { kind: 'max_duration' }
  /** The admit landed after admission had already refused the INVITE for Redis being too slow. */
  | { kind: 'admission_timeout'; sipCode: number };
export type CallEndKind = CallEnd['kind'];

/** Label of callgate_teardowns_total: calls callgate itself hung up. */
export type TeardownLabel = 'funds' | 'account_off' | 'shutdown' | 'lease_lost' | 'max_duration';
export const TEARDOWN_LABELS = ['funds', 'account_off', 'shutdown', 'lease_lost', 'max_duration'] as const satisfies readonly TeardownLabel[];

/** What callgate sends when it ends a call itself: the final response before answer, the Reason of the BYE after. */
export interface HangupCause {
  cause: number;
  text: string;
}

/** Everything that follows from one end of a call: what goes on the wire, into the CDR and into the metrics. */
export interface EndOutcome {
  disposition: Disposition;
  /** The CDR's reason column. */
  reason: string;
  /** The CDR's SIP code: the final response the caller got (200 once answered), 0 when none was sent. */
  sipCode: number;
  /** Set when callgate hangs the call up itself. */
  hangup: HangupCause | null;
  /** callgate_teardowns_total label, when callgate hung the call up. */
  teardown: TeardownLabel | null;
  /** False when the call was closed elsewhere (a sweeper billed it): no finalize, no CDR of its own. */
  finalizes: boolean;
}

interface EndRule {
  hangup: HangupCause | null;
  teardown: TeardownLabel | null;
  finalizes: boolean;
  outcome(end: CallEnd, answered: boolean): { disposition: Disposition; reason: string; sipCode: number };
}

/** A call callgate tears down: before answer the caller gets the cause as final response, after it a BYE. */
const tornDown = (reason: string, cause: number) => (_: CallEnd, answered: boolean) => ({
  disposition: 'torn_down' as const, reason, sipCode: answered ? 200 : cause,
});

/**
 * One row per end kind. The session reads its hangup cause and the finalize its CDR fields from here, and
 * the composition root its metric labels, so the wire, the CDR and the metrics cannot disagree.
 */
export const CALL_END_RULES: { readonly [K in CallEndKind]: EndRule } = {
  bye: {
    hangup: null, teardown: null, finalizes: true,
    outcome: (end) => ({ disposition: 'answered', reason: `${end.kind === 'bye' ? end.by : 'caller'}_bye`, sipCode: 200 }),
  },
  cancel: {
    hangup: null, teardown: null, finalizes: true,
    outcome: () => ({ disposition: 'cancelled', reason: 'caller_cancel', sipCode: 487 }),
  },
  upstream_failure: {
    hangup: null, teardown: null, finalizes: true,
    outcome: (end) => {
      // the switch's final answer, passed back to the caller as it came
      const code = end.kind === 'upstream_failure' ? end.sipCode : 500;
      if (code === 486 || code === 600) return { disposition: 'busy', reason: 'busy', sipCode: code };
      if (code === 408 || code === 480 || code === 487) return { disposition: 'unanswered', reason: 'no_answer', sipCode: code };
      return { disposition: 'failed', reason: 'upstream_failure', sipCode: code };
    },
  },
  funds: {
    hangup: { cause: 402, text: 'Insufficient funds' }, teardown: 'funds', finalizes: true,
    outcome: tornDown('funds_exhausted', 402),
  },
  account_off: {
    hangup: { cause: 403, text: 'Account suspended' }, teardown: 'account_off', finalizes: true,
    outcome: tornDown('account_off', 403),
  },
  max_duration: {
    hangup: { cause: 403, text: 'Maximum call duration reached' }, teardown: 'max_duration', finalizes: true,
    outcome: tornDown('max_duration', 403),
  },
  shutdown: {
    hangup: { cause: 503, text: 'Switch shutting down' }, teardown: 'shutdown', finalizes: true,
    outcome: (_, answered) => ({ disposition: answered ? 'answered' : 'failed', reason: 'shutdown', sipCode: answered ? 200 : 503 }),
  },
  link_lost: {
    // the drachtio link is gone: nothing can be sent any more
    hangup: null, teardown: null, finalizes: true,
    outcome: (_, answered) => ({ disposition: answered ? 'answered' : 'failed', reason: 'link_lost', sipCode: answered ? 200 : 0 }),
  },
  lease_lost: {
    hangup: { cause: 503, text: 'Call lease lost' }, teardown: 'lease_lost', finalizes: false,
    outcome: (_, answered) => ({ disposition: 'orphaned', reason: 'lease_expired', sipCode: answered ? 200 : 503 }),
  },
  admission_timeout: {
    // the caller was already refused as unavailable; the late admit is released without a call
    hangup: null, teardown: null, finalizes: true,
    outcome: (end) => ({ disposition: 'failed', reason: 'admission_timeout', sipCode: end.kind === 'admission_timeout' ? end.sipCode : 503 }),
  },
};

/** The outcome of one end of a call: the one function every path goes through. */
export function outcomeOf(end: CallEnd, answered: boolean): EndOutcome {
  const rule = CALL_END_RULES[end.kind];
  return { ...rule.outcome(end, answered), hangup: rule.hangup, teardown: rule.teardown, finalizes: rule.finalizes };
}
