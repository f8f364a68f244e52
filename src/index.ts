/**
 * callgate as a library. Other drachtio-srf applications put admission in front of their own INVITE
 * handling with `srf.use('invite', admissionControl(deps))`; the decision is on `req.locals.callgate`, and
 * `createBridge` (or a CallSession of their own) meters the admitted call and finalizes it exactly once.
 */
export { loadConfig, ConfigError, type Config } from './config/index.js';
export { createRootLogger, type Logger } from './logger.js';
export { connectRedis, type Redis, type RedisConnection } from './redis/client.js';
export { createKeys, type Keys } from './redis/keys.js';
export { createEngine, type Engine } from './redis/engine.js';
export { createDirectory, type Directory, type CatalogEntry } from './admission/directory.js';
export { createAdmission, type AdmitInvite, type AdmittedCall, type InviteFacts } from './admission/admit.js';
export { AdmissionRejection, REJECT_TEXT } from './admission/rejections.js';
export { admissionControl, sipErrorHandler, type AdmissionControlDeps } from './sip/middleware.js';
export { createBridge, routeTarget, shouldTryNextRoute } from './sip/bridge.js';
export { asyncMiddleware, type CallgateLocals, type SrfRequest, type SrfResponse } from './sip/srf-augment.js';
export { CallSession, type CallEnd } from './calls/session.js';
export { createCallRegistry, type CallRegistry } from './calls/registry.js';
export { createSweeper } from './calls/sweeper.js';
export { createCdrFiles } from './cdr/files.js';
export { createCdrWriter } from './cdr/writer.js';
export { createMetrics, type Metrics } from './metrics/metrics.js';
export { createAccountService, type AccountService } from './accounts/service.js';
export { startCallgate, type CallgateApp } from './sip/app.js';
