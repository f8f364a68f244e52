import { pino, type Logger } from 'pino';
import type { Config } from './config/schema.js';

/**
 * The one root logger. A call's lines carry callgate's own identifiers ({callId, accountId, switchId},
 * callFields), never SIP header values.
 */
export function createRootLogger(config: Pick<Config, 'logLevel' | 'switchId'>): Logger {
  return pino({
    level: config.logLevel,
    base: { switchId: config.switchId },
    redact: {
      paths: ['token', 'secret', '*.token', '*.secret', 'headers.authorization', 'req.headers.authorization', 'config.admin.token', 'config.drachtio.secret'],
      censor: '[redacted]',
    },
  });
}

/** callgate's own ids of one call, which every line about the call carries. */
export interface CallIds {
  callId: string;
  accountId: string | null;
}

/** Whether a logger binds the switch id itself (the root logger does), asked once per logger: bindings() parses JSON. */
const bindsSwitchId = new WeakMap<Logger, boolean>();

/**
 * The fields that tie a log line to its call, from callgate's own ids, never from SIP header values: merged
 * into the line's own object when it is logged (`log.warn({ ...callFields(log, ids, sw), err }, ...)`). There
 * is no child logger per call: a pino child lives as long as the call and costs several hundred bytes per
 * live call, for lines most calls never write. The switch id is added only when the logger does not bind it
 * already, so that no line carries the key twice.
 */
export function callFields(log: Logger, ids: CallIds, switchId: string): Record<string, unknown> {
  let binds = bindsSwitchId.get(log);
  if (binds === undefined) bindsSwitchId.set(log, (binds = log.bindings().switchId !== undefined));
  return binds ? { callId: ids.callId, accountId: ids.accountId } : { callId: ids.callId, accountId: ids.accountId, switchId };
}

export type { Logger };
