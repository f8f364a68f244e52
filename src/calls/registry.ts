import type { AccountSignal } from '../admission/directory.js';
import type { CallEnd, CallSession } from './session.js';

/**
 * The live calls of this instance, by call and by account. Account signals from the change channel act
 * on them at once: an account turned OFF ticks its calls (the tick sees OFF and tears them down), and
 * funds arriving re-tick calls that are short, extending their paid time.
 */
export function createCallRegistry() {
  const calls = new Map<string, CallSession>();
  const byAccount = new Map<string, Set<CallSession>>();

  return {
    add(session: CallSession): void {
      calls.set(session.callId, session);
      let set = byAccount.get(session.accountId);
      if (!set) byAccount.set(session.accountId, (set = new Set()));
      set.add(session);
    },
    remove(session: CallSession): void {
      calls.delete(session.callId);
      const set = byAccount.get(session.accountId);
      set?.delete(session);
      if (set?.size === 0) byAccount.delete(session.accountId);
    },
    get: (callId: string) => calls.get(callId),
    size: () => calls.size,
    all: () => [...calls.values()],
    ofAccount: (accountId: string) => [...(byAccount.get(accountId) ?? [])],
    handleSignal(signal: AccountSignal): Promise<void[]> {
      return Promise.all([...(byAccount.get(signal.accountId) ?? [])].map((s) => s.tick()));
    },
    /** Hangs up every live call (shutdown) and waits for each single finalize. */
    hangUpAll(end: CallEnd): Promise<void[]> {
      return Promise.all([...calls.values()].map((s) => s.teardown(end)));
    },
    /** Ends every live call without signalling (the link is gone) and waits for each single finalize. */
    endAll(end: CallEnd): Promise<void[]> {
      return Promise.all([...calls.values()].map((s) => s.end(end)));
    },
  };
}

export type CallRegistry = ReturnType<typeof createCallRegistry>;
