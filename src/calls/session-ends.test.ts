import { pino } from 'pino';
import { admittedCall } from '../../test/helpers/fixtures.js';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.js';
import { CALL_END_RULES, type CallEnd, type CallEndKind, type EndOutcome, type HangupCause } from '../model/index.js';
import type { Engine, FinalizeRequest } from '../redis/engine.js';
import { CallSession } from './session.js';

const call = admittedCall;

const config = loadConfig({ env: { NODE_ENV: 'test' } });

/** One end of every kind, as the bridge, the registry or the session's own ticks produce it. */
const ENDS: Record<CallEndKind, CallEnd> = {
  bye: { kind: 'bye', by: 'callee' },
  cancel: { kind: 'cancel' },
  upstream_failure: { kind: 'upstream_failure', sipCode: 486 },
  link_lost: { kind: 'link_lost' },
  shutdown: { kind: 'shutdown' },
  funds: { kind: 'funds' },
  account_off: { kind: 'account_off' },
  lease_lost: { kind: 'lease_lost' },
  max_duration: { kind: 'max_duration' },
  admission_timeout: { kind: 'admission_timeout', sipCode: 503 },
};

/** What callgate itself sends, for the end kinds the bridge or the switch does not answer itself. */
const SENT_BY_OTHERS: Partial<Record<CallEndKind, number>> = { cancel: 487, upstream_failure: 486 };

async function endCall(end: CallEnd, answered: boolean) {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const finalized: FinalizeRequest[] = [];
  const hangups: HangupCause[] = [];
  const ended: EndOutcome[] = [];
  const engine: Pick<Engine, 'tickCall' | 'finalizeCall'> = {
    tickCall: async () => ({ outcome: 'reserved', held: 60_000, balance: 1_000_000, leaseExpiryMs: 0 }),
    finalizeCall: async (req) => {
      finalized.push(req);
      return { outcome: 'finalized', cdrEntryId: '1-1', balance: 0 };
    },
  };
  const session = new CallSession(call, {
    engine, config, logger,
    hangup: (cause) => void hangups.push(cause),
    onFinalized: () => {},
    onEnded: (_e, outcome) => void ended.push(outcome),
  });
  if (answered) session.markAnswered();
  // callgate hangs up for its own reasons; every other end is reported to the session as it happened
  if (CALL_END_RULES[end.kind].hangup) await session.teardown(end);
  else await session.end(end);
  await session.end(end); // a second end is the same one: nothing is counted or finalized twice
  return { finalized, hangups, ended, lines };
}

describe('the end of a call as data: wire, CDR, disposition and metric agree', () => {
  for (const kind of Object.keys(ENDS) as CallEndKind[]) {
    for (const answered of [false, true]) {
      // a BYE exists only in a dialog, after the answer
      if (kind === 'bye' && !answered) continue;
      it(`${kind}, ${answered ? 'answered' : 'before answer'}`, async () => {
        const { finalized, hangups, ended, lines } = await endCall(ENDS[kind], answered);
        expect(ended).toHaveLength(1);
        const outcome = ended[0]!;
        const rule = CALL_END_RULES[kind];
        // the wire: callgate's own hangup carries the rule's cause, once
        expect(hangups).toEqual(rule.hangup ? [rule.hangup] : []);
        // the final response the caller got: 200 once answered, else callgate's cause or the switch's answer
        const onWire = answered && kind !== 'cancel' && kind !== 'upstream_failure' && kind !== 'admission_timeout'
          ? 200
          : rule.hangup?.cause ?? SENT_BY_OTHERS[kind] ?? (kind === 'admission_timeout' ? 503 : 0);
        expect(outcome.sipCode).toBe(onWire);
        // the CDR: one finalize carrying the same code and disposition, unless a sweeper billed the call
        if (rule.finalizes) {
          expect(finalized).toHaveLength(1);
          expect(finalized[0]).toMatchObject({ sipCode: onWire, disposition: outcome.disposition, reason: outcome.reason });
        } else {
          expect(finalized).toEqual([]);
          expect(outcome.disposition).toBe('orphaned');
        }
        // the metric: callgate's teardowns are labelled by their own kind, and no other end is
        expect(outcome.teardown).toBe(rule.hangup ? (kind as string) : null);
        // the log: one line for the end, on the call's own logger, debug for a hangup or a cancel, info otherwise
        const endLines = lines.filter((l) => String(l.msg).startsWith('call ended'));
        expect(endLines).toHaveLength(1);
        expect(endLines[0]).toMatchObject({
          level: kind === 'bye' || kind === 'cancel' ? 20 : 30, callId: call.callId, accountId: call.account.id, switchId: config.switchId,
          end: kind, disposition: outcome.disposition, reason: outcome.reason, sipCode: outcome.sipCode,
        });
        expect(String(endLines[0]!.msg)).toContain(outcome.reason);
      });
    }
  }

  it('sends the account-OFF teardown before answer as 403, as its CDR says', async () => {
    const { hangups, finalized } = await endCall({ kind: 'account_off' }, false);
    expect(hangups).toEqual([{ cause: 403, text: 'Account suspended' }]);
    expect(finalized[0]).toMatchObject({ sipCode: 403, disposition: 'torn_down', reason: 'account_off' });
  });

  it('labels a shutdown teardown shutdown, not lease_lost', async () => {
    const { ended } = await endCall({ kind: 'shutdown' }, true);
    expect(ended[0]).toMatchObject({ teardown: 'shutdown', disposition: 'answered', reason: 'shutdown', sipCode: 200 });
  });
});
