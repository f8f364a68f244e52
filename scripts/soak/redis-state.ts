/** What the soak leaves in Redis: waiting for the live state to drain, then checking that none is left. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from '../../src/redis/client.js';
import type { Keys } from '../../src/redis/keys.js';
import { decodeAccountHash } from '../../src/redis/codecs/account-hash.js';
import { TIMING } from './options.js';
import type { RecordCheck } from './report.js';

export interface AccountsInRedis {
  r: Redis;
  keys: Keys;
  prefix: string;
  ids: string[];
}

export async function balanceOf({ r, keys }: Pick<AccountsInRedis, 'r' | 'keys'>, id: string): Promise<number> {
  return decodeAccountHash((await r.hGetAll(keys.account(id))) as Record<string, string>).balance;
}

/** Live call records across the accounts, for the progress line. */
export async function liveCallRecords({ r, keys, ids }: AccountsInRedis): Promise<number> {
  return (await Promise.all(ids.map((id) => r.hLen(keys.calls(id))))).reduce((a, b) => a + Number(b), 0);
}

/** Waits (bounded by a lease TTL, a sweep and 30 s) until no live call, lease expiry or CDR stream entry is left. */
export async function waitForDrain({ r, keys, ids }: AccountsInRedis): Promise<void> {
  const drainDeadline = Date.now() + TIMING.leaseTtlMs + TIMING.sweepIntervalMs + 30_000;
  const outstanding = async () => {
    let n = 0;
    for (const id of ids) {
      n += Number(await r.hLen(keys.calls(id))) + Number(await r.zCard(keys.expiry(id)));
      if (await r.exists(keys.cdrs(id))) n += Number(await r.xLen(keys.cdrs(id)));
    }
    return n;
  };
  while ((await outstanding()) > 0 && Date.now() < drainDeadline) await sleep(250);
}

/** No lease, live call, reservation or undrained CDR stream entry left. */
export async function checkNothingLeft({ r, keys, prefix, ids }: AccountsInRedis, check: RecordCheck): Promise<void> {
  const leaseKeys: string[] = [];
  for await (const batch of (r as unknown as { scanIterator(o: object): AsyncIterable<string[]> }).scanIterator({ MATCH: `${prefix}*:leases:*`, COUNT: 1000 })) {
    leaseKeys.push(...batch);
  }
  let leases = 0;
  for (const k of leaseKeys) leases += Number(await r.zCard(k));
  let expiry = 0;
  let live = 0;
  let reserved = 0;
  let cdrStreams = 0;
  for (const id of ids) {
    expiry += Number(await r.zCard(keys.expiry(id)));
    live += Number(await r.hLen(keys.calls(id)));
    reserved += decodeAccountHash((await r.hGetAll(keys.account(id))) as Record<string, string>).reserved;
    if (await r.exists(keys.cdrs(id))) cdrStreams += Number(await r.xLen(keys.cdrs(id)));
  }
  check('zero leases', leases === 0 && expiry === 0, `${leases} lease members in ${leaseKeys.length} lease keys, ${expiry} expiry entries`);
  check('no live call, reservation or undrained CDR left', live === 0 && reserved === 0 && cdrStreams === 0, `calls ${live}, reserved ${reserved} µ$, CDR stream entries ${cdrStreams}`);
}
