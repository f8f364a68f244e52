export { loadConfig, ConfigError, ENV_KEYS, type LoadOptions } from './load.js';
export { configSchema, ID_PATTERN, REJECT_REASONS, type Config, type RejectReason } from './schema.js';
