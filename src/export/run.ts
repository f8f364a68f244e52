/** `callgate cdr-export`: runs the export role until SIGTERM/SIGINT. */
import type { Config } from '../config/schema.js';
import { createRootLogger } from '../logger.js';
import { connectRedis } from '../redis/client.js';
import { createExportRole } from './role.js';

export async function runCdrExport(config: Config): Promise<void> {
  const logger = createRootLogger(config);
  const conn = await connectRedis(config, (err) => logger.warn({ err: err.message }, 'redis client error'));
  const role = createExportRole({ config, redis: conn.redis, logger });
  const addresses = await role.start();
  logger.info({ ...addresses, dir: config.cdrExport.dir }, 'callgate cdr-export started');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'cdr-export stopping');
    role
      .stop()
      .then(() => conn.close())
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'cdr-export shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
