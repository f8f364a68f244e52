/**
 * The export lease: a Redis string (SET NX PX) naming the export role instance that assembles the
 * customer files. Its holder renews it every third of its lifetime; `holds()` is true only while the lease
 * certainly has not lapsed by this instance's clock (it took or renewed it less than its lifetime ago, less a
 * margin for clock rate), so a holder that stalled stops writing before a standby can start.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from '../redis/client.js';
import { loadLuaScript, runScript } from '../redis/script.js';

const LEASE = loadLuaScript('export-lease', 1);

export interface ExportLeaseOptions {
  redis: Redis;
  key: string;
  instanceId: string;
  leaseMs: number;
  now?: () => number;
}

export function createExportLease({ redis, key, instanceId, leaseMs, now = Date.now }: ExportLeaseOptions) {
  const token = `${instanceId}:${randomUUID()}`;
  let validUntil = 0;
  let timer: NodeJS.Timeout | undefined;

  async function acquire(): Promise<boolean> {
    const asked = now();
    const held = Number(await runScript(redis, LEASE, [key], [token, leaseMs])) === 1;
    // counted from before the request: the lease may have been set at any moment until the reply
    validUntil = held ? asked + Math.floor(leaseMs * 0.8) : 0;
    return held;
  }

  return {
    acquire,
    holds: () => now() < validUntil,
    /** Renews in the background every third of the lifetime, between passes too. */
    start(): void {
      if (timer) return;
      timer = setInterval(() => {
        if (validUntil > 0) acquire().catch(() => { validUntil = 0; });
      }, Math.max(100, Math.floor(leaseMs / 3)));
      timer.unref();
    },
    async release(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (validUntil === 0) return;
      validUntil = 0;
      // deletes it only if still ours: a standby takes over at once instead of after the lifetime
      await redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", { keys: [key], arguments: [token] }).catch(() => {});
    },
  };
}
