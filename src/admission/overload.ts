import { cpus } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Config } from '../config/schema.js';
import { DEFAULTS } from '../config/defaults.js';

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
  /**
   * How long the INVITEs of the last sample window waited between drachtio-server handing them to this
   * process and this process reading them (the link's and the event loop's backlog together), mean, in ms,
   * above the lowest wait seen in the last few minutes (so that a clock offset between the two hosts cancels).
   */
  inviteWaitMs: number;
  /**
   * The share of the host's CPU time in use (all cores, every process: drachtio-server's too), 0 to 1, over
   * the last sample windows (EWMA). On a host out of CPU every process waits, drachtio-server's reading of
   * its socket included, which this process's own signals do not see.
   */
  hostCpuBusy: number;
  /**
   * The shed level the host's CPU asks for, 0 to 1: it climbs by `hostCpuStep` each window while
   * hostCpuBusy is at or above its `high`, falls by half that below its `low`, and holds between. A busy
   * share stops at 100% however far the offered load goes past it; this level goes on until enough is shed.
   */
  hostCpuLevel: number;
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
    ramp(signals.inviteWaitMs, config.inviteWaitMs),
    Math.min(1, Math.max(0, signals.hostCpuLevel)),
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
    return { eventLoopDelayMs: 0, inFlight: clamped === 0 ? 0 : low + clamped * (high - low), admitLatencyShare: 0, inviteWaitMs: 0, hostCpuBusy: 0, hostCpuLevel: 0 };
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
  /** How long the lowest INVITE wait is remembered, as the zero of the wait signal (default 5 minutes). */
  baseWaitMemoryMs?: number;
  /** The host's CPU times so far (os.cpus(), summed over the cores); injected by tests. */
  cpuTimes?: () => { idle: number; total: number };
  /** hostCpuBusy's band, and how far hostCpuLevel moves in a window (overload.hostCpuBusy, overload.hostCpuStep). */
  hostCpu?: { low: number; high: number; step: number };
}

/** The host's CPU times so far, in ms, summed over every core. */
export function hostCpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const { times } of cpus()) {
    idle += times.idle;
    total += times.user + times.nice + times.sys + times.idle + times.irq;
  }
  return { idle, total };
}

const DAY_MS = 86_400_000;

/**
 * drachtio-server's stamp on a message it hands to the application (drachtio-srf's `req.stackTime`): the
 * UTC time of day, `HH:MM:SS.uuuuuu`, taken with sofia-sip's su_now() when drachtio passes the message on.
 * Returns ms since midnight UTC, or undefined when the stamp is absent or not in that form.
 */
export function stackTimeOfDayMs(stamp: string | undefined): number | undefined {
  const m = stamp === undefined ? null : /^(\d{2}):(\d{2}):(\d{2})\.(\d{1,6})$/.exec(stamp);
  if (!m) return undefined;
  const [h, min, sec] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (h > 23 || min > 59 || sec > 59) return undefined;
  return ((h * 60 + min) * 60 + sec) * 1000 + Number(m[4]!.padEnd(6, '0')) / 1000;
}

/**
 * The wait of one message: now minus its stamp, both as times of day, taken across midnight the short way
 * round (a stamp a little ahead of this clock gives a small negative wait, never one of almost a day).
 */
export function waitSinceStamp(stampMs: number, nowMs: number): number {
  const d = (((nowMs % DAY_MS) - stampMs) % DAY_MS + DAY_MS) % DAY_MS;
  return d > DAY_MS / 2 ? d - DAY_MS : d;
}

/**
 * The process's own load signals: event-loop delay from node:perf_hooks, sampled every window; the count of
 * admissions in flight (the middleware reports each start and end); and an EWMA of the answered admit
 * scripts' latency, fed with what the engine already observes and updated once a window, so that it decays back to 0
 * while no admit runs (when every INVITE is shed, nothing else would bring it down).
 */
export function createLoadMonitor({
  sampleIntervalMs, admitDeadlineMs, alpha = 0.3, resolutionMs = 10, baseWaitMemoryMs = 300_000, cpuTimes = hostCpuTimes,
  hostCpu = { ...DEFAULTS.overload.hostCpuBusy, step: DEFAULTS.overload.hostCpuStep },
}: LoadMonitorOptions) {
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  let eventLoopDelayMs = 0;
  let inFlight = 0;
  let admitLatencyShare = 0;
  let windowSum = 0;
  let windowCount = 0;
  let inviteWaitMs = 0;
  let waitSum = 0;
  let waitCount = 0;
  let waitMin = Number.POSITIVE_INFINITY;
  // the lowest wait of each recent window: their minimum is the wait of an idle link, the signal's zero
  const baseWaits: number[] = [];
  const baseWindows = Math.max(1, Math.ceil(baseWaitMemoryMs / sampleIntervalMs));
  let hostCpuBusy = 0;
  let hostCpuLevel = 0;
  let lastCpu = cpuTimes();
  let timer: NodeJS.Timeout | undefined;

  function sampleCpu(): void {
    const now = cpuTimes();
    const total = now.total - lastCpu.total;
    const idle = now.idle - lastCpu.idle;
    lastCpu = now;
    if (total <= 0) return; // the clock ticks coarser than the window: keep the last figure
    const busy = Math.min(1, Math.max(0, 1 - idle / total));
    hostCpuBusy = alpha * busy + (1 - alpha) * hostCpuBusy;
    if (hostCpuBusy >= hostCpu.high) hostCpuLevel = Math.min(1, hostCpuLevel + hostCpu.step);
    else if (hostCpuBusy < hostCpu.low) hostCpuLevel = Math.max(0, hostCpuLevel - hostCpu.step / 2);
  }

  function sampleWaits(): void {
    if (waitCount === 0) {
      inviteWaitMs = 0; // no INVITE came: nothing waits
      return;
    }
    baseWaits.push(waitMin);
    if (baseWaits.length > baseWindows) baseWaits.shift();
    const base = Math.min(...baseWaits);
    inviteWaitMs = Math.max(0, waitSum / waitCount - base);
    waitSum = 0;
    waitCount = 0;
    waitMin = Number.POSITIVE_INFINITY;
  }

  function sample(): void {
    sampleWaits();
    sampleCpu();
    const p99 = histogram.count > 0 ? histogram.percentile(99) / 1e6 : resolutionMs;
    eventLoopDelayMs = Math.max(0, p99 - resolutionMs);
    histogram.reset();
    const windowMean = windowCount > 0 ? windowSum / windowCount : 0;
    admitLatencyShare = alpha * windowMean + (1 - alpha) * admitLatencyShare;
    windowSum = 0;
    windowCount = 0;
  }

  return {
    signals: (): LoadSignals => ({ eventLoopDelayMs, inFlight, admitLatencyShare, inviteWaitMs, hostCpuBusy, hostCpuLevel }),
    /** Ends the current sample window now (start() does it every sampleIntervalMs). */
    sample,
    /** A new INVITE read from drachtio-server, with its stamp (`req.stackTime`); one without a stamp is not counted. */
    inviteReceived(stackTime: string | undefined, nowMs: number = Date.now()): void {
      const stamp = stackTimeOfDayMs(stackTime);
      if (stamp === undefined) return;
      const wait = waitSinceStamp(stamp, nowMs);
      waitSum += wait;
      waitCount += 1;
      if (wait < waitMin) waitMin = wait;
    },
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
      lastCpu = cpuTimes();
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
