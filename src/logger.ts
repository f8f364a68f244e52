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

export type { Logger };
