import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.js';
import { createLoadMonitor, createOverloadGuard, forcedLevelSignals, loadLevel, ramp, stackTimeOfDayMs, waitSinceStamp, type LoadSignals } from './overload.js';

const config = resolveConfig({
  overload: { eventLoopDelayMs: { low: 100, high: 500 }, inFlight: { low: 100, high: 300 }, admitLatencyShare: { low: 0.5, high: 0.9 }, inviteWaitMs: { low: 50, high: 250 } },
}).overload;
const idle: LoadSignals = { eventLoopDelayMs: 0, inFlight: 0, admitLatencyShare: 0, inviteWaitMs: 0, hostCpuBusy: 0, hostCpuLevel: 0 };

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
    expect(loadLevel({ eventLoopDelayMs: 200, inFlight: 250, admitLatencyShare: 0.6, inviteWaitMs: 0, hostCpuBusy: 0, hostCpuLevel: 0 }, config)).toBe(0.75);
    expect(loadLevel({ ...idle, inviteWaitMs: 200 }, config)).toBe(0.75);
  });
});

describe('the overload guard', () => {
  it('sheds nothing while every signal is at or below its low threshold, whatever the random draws', () => {
    const { guard } = guardOver({ eventLoopDelayMs: 100, inFlight: 100, admitLatencyShare: 0.5, inviteWaitMs: 50, hostCpuBusy: 0.5, hostCpuLevel: 0 }, [0, 0.001, 0.999]);
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

describe('the INVITE wait (drachtio-server to this process)', () => {
  it('reads drachtio-server\'s stamp, the UTC time of day to the microsecond, and refuses any other form', () => {
    expect(stackTimeOfDayMs('00:00:00.000000')).toBe(0);
    expect(stackTimeOfDayMs('15:56:54.992879')).toBeCloseTo(((15 * 60 + 56) * 60 + 54) * 1000 + 992.879, 6);
    expect(stackTimeOfDayMs('23:59:59.5')).toBe(86_399_500);
    for (const bad of [undefined, '', '24:00:00.000000', '12:60:00.000000', '12:00:00', '1796313414.992879', '12:00:00.1234567']) {
      expect(stackTimeOfDayMs(bad)).toBeUndefined();
    }
  });

  it('takes the wait across midnight the short way round, and a stamp ahead of this clock as a small negative wait', () => {
    const day = 86_400_000;
    const midnight = Date.UTC(2026, 11, 3);
    expect(waitSinceStamp(day - 30, midnight + 20)).toBe(50);
    expect(waitSinceStamp(1000, midnight + 1200)).toBe(200);
    expect(waitSinceStamp(1200, midnight + 1000)).toBe(-200);
    expect(waitSinceStamp(10, midnight + day - 10)).toBe(-20);
  });

  it('is the mean wait of the window above the lowest wait remembered, so that a clock offset cancels; 0 when no INVITE came', async () => {
    const monitor = createLoadMonitor({ sampleIntervalMs: 250, admitDeadlineMs: 250 });
    const stamp = (ms: number) => {
      const d = new Date(ms);
      const p = (n: number, w = 2) => String(n).padStart(w, '0');
      return `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds() * 1000, 6)}`;
    };
    const skew = 7_000; // drachtio-server's clock 7 s behind this one: every wait reads 7 s too long
    const now = Date.UTC(2026, 11, 3, 12, 0, 0);
    const sampled = () => monitor.sample(); // the window ends
    for (const w of [2, 3, 2]) monitor.inviteReceived(stamp(now - skew - w), now);
    sampled();
    expect(monitor.signals().inviteWaitMs).toBeCloseTo(1 / 3, 1); // mean 2.33 above the lowest, 2
    for (const w of [202, 302]) monitor.inviteReceived(stamp(now - skew - w), now);
    sampled();
    expect(monitor.signals().inviteWaitMs).toBeCloseTo(250, 1); // a backlog: mean 252 above the idle 2
    monitor.inviteReceived(undefined, now); // no stamp (an older drachtio-server): not counted
    sampled();
    expect(monitor.signals().inviteWaitMs).toBe(0);
    for (const w of [2, 4]) monitor.inviteReceived(stamp(now - skew - w), now);
    sampled();
    expect(monitor.signals().inviteWaitMs).toBeCloseTo(1, 1); // the backlog is gone
  });
});

describe('the host CPU in use', () => {
  it('is the busy share of every core between two samples, smoothed; its shed level climbs while busy, holds in the band and falls below it', () => {
    let t = { idle: 0, total: 0 };
    const monitor = createLoadMonitor({ sampleIntervalMs: 250, admitDeadlineMs: 250, alpha: 0.5, cpuTimes: () => t, hostCpu: { low: 0.5, high: 0.7, step: 0.2 } });
    const busy = (share: number) => {
      t = { idle: t.idle + 100 * (1 - share), total: t.total + 100 };
      monitor.sample();
      return monitor.signals();
    };
    expect(busy(0.8)).toMatchObject({ hostCpuBusy: 0.4, hostCpuLevel: 0 }); // half-way from 0: in the band
    expect(busy(1).hostCpuBusy).toBeCloseTo(0.7, 9);
    expect(monitor.signals().hostCpuLevel).toBeCloseTo(0.2, 9); // at high: climbs
    for (let k = 0; k < 6; k++) busy(1);
    expect(monitor.signals().hostCpuLevel).toBe(1); // however long the host stays out of CPU, at most 1
    monitor.sample(); // no tick in between: everything holds
    expect(monitor.signals().hostCpuLevel).toBe(1);
    for (let k = 0; k < 4; k++) busy(0.6); // the smoothed share comes down into the band
    const inBand = monitor.signals();
    expect(inBand.hostCpuBusy).toBeGreaterThan(0.5);
    expect(inBand.hostCpuBusy).toBeLessThan(0.7);
    expect(inBand.hostCpuLevel).toBe(1); // in the band: holds, so the shedding that brought it there goes on
    busy(0);
    busy(0);
    expect(monitor.signals().hostCpuLevel).toBeCloseTo(0.8, 9); // below low: falls by half a step per window
    expect(loadLevel({ ...idle, hostCpuLevel: 0.35 }, config)).toBeCloseTo(0.35, 9); // taken as it is
  });
});
