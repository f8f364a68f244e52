/**
 * `callgate cdr-export`: the export role. Assembles every account's daily customer CDR file from the
 * export streams the switches fill (assembler.ts, one active instance at a time through the export lease,
 * any number of standbys), and, when configured, serves the files over read-only SFTP (sftp/). Its own
 * small HTTP endpoint answers GET /metrics and GET /healthz.
 */
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { createMetrics, type Metrics } from '../metrics/metrics.js';
import type { Redis } from '../redis/client.js';
import { createKeys, type Keys } from '../redis/keys.js';
import { createCdrExporter, type CdrExporter } from './assembler.js';
import { createDayStore } from './day-store.js';
import { createCdrSftpServer, type CdrSftpServer, type SftpCredentials } from './sftp/index.js';

export interface ExportRoleDeps {
  config: Config;
  redis: Redis;
  logger: Logger;
  metrics?: Metrics;
  /** Names this instance in the lease; default `<hostname>:<pid>`. */
  instanceId?: string;
  now?: () => number;
}

/** The SFTP credentials an account's cdrAccess hash holds, or null when it has none. */
export async function readSftpCredentials(redis: Redis, keys: Keys, accountId: string): Promise<SftpCredentials | null> {
  const [password, keyList] = await redis.hmGet(keys.cdrAccess(accountId), ['password', 'keys']);
  let authorizedKeys: string[] = [];
  if (keyList) {
    try {
      const parsed: unknown = JSON.parse(keyList);
      if (Array.isArray(parsed)) authorizedKeys = parsed.filter((k): k is string => typeof k === 'string');
    } catch {
      /* unreadable: no keys */
    }
  }
  if (!password && authorizedKeys.length === 0) return null;
  return { passwordHash: password || null, authorizedKeys };
}

function splitHostPort(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i), port: Number(listen.slice(i + 1)) };
}

export function createExportRole({ config, redis, logger, metrics = createMetrics(), instanceId, now }: ExportRoleDeps) {
  const keys = createKeys(config.redis.keyPrefix);
  const store = createDayStore({ dir: config.cdrExport.dir, ...(now ? { now } : {}) });
  const exporter: CdrExporter = createCdrExporter({
    redis, keys, store, logger, instanceId: instanceId ?? `${hostname()}:${process.pid}`,
    accountIds: async () => (await redis.hKeys(keys.catalog)).sort(),
    closeAfterMinutes: config.cdrExport.closeAfterMinutes, retentionDays: config.cdrExport.retentionDays,
    intervalMs: config.cdrExport.intervalMs, leaseMs: config.cdrExport.leaseMs,
    ...(now ? { now } : {}),
    onRows: (n) => metrics.cdrExportRows.inc(n),
    onPublished: (file) => metrics.cdrFilesPublished.labels(file.revision === 1 ? 'close' : 'revision').inc(),
    onActive: (active) => metrics.cdrExportActive.set(active ? 1 : 0),
  });
  const sftpConfig = config.cdrExport.sftp;
  const sftp: CdrSftpServer | undefined = sftpConfig.enabled
    ? createCdrSftpServer({
      ...splitHostPort(sftpConfig.listen), hostKeyPath: sftpConfig.hostKeyPath, root: store.filesRoot,
      lookup: (accountId) => readSftpCredentials(redis, keys, accountId),
      lockout: { maxFailures: sftpConfig.maxFailures },
      logger,
      onLoginFailure: (reason) => metrics.cdrSftpLoginFailures.labels(reason).inc(),
      onLockout: () => metrics.cdrSftpLockouts.inc(),
      onDownload: (bytes) => metrics.cdrSftpBytes.inc(bytes),
    })
    : undefined;
  let http: Server | undefined;

  return {
    exporter,
    store,
    metrics,
    /** Starts the assembler, the SFTP server and the HTTP endpoint; resolves with their addresses. */
    async start(): Promise<{ sftp?: { host: string; port: number }; http: { host: string; port: number } }> {
      exporter.start();
      const sftpAddress = sftp ? await sftp.listen() : undefined;
      if (sftp) logger.info({ ...sftpAddress, hostKey: sftp.hostKeyFingerprint }, 'customer CDR SFTP server listening');
      http = createServer((req, res) => {
        if (req.method === 'GET' && req.url === '/metrics') {
          metrics.registry.metrics().then((text) => {
            res.writeHead(200, { 'content-type': metrics.registry.contentType });
            res.end(text);
          }, () => { res.writeHead(500); res.end(); });
        } else if (req.method === 'GET' && req.url === '/healthz') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ active: exporter.isActive() }));
        } else {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end('{"error":"not_found"}');
        }
      });
      const { host, port } = splitHostPort(config.cdrExport.metricsListen);
      await new Promise<void>((resolve, reject) => {
        http!.once('error', reject);
        http!.listen(port, host, () => resolve());
      });
      const addr = http.address();
      const httpAddress = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host, port };
      return { ...(sftpAddress ? { sftp: sftpAddress } : {}), http: httpAddress };
    },
    async stop(): Promise<void> {
      await sftp?.close();
      await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
      await exporter.stop();
    },
  };
}

export type ExportRole = ReturnType<typeof createExportRole>;
