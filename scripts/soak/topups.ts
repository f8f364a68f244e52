/** Tops the depletion accounts up while traffic runs, through the account service, counting what was applied. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccountService } from '../../src/accounts/service.js';
import { DEPLETION } from './accounts.js';

export interface TopUps {
  /** The amount of each top-up, dollars as text. */
  usd: string;
  /** Top-ups sent so far. */
  count(): number;
  /** Stops after the current round; resolves when the loop has ended. */
  stop(): Promise<void>;
}

/**
 * Every `topupSeconds`, one payment per depletion account: roughly half of what the depletion accounts burn,
 * so they run dry, go OFF, and come back ON. Applied amounts are added to `applied`.
 */
export function startTopUps(o: { accounts: AccountService; cps: number; topupSeconds: number; applied: Map<string, number> }): TopUps {
  const depRatePerAccount = (o.cps * 0.2) / DEPLETION.accounts.length;
  const concurrentPerAccount = Math.min(DEPLETION.channels, depRatePerAccount * (DEPLETION.holdMs / 1000));
  const usd = Math.max(1, Math.round(0.5 * concurrentPerAccount * 0.1 * o.topupSeconds * 100) / 100).toFixed(2);
  let seq = 0;
  let over = false;
  const loop = (async () => {
    while (!over) {
      await sleep(o.topupSeconds * 1000);
      if (over) break;
      for (const id of DEPLETION.accounts) {
        const res = await o.accounts.applyFunds(id, usd, `soak-topup-${++seq}`);
        if (res.outcome === 'applied') o.applied.set(id, o.applied.get(id)! + res.amount);
      }
    }
  })();
  return {
    usd,
    count: () => seq,
    stop: () => {
      over = true;
      return loop;
    },
  };
}
