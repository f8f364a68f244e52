import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Config } from '../config/schema.js';

/** What shows overload in this process, read at each new INVITE. */
export interface LoadSignals {
  /** Event-loop delay (p99 over the last sample window, beyond the monitor's resolution), in ms. */
  eventLoopDelayMs: number;
  /** Admissions started and not yet answered (the admit script under way). */
  inFlight: number;
  /**
   * Recent latency of the answered admit scripts as a share of their deadline (redis.commandTimeoutMs): an
   * EWMA, decaying while no admit runs.
   */
  admitLatencyShare: number;
}

export type LoadSignalSource = () => LoadSignals;

export type OverloadConfig = Config['overload'];

/** What the guard says of one new INVITE. */
export type OverloadVerdict =
  | { shed: false; level: number }
  | { shed: true; level: number; severe: boolean; retryAfterSeconds?: number };

/** 0 at or below `low`, 1 at or above `high`, linear between. */
export function ramp(value: number, { low, high }: { low: number; high: number }): number {
  if (!(value > low)) return 0; // NaN included
  if (value >= high) return 1;
  return (value - low) / (high - low);
}

/**
 * The load level in [0, 1]: each signal's ramp between its low and high threshold, the highest of them.
 * It is also the probability that a new INVITE is shed.
 */
export function loadLevel(signals: LoadSignals, config: OverloadConfig): number {
  return Math.max(
    ramp(signals.eventLoopDelayMs, config.eventLoopDelayMs),
    ramp(signals.inFlight, config.inFlight),
    ramp(signals.admitLatencyShare, config.admitLatencyShare),
  );
}

export interface OverloadGuardDeps {
  config: OverloadConfig;
  signals: LoadSignalSource;
  /** Uniform in [0, 1), as Math.random (the default); injected by tests. */
  random?: () => number;
}

export type OverloadGuard = { check(): OverloadVerdict };

/**
 * The overload guard of the INVITE edge: sheds a new INVITE with the probability of the load level, and
 * from `severeLevel` on adds a Retry-After drawn uniformly from `retryAfterSeconds` (jittered, so refused
 * callers do not all come back in the same second). Pure but for its two injected inputs.
 */
export function createOverloadGuard({ config, signals, random = Math.random }: OverloadGuardDeps): OverloadGuard {
  const { min, max } = config.retryAfterSeconds;
  return {
    check(): OverloadVerdict {
      if (!config.enabled) return { shed: false, level: 0 };
      const level = loadLevel(signals(), config);
      if (!(random() < level)) return { shed: false, level };
      const severe = level >= config.severeLevel;
      if (!severe) return { shed: true, level, severe };
      return { shed: true, level, severe, retryAfterSeconds: min + Math.min(max - min, Math.floor(random() * (max - min + 1))) };
    },
  };
}

/**
 * Signals that put the guard at a given level (0 to 1), whatever this process's load: the admissions in
 * flight at that point of their ramp. For tests only; a level that cannot be read is 0.
 */
export function forcedLevelSignals(readLevel: () => number, config: OverloadConfig): LoadSignalSource {
  const { low, high } = config.inFlight;
  return () => {
    const level = readLevel();
    const clamped = Number.isFinite(level) ? Math.min(1, Math.max(0, level)) : 0;
    return { eventLoopDelayMs: 0, inFlight: clamped === 0 ? 0 : low + clamped * (high - low), admitLatencyShare: 0 };
  };
}

export interface LoadMonitorOptions {
  sampleIntervalMs: number;
  /** The admit script's deadline (redis.commandTimeoutMs): its latency is read as a share of it. */
  admitDeadlineMs: number;
  /** Weight of the newest sample window in the admit-latency EWMA. */
  alpha?: number;
  /** monitorEventLoopDelay's resolution, ms (its floor, subtracted from what it reports). */
  resolutionMs?: number;
}

/**
 * The process's own load signals: event-loop delay from node:perf_hooks, sampled every window; the count of
 * admissions in flight (the middleware reports each start and end); and an EWMA of the answered admit
 * scripts' latency, fed with what the engine already observes and updated once a window, so that it decays back to 0
 * while no admit runs (when every INVITE is shed, nothing else would bring it down).
 */
export function createLoadMonitor({ sampleIntervalMs, admitDeadlineMs, alpha = 0.3, resolutionMs = 10 }: LoadMonitorOptions) {
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  let eventLoopDelayMs = 0;
  let inFlight = 0;
  let admitLatencyShare = 0;
  let windowSum = 0;
  let windowCount = 0;
  let timer: NodeJS.Timeout | undefined;

  function sample(): void {
    const p99 = histogram.count > 0 ? histogram.percentile(99) / 1e6 : resolutionMs;
    eventLoopDelayMs = Math.max(0, p99 - resolutionMs);
    histogram.reset();
    const windowMean = windowCount > 0 ? windowSum / windowCount : 0;
    admitLatencyShare = alpha * windowMean + (1 - alpha) * admitLatencyShare;
    windowSum = 0;
    windowCount = 0;
  }

  return {
    signals: (): LoadSignals => ({ eventLoopDelayMs, inFlight, admitLatencyShare }),
    admissionStarted(): void {
      inFlight += 1;
    },
    admissionEnded(): void {
      inFlight = Math.max(0, inFlight - 1);
    },
    /** One answered admit script call's latency (a failed one is Redis unavailability, not load). */
    observeAdmit(seconds: number): void {
      windowSum += (seconds * 1000) / admitDeadlineMs;
      windowCount += 1;
    },
    start(): void {
      if (timer) return;
      histogram.enable();
      timer = setInterval(sample, sampleIntervalMs);
      timer.unref();
    },
    stop(): void {
      if (timer) clearInterval(timer);
      timer = undefined;
      histogram.disable();
    },
  };
}

export type LoadMonitor = ReturnType<typeof createLoadMonitor>;
