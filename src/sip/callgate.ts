import { join } from 'node:path';
import type Srf from 'drachtio-srf';
import type { CallgateConfigInput, Config } from '../config/schema.js';
import { resolveConfig } from '../config/load.js';
import { createRootLogger, type Logger } from '../logger.js';
import type { Redis } from '../redis/client.js';
import { createKeys } from '../redis/keys.js';
import { createEngine } from '../redis/engine.js';
import { createChangeBus } from '../redis/change-bus.js';
import { createDirectory } from '../admission/directory.js';
import { createAdmission } from '../admission/admit.js';
import { createLoadMonitor, createOverloadGuard, loadLevel, type LoadSignalSource } from '../admission/overload.js';
import { createCallRegistry } from '../calls/registry.js';
import { createSweeper } from '../calls/sweeper.js';
import { createUsageJournal } from '../calls/journal.js';
import { createCdrFiles } from '../cdr/files.js';
import { createCdrWriter } from '../cdr/writer.js';
import { createMetrics, type Metrics } from '../metrics/metrics.js';
import { createDispatcher } from '../notify/dispatcher.js';
import { createOverflowGuard } from '../notify/overflow.js';
import { admissionControl } from './middleware.js';
import { createBridge, upstreamFailureReason } from './bridge.js';
import { createSevereUnroute } from './severe-unroute.js';
import { createRefusalCounter } from '../traffic/refusals.js';
import { createTrafficMonitor } from '../traffic/monitor.js';
import { createTrafficGuard } from '../traffic/guard.js';
import type { SipHandler, SipMiddleware } from './srf-augment.js';

export interface CallgateDeps {
  srf: Srf;
  /** A node-redis client or cluster; one made by connectRedis also bounds every command by its deadline. */
  redis: Redis;
  /**
   * Plain data: only what differs from the built-in defaults (src/config/defaults.ts), validated here,
   * every problem reported at once (ConfigError); or a config loadConfig/resolveConfig already made.
   */
  config?: CallgateConfigInput | Config;
  logger?: Logger;
  metrics?: Metrics;
  /**
   * The overload guard's load signals in place of this process's own (event-loop delay, admissions in
   * flight, admit latency): tests force the guard's level with it.
   */
  loadSignals?: LoadSignalSource;
}

/**
 * callgate's core, for any drachtio-srf application to mount: the admission middleware and the B2BUA
 * handler, and everything that makes admitting a call safe: the registry and its sessions, the sweeper,
 * the CDR writer, the journal replay, the change subscription and the notification dispatcher. Admission
 * refuses every INVITE (503) until start() has brought all of that up, so it cannot run without them.
 */
export function createCallgate(deps: CallgateDeps) {
  const { srf, redis } = deps;
  const config = resolveConfig(deps.config);
  const logger = deps.logger ?? createRootLogger(config);
  const metrics = deps.metrics ?? createMetrics();
  const keys = createKeys(config.redis.keyPrefix);
  // the overload guard's signals: sampled from start() to stop()
  const load = createLoadMonitor({
    sampleIntervalMs: config.overload.sampleIntervalMs, admitDeadlineMs: config.redis.commandTimeoutMs,
    hostCpu: { ...config.overload.hostCpuBusy, step: config.overload.hostCpuStep },
  });
  const engine = createEngine({
    redis, keys, switchId: config.switchId, leaseTtlMs: config.billing.leaseTtlMs,
    ...(config.traffic.enabled ? { traffic: { shortCallSeconds: config.traffic.shortCallSeconds, maxSamples: config.traffic.maxSamples } } : {}),
    observeScript: (script, seconds, answered) => {
      metrics.scriptSeconds.labels(script).observe(seconds);
      if (script === 'admit' && answered) load.observeAdmit(seconds);
    },
  });
  // the instance's one subscriber on the change channel, shared by the directory, the registry and the dispatcher
  const changes = createChangeBus({ redis, keys, logger });
  // fraud rules, blocks and maximum call durations, from the account hashes the directory reads
  const guard = config.traffic.enabled
    ? createTrafficGuard({
      engine, logger, snoozeMs: config.traffic.snoozeMs,
      onAlert: (rule, level) => metrics.trafficAlerts.labels(rule, level).inc(),
    })
    : undefined;
  const directory = createDirectory({
    redis, keys, logger, trustedPeers: config.identification.trustedPeers, changes,
    ...(guard
      ? {
        onAccountHash: (id: string, hash: Record<string, string> | undefined) => {
          guard.update(id, hash);
          metrics.trafficGuardedAccounts.set(guard.size());
        },
      }
      : {}),
  });
  const files = createCdrFiles({ dir: config.cdr.dir, switchId: config.switchId, logger });
  // with customer files on, each written CDR is handed over to its account's export stream (src/export)
  const cdrWriter = createCdrWriter({
    redis, keys, files, switchId: config.switchId, listAccounts: () => directory.accountIds(), logger, handOff: config.cdrExport.enabled,
  });
  const journal = createUsageJournal({ dir: join(config.cdr.dir, 'journal'), switchId: config.switchId, logger });
  const registry = createCallRegistry();
  // aborted when the process stops: finalizes the journal holds stop retrying, the next start replays them
  const stopping = new AbortController();
  changes.listen(({ kind, id }) => {
    if (kind === 'off' || kind === 'funds') void registry.handleSignal({ kind, accountId: id });
  });
  const sweeper = createSweeper({
    redis, keys, engine, logger, accountIds: () => directory.accountIds(), intervalMs: config.sweeper.intervalMs,
    resumeGraceMs: config.billing.leaseTtlMs,
    onSwept: (accountId, ids) => {
      metrics.swept.inc(ids.length);
      cdrWriter.submit(accountId, ids);
    },
  });
  // notifications are delivered only when webhooks are configured; until then events wait in Redis
  const dispatcher = config.notify.webhooks.length > 0
    ? createDispatcher({
      redis, keys, config: config.notify, logger, metrics, accountIds: () => directory.accountIds(), consumerId: config.switchId, changes,
    })
    : undefined;

  // events are kept until delivered; this bounds what an account holds, with or without webhooks
  const overflow = createOverflowGuard({
    redis, keys, logger, accountIds: () => directory.accountIds(), maxPerAccount: config.notify.maxUndeliveredPerAccount,
    intervalMs: config.notify.scanIntervalMs, instanceId: config.switchId, onMoved: (_id, n) => metrics.eventsOverflowed.inc(n),
  });

  // traffic profiles: answered-call figures are counted by finalize itself; refusals here, in batches
  const traffic = config.traffic.enabled
    ? (() => {
      const monitor = createTrafficMonitor({
        engine, config: config.traffic, logger,
        onAlert: (rule, level, suspended) => {
          metrics.trafficAlerts.labels(rule, level).inc();
          if (suspended) metrics.trafficSuspensions.inc();
        },
      });
      const refusals = createRefusalCounter({
        write: (batch) => engine.recordRefusals(batch), logger, flushMs: config.traffic.refusalFlushMs,
        onWritten: (id) => monitor.touch(id),
      });
      return { monitor, refusals, guard };
    })()
    : undefined;

  // the guard's level, once a sample window: a gauge, and at the severe level the INVITE route off drachtio-server
  const loadSignals = deps.loadSignals ?? load.signals;
  const unroute = createSevereUnroute({
    srf, logger, metrics, severeLevel: config.overload.severeLevel, holdMs: config.overload.unrouteHoldMs,
  });
  let levelTimer: NodeJS.Timeout | undefined;
  const watchLevel = () => {
    const signals = loadSignals();
    const level = loadLevel(signals, config.overload);
    metrics.overloadLevel.set(level);
    metrics.overloadSignal.labels('event_loop_delay_ms').set(signals.eventLoopDelayMs);
    metrics.overloadSignal.labels('in_flight').set(signals.inFlight);
    metrics.overloadSignal.labels('admit_latency_share').set(signals.admitLatencyShare);
    metrics.overloadSignal.labels('invite_wait_ms').set(signals.inviteWaitMs);
    metrics.overloadSignal.labels('host_cpu_busy').set(signals.hostCpuBusy);
    metrics.overloadSignal.labels('host_cpu_level').set(signals.hostCpuLevel);
    unroute.update(level);
  };

  let state: 'created' | 'running' | 'draining' | 'stopped' = 'created';
  const admitInvite = createAdmission({ config, directory, engine, logger, ...(guard ? { guard } : {}) });
  const admission: SipMiddleware = admissionControl({
    admitInvite, config, logger, metrics, isDraining: () => state !== 'running',
    recordRejection: (attempt) => cdrWriter.recordRejection(attempt),
    ...(traffic ? { countRefusal: (id: string, prefix: string, dialed: string) => traffic.refusals.refused(id, prefix, dialed) } : {}),
    overload: createOverloadGuard({ config: config.overload, signals: loadSignals }),
    load,
  });
  const bridgeCall = createBridge({
    srf, routeUris: config.routeUris, registry, logger, metrics,
    session: {
      engine, config, logger, journal, stopSignal: stopping.signal,
      onFinalized: (accountId, entryId) => {
        cdrWriter.submit(accountId, [entryId]);
        traffic?.monitor.touch(accountId);
      },
      // every end of every call is counted here, once, under the labels CALL_END_RULES gives it
      onEnded: (_end, outcome) => {
        metrics.callsEnded.labels(outcome.disposition).inc();
        if (outcome.teardown) metrics.teardowns.labels(outcome.teardown).inc();
      },
      onTick: (outcome) => metrics.ticks.labels(outcome).inc(),
    },
  });
  /** The INVITE handler after admission: bridges the admitted call to the switch routes. */
  const bridge: SipHandler = (req, res) => {
    bridgeCall(req, res).catch((err) => {
      logger.error({ err, callId: req.locals.callgate?.callId }, 'bridge failed');
      if (!res.finalResponseSent) res.send(500, { headers: { Reason: upstreamFailureReason(500) } });
    });
  };

  /** Waits for every finalize under way; once `stopping` is aborted each ends after its current attempt. */
  async function settleEndedCalls(): Promise<void> {
    await Promise.all(registry.all().map((s) => s.whenFinalized()));
  }

  async function stopParts(): Promise<void> {
    if (levelTimer) clearInterval(levelTimer);
    unroute.stop();
    load.stop();
    await traffic?.refusals.stop();
    await traffic?.monitor.stop();
    await sweeper.stop();
    await cdrWriter.stop();
    await journal.close();
    await dispatcher?.stop(); // unacknowledged events stay in Redis
    await overflow.stop();
    await directory.stop();
    await changes.stop();
  }

  return {
    admission,
    bridge,
    metrics,
    /** Loads the directory, replays the journal, starts the sweeper, the CDR writer and the dispatcher; then admits. */
    async start(): Promise<void> {
      if (state !== 'created') throw new Error(`callgate cannot start: it is ${state}`);
      await directory.start();
      await cdrWriter.start({ recoverIntervalMs: 60_000 });
      // finalizes journaled during an earlier Redis outage, if that run ended before they landed
      for (const { accountId, cdrEntryId } of await journal.replay(engine)) cdrWriter.submit(accountId, [cdrEntryId]);
      sweeper.start();
      overflow.start();
      traffic?.refusals.start();
      traffic?.monitor.start();
      if (config.overload.enabled) {
        if (!deps.loadSignals) load.start();
        levelTimer = setInterval(watchLevel, config.overload.sampleIntervalMs);
        levelTimer.unref();
      }
      // admission does not depend on notifications: a failed start is logged, and the events wait in Redis
      await dispatcher?.start().catch((err: unknown) => logger.error({ err }, 'webhook dispatcher failed to start'));
      state = 'running';
    },
    /** Refuses new INVITEs with 503, lets live calls finish up to sip.drainTimeoutMs, then hangs up the rest. */
    async drain(): Promise<void> {
      if (state === 'running' || state === 'created') state = 'draining';
      metrics.draining.set(1);
      const deadline = Date.now() + config.sip.drainTimeoutMs;
      while (registry.size() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      if (registry.size() > 0) {
        logger.warn({ calls: registry.size() }, 'drain timeout: ending the remaining calls');
        // from here a finalize that cannot reach Redis is left to the journal instead of being retried
        stopping.abort();
        await registry.hangUpAll({ kind: 'shutdown' });
        await settleEndedCalls();
      }
    },
    /**
     * Stops everything start() started; the Redis client stays the caller's to close. A finalize still
     * retrying against an unreachable Redis stops once the journal holds it (after at most one attempt,
     * bounded by redis.operationTimeoutMs); the next start's journal replay bills it.
     */
    async stop(): Promise<void> {
      if (state === 'stopped') return;
      state = 'stopped';
      stopping.abort();
      await settleEndedCalls();
      await stopParts();
    },
    /** The drachtio link dropped: in-dialog BYEs can no longer reach this app (drachtio-server issue #432). */
    linkLost(): Promise<void[]> {
      return registry.endAll({ kind: 'link_lost' });
    },
    isDraining: () => state === 'draining',
    /** The parts the admin API reads: `callgate serve` builds it over them. */
    /** The validated configuration the core runs with. */
    config,
    parts: { keys, engine, directory, registry, sweeper, cdrWriter, dispatcher, overflow, logger, traffic },
  };
}

export type Callgate = ReturnType<typeof createCallgate>;
