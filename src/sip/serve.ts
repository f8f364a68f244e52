import type { Config } from '../config/schema.js';
import { readTestHooks } from '../config/load.js';
import { createRootLogger } from '../logger.js';
import { startCallgate } from './app.js';

/** `callgate serve`: runs until SIGTERM/SIGINT, then drains. */
export async function runServe(config: Config): Promise<void> {
  const logger = createRootLogger(config);
  const app = await startCallgate(config, logger, readTestHooks());
  logger.info({ routes: config.routeUris, drachtio: `${config.drachtio.host}:${config.drachtio.port}` }, 'callgate started');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    app
      .drainAndStop()
      .then(() => process.exit(0))
      .catch((err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
