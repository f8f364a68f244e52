export { loadConfig, resolveConfig, isResolvedConfig, readTestHooks, ConfigError, ENV_KEYS, type LoadOptions, type TestHooks } from './load.js';
export { DEFAULTS } from './defaults.js';
export {
  configSchema, ID_PATTERN, REJECT_REASONS, type Config, type ConfigInput, type CallgateConfigInput, type RejectReason,
} from './schema.js';
export { resolveAdminClient, DEFAULT_ADMIN_LISTEN, type AdminClientSettings } from './admin-client.js';
