/**
 * The traffic monitor of one instance: every traffic.evaluateIntervalMs it judges the accounts whose calls
 * ended here since the last round (finalized, or refused and written), and records each rule's new alert
 * state through traffic-alert, which raises the event in the same atomic step. Instances judging the same
 * account race harmlessly: a state written by another since it was read is read again next round.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { Engine } from '../redis/engine.js';
import { encodeAlertState, nextAlertState } from './judge.js';
import { trafficView } from './view.js';
import { figuresJson } from './service.js';

/** Most accounts judged per round; the rest wait for the next. */
const MAX_PER_ROUND = 500;

export interface TrafficMonitorDeps {
  engine: Pick<Engine, 'readTraffic' | 'writeAlertState'>;
  config: Pick<Config['traffic'], 'minAnswered' | 'snoozeMs' | 'evaluateIntervalMs' | 'maxSamples'>;
  logger: Logger;
  /** Each alert raised, and each account suspended, for the metrics. */
  onAlert?: (rule: string, level: 'warning' | 'critical', suspended: boolean) => void;
  now?: () => number;
}

export function createTrafficMonitor(deps: TrafficMonitorDeps) {
  const now = deps.now ?? Date.now;
  const { config, logger } = deps;
  let touched = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  async function judgeAccount(accountId: string): Promise<void> {
    const at = now();
    const read = await deps.engine.readTraffic(accountId, at);
    if (!read.exists) return;
    const view = trafficView(read, { minAnswered: config.minAnswered, nowMs: at });
    for (const r of view.rules) {
      const field = `${r.window}|${r.rule}`;
      const expected = read.alerts[field] ?? '';
      const { state, alert } = nextAlertState(r.alert, r.level, at, config.snoozeMs);
      const next = encodeAlertState(state);
      if (next === expected) continue;
      const figures = view.windows[r.window].figures;
      const result = await deps.engine.writeAlertState({
        accountId, field, expected, next, alert: alert ?? '', window: r.window, rule: r.rule,
        value: r.value === null ? '' : String(r.value), threshold: r.threshold === null ? '' : String(r.threshold),
        figuresJson: JSON.stringify(figuresJson(figures)), autoSuspend: view.settings.autoSuspend && alert === 'critical', maxSamples: config.maxSamples,
      });
      if (result.outcome === 'conflict') {
        touched.add(accountId); // another instance moved it: judged again next round
        return;
      }
      if (result.outcome === 'written' && result.alerted && alert) {
        deps.onAlert?.(r.rule, alert, result.suspended);
        logger.info(
          { accountId, window: r.window, rule: r.rule, level: alert, value: r.value, threshold: r.threshold, suspended: result.suspended },
          `traffic ${alert}: ${r.rule} in ${r.window}${result.suspended ? '; account suspended (msa_violation)' : ''}`,
        );
      }
    }
  }

  async function round(): Promise<void> {
    const ids = [...touched].slice(0, MAX_PER_ROUND);
    for (const id of ids) touched.delete(id);
    for (const id of ids) {
      await judgeAccount(id).catch((err: unknown) => {
        touched.add(id);
        logger.warn({ err, accountId: id }, 'traffic: judging the account failed; retried next round');
      });
    }
  }

  function runRound(): Promise<void> {
    running ??= round().finally(() => {
      running = undefined;
    });
    return running;
  }

  return {
    /** The account's figures moved here: judge it next round. */
    touch(accountId: string): void {
      touched.add(accountId);
    },
    /** Judges the waiting accounts now (tests, and the last round at stop). */
    evaluate: runRound,
    judgeAccount,
    start(): void {
      timer ??= setInterval(() => void runRound(), config.evaluateIntervalMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
      touched = new Set();
    },
  };
}

export type TrafficMonitor = ReturnType<typeof createTrafficMonitor>;
