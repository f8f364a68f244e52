import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffDelayMs, pause } from './backoff.js';

const schedule = { backoffMs: 100, maxBackoffMs: 1_000 };

describe('retry back-off', () => {
  it('doubles from backoffMs after each failed attempt, up to maxBackoffMs', () => {
    const top = (attempt: number) => backoffDelayMs(schedule, attempt, () => 1);
    expect([1, 2, 3, 4, 5, 6].map(top)).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('waits a random part of the upper half: never less than half the full delay', () => {
    expect(backoffDelayMs(schedule, 3, () => 0)).toBe(200);
    expect(backoffDelayMs(schedule, 3, () => 0.5)).toBe(300);
    expect(backoffDelayMs(schedule, 3, () => 0.999)).toBe(400);
  });

  it('stays at the cap for attempt numbers far past the doubling range', () => {
    expect(backoffDelayMs({ backoffMs: 600_000, maxBackoffMs: 3_600_000 }, 100, () => 1)).toBe(3_600_000);
  });
});

describe('abortable pause', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves true once the time has passed', async () => {
    vi.useFakeTimers();
    const done = pause(5_000, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(5_000);
    await expect(done).resolves.toBe(true);
  });

  it('resolves false at once when the signal aborts, before or during the wait', async () => {
    vi.useFakeTimers();
    const aborted = new AbortController();
    aborted.abort();
    await expect(pause(5_000, aborted.signal)).resolves.toBe(false);
    const later = new AbortController();
    const waiting = pause(5_000, later.signal);
    later.abort();
    await expect(waiting).resolves.toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });
});
