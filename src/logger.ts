import { pino, type Logger } from 'pino';
import type { Config } from './config/schema.js';

/**
 * The one root logger. Call loggers are children built from callgate's own identifiers
 * ({callId, accountId, switchId}), never from SIP header values.
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

/**
 * One call's child logger, from callgate's own ids. The switch id is bound only when the parent does not
 * bind it already (the root logger does), so that no line carries the key twice.
 */
export function callLogger(parent: Logger, ids: { callId: string; accountId: string | null; switchId: string }): Logger {
  const { switchId, ...rest } = ids;
  return parent.child(parent.bindings().switchId === undefined ? { ...rest, switchId } : rest);
}

export type { Logger };
