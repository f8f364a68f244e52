import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { admittedCall } from '../../test/helpers/fixtures.js';
import { loadConfig } from '../config/index.js';
import type { Engine } from '../redis/engine.js';
import { CallSession } from './session.js';

const call = admittedCall;

/** A session whose engine fails every finalize until `failures` have failed; records when each attempt came. */
function sessionWithFailingFinalize(leaseTtlMs: number, retryDelayMs: number, failures: number) {
  const attempts: number[] = [];
  const finalized: string[] = [];
  const engine: Pick<Engine, 'tickCall' | 'finalizeCall'> = {
    tickCall: async () => ({ outcome: 'ok' }) as unknown as Awaited<ReturnType<Engine['tickCall']>>,
    finalizeCall: async () => {
      attempts.push(Date.now());
      if (attempts.length <= failures) throw new Error('Redis unreachable');
      return { outcome: 'finalized', cdrEntryId: '1-1', balance: 0 } as unknown as Awaited<ReturnType<Engine['finalizeCall']>>;
    },
  };
  const config = loadConfig({ env: { NODE_ENV: 'test' }, overrides: { billing: { leaseTtlMs, tickIntervalMs: Math.floor(leaseTtlMs / 2) } } });
  const session = new CallSession(call, {
    engine, config, logger: pino({ level: 'silent' }), retryDelayMs, hangup: () => {}, onFinalized: (_a, id) => void finalized.push(id),
  });
  return { session, attempts, finalized };
}

describe('CallSession finalize retries', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never waits more than a quarter of the lease TTL between attempts, so it lands before the sweeper may sweep', async () => {
    vi.useFakeTimers({ now: 0 });
    const { session, attempts, finalized } = sessionWithFailingFinalize(800, 50, 8);
    const ended = session.end({ kind: 'bye', by: 'caller' });
    await vi.advanceTimersByTimeAsync(10_000);
    await ended;
    expect(attempts).toHaveLength(9);
    expect(finalized).toEqual(['1-1']);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    // exponential from 50 ms, then held at 800 / 4
    expect(gaps).toEqual([50, 100, 200, 200, 200, 200, 200, 200]);
  });

  it('backs off to 5 s at most with a long lease', async () => {
    vi.useFakeTimers({ now: 0 });
    const { session, attempts } = sessionWithFailingFinalize(60_000, 200, 7);
    const ended = session.end({ kind: 'bye', by: 'caller' });
    await vi.advanceTimersByTimeAsync(60_000);
    await ended;
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    expect(gaps).toEqual([200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
  });
});
