/**
 * callgate as a library. A carrier's drachtio-srf application mounts the core:
 *
 *   const callgate = createCallgate({ srf, redis, config: { switchId: 'sw1', routeUris: ['sip:10.0.0.5'] } });
 *   srf.use('invite', callgate.admission);   // the decision is on req.locals.callgate
 *   srf.invite(callgate.bridge);
 *   await callgate.start();                  // admission refuses with 503 until the core runs
 *
 * and calls drain() and stop() on shutdown. The pieces inside (admission, sessions, sweeper, CDR writer)
 * are only correct together, so they are not exported one by one.
 */
export {
  loadConfig, resolveConfig, ConfigError, DEFAULTS, type Config, type CallgateConfigInput,
} from './config/index.js';
export { createRootLogger, type Logger } from './logger.js';
export { connectRedis, type Redis, type RedisConnection } from './redis/client.js';
export { createCallgate, type Callgate, type CallgateDeps } from './sip/callgate.js';
export { createAccountService, type AccountService } from './accounts/service.js';
export { createKeys, type Keys } from './redis/keys.js';
export type { CallgateLocals, NextFunction, SipHandler, SipMiddleware, SrfRequest, SrfResponse } from './sip/srf-augment.js';
export type * from './model/index.js';
export { startCallgate, type CallgateApp } from './sip/app.js';
