import { describe, expect, it } from 'vitest';
import { estimateDepletion } from './depletion.js';

describe('estimateDepletion', () => {
  it('reports nothing when the account has never been debited', () => {
    expect(estimateDepletion({ burn: 0, burnAt: 0 }, 5_000_000, 1_000)).toEqual({
      burnPerSecond: 0, burnPerHour: 0, secondsToDepletion: null, depletesAt: null,
    });
  });

  it('divides available funds by the current rate', () => {
    // 100 micro-dollars per second, measured just now: $1 lasts 10,000 s
    const d = estimateDepletion({ burn: 100, burnAt: 50_000 }, 1_000_000, 50_000);
    expect(d).toEqual({ burnPerSecond: 100, burnPerHour: 360_000, secondsToDepletion: 10_000, depletesAt: 50_000 + 10_000_000 });
  });

  it('decays the rate with time since the last debit (tau 300 s)', () => {
    const d = estimateDepletion({ burn: 100, burnAt: 0 + 1 }, 1_000_000, 300_001);
    expect(d.burnPerSecond).toBeCloseTo(100 / Math.E, 6);
    expect(d.secondsToDepletion).toBe(Math.round(1_000_000 / (100 / Math.E)));
  });

  it('says zero seconds left when funds are already gone', () => {
    expect(estimateDepletion({ burn: 100, burnAt: 10 }, -5, 10).secondsToDepletion).toBe(0);
  });
});
