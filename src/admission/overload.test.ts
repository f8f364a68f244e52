import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.js';
import { createLoadMonitor, createOverloadGuard, forcedLevelSignals, loadLevel, ramp, type LoadSignals } from './overload.js';

const config = resolveConfig({ overload: { eventLoopDelayMs: { low: 100, high: 500 }, inFlight: { low: 100, high: 300 }, admitLatencyShare: { low: 0.5, high: 0.9 } } }).overload;
const idle: LoadSignals = { eventLoopDelayMs: 0, inFlight: 0, admitLatencyShare: 0 };

/** A guard over a load the test sets, and a random sequence it chooses (cycled). */
function guardOver(signals: LoadSignals, randoms: number[] = [0.5], over = config) {
  let load = signals;
  let i = 0;
  const guard = createOverloadGuard({ config: over, signals: () => load, random: () => randoms[i++ % randoms.length]! });
  return { guard, setLoad: (next: LoadSignals) => { load = next; } };
}

/** The share of `n` INVITEs shed at one load, with an even spread of random values over [0, 1). */
function shedShare(signals: LoadSignals, n = 1000): number {
  const randoms = Array.from({ length: n }, (_, k) => k / n);
  const { guard } = guardOver(signals, randoms);
  let shed = 0;
  for (let k = 0; k < n; k++) if (guard.check().shed) shed += 1;
  return shed / n;
}

describe('the load level', () => {
  it('ramps each signal linearly between its low and high threshold, and takes the highest', () => {
    expect(ramp(100, { low: 100, high: 500 })).toBe(0);
    expect(ramp(300, { low: 100, high: 500 })).toBe(0.5);
    expect(ramp(900, { low: 100, high: 500 })).toBe(1);
    expect(ramp(Number.NaN, { low: 100, high: 500 })).toBe(0);
    expect(loadLevel(idle, config)).toBe(0);
    expect(loadLevel({ eventLoopDelayMs: 200, inFlight: 250, admitLatencyShare: 0.6 }, config)).toBe(0.75);
  });
});

describe('the overload guard', () => {
  it('sheds nothing while every signal is at or below its low threshold, whatever the random draws', () => {
    const { guard } = guardOver({ eventLoopDelayMs: 100, inFlight: 100, admitLatencyShare: 0.5 }, [0, 0.001, 0.999]);
    for (let k = 0; k < 30; k++) expect(guard.check()).toEqual({ shed: false, level: 0 });
  });

  it('sheds a share that rises with the load, and falls back to none when the load drops', () => {
    const shares = [0, 125, 150, 200, 250, 300, 400].map((inFlight) => shedShare({ ...idle, inFlight }));
    expect(shares).toEqual([0, 0.125, 0.25, 0.5, 0.75, 1, 1]);
    const { guard, setLoad } = guardOver({ ...idle, eventLoopDelayMs: 400 }, [0.5]);
    expect(guard.check()).toMatchObject({ shed: true, level: 0.75 });
    setLoad({ ...idle, eventLoopDelayMs: 50 });
    expect(guard.check()).toEqual({ shed: false, level: 0 });
  });

  it('adds no Retry-After below the severe level', () => {
    const { guard } = guardOver({ ...idle, admitLatencyShare: 0.82 }, [0.1]); // level 0.8, severe from 0.9
    expect(guard.check()).toEqual({ shed: true, level: expect.closeTo(0.8, 9), severe: false });
  });

  it('from the severe level on, adds a Retry-After jittered over the configured range, both ends included', () => {
    const { guard } = guardOver({ ...idle, inFlight: 1000 }, [0, 0, 0, 0.5, 0, 0.9999]);
    const retries = [guard.check(), guard.check(), guard.check()].map((v) => (v.shed ? v.retryAfterSeconds : undefined));
    expect(retries).toEqual([2, 6, 10]); // the defaults: 2 to 10 s
    const many = shedShareRetries();
    expect(Math.min(...many)).toBe(2);
    expect(Math.max(...many)).toBe(10);
  });

  it('sheds nothing when disabled', () => {
    const { guard } = guardOver({ ...idle, inFlight: 1000 }, [0], { ...config, enabled: false });
    expect(guard.check().shed).toBe(false);
  });
});

function shedShareRetries(): number[] {
  const guard = createOverloadGuard({ config, signals: () => ({ ...idle, inFlight: 1000 }), random: Math.random });
  return Array.from({ length: 500 }, () => {
    const v = guard.check();
    if (!v.shed || v.retryAfterSeconds === undefined) throw new Error('a severe load must shed with a Retry-After');
    return v.retryAfterSeconds;
  });
}

describe('a forced level (the e2e hook)', () => {
  it('puts the guard at the level read, clamped to [0, 1]; what cannot be read is 0', () => {
    const at = (level: number) => loadLevel(forcedLevelSignals(() => level, config)(), config);
    expect([0, 0.5, 1, 7, -1, Number.NaN].map(at)).toEqual([0, 0.5, 1, 1, 0, 0]);
  });
});

describe('the load monitor', () => {
  it('counts admissions in flight and decays the admit-latency EWMA back to 0 once no admit runs', async () => {
    const monitor = createLoadMonitor({ sampleIntervalMs: 10, admitDeadlineMs: 250, alpha: 0.5 });
    monitor.admissionStarted();
    monitor.admissionStarted();
    monitor.admissionEnded();
    expect(monitor.signals().inFlight).toBe(1);
    monitor.start();
    try {
      monitor.observeAdmit(0.2);
      monitor.observeAdmit(0.2);
      await new Promise((r) => setTimeout(r, 15));
      const loaded = monitor.signals().admitLatencyShare;
      expect(loaded).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 200));
      expect(monitor.signals().admitLatencyShare).toBeLessThan(loaded / 100);
      expect(monitor.signals().eventLoopDelayMs).toBeGreaterThanOrEqual(0);
    } finally {
      monitor.stop();
    }
  });
});
