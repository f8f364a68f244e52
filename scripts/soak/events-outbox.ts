/**
 * The events outbox after the soak. No webhook dispatcher is configured, so every event stays in its
 * account's stream: each stream is read whole and accounted for against the CDRs and the account's state.
 */
import { decodeAccountHash } from '../../src/redis/codecs/account-hash.js';
import type { Cdr } from './books.js';
import type { AccountsInRedis } from './redis-state.js';
import type { RecordCheck } from './report.js';

/** call_torn_down events == funds teardown CDRs; status_changed events chain and end at the account's state. */
export async function checkEventsOutbox({ r, keys, ids }: AccountsInRedis, byAccount: Map<string, Cdr[]>, check: RecordCheck): Promise<void> {
  let events = 0;
  let streams = 0;
  let groups = 0;
  const eventProblems: string[] = [];
  const byType = new Map<string, number>();
  for (const id of ids) {
    if (!(await r.exists(keys.events(id)))) continue;
    streams++;
    const xlen = Number(await r.xLen(keys.events(id)));
    groups += (await r.xInfoGroups(keys.events(id))).length;
    const entries = (await r.xRange(keys.events(id), '-', '+')) as { id: string; message: Record<string, string> }[];
    events += entries.length;
    if (entries.length !== xlen) eventProblems.push(`${id}: XLEN ${xlen} but ${entries.length} entries read`);
    let teardowns = 0;
    let last: { status: string; offReason: string } | undefined;
    for (const e of entries) {
      const m = e.message;
      byType.set(m.type ?? '?', (byType.get(m.type ?? '?') ?? 0) + 1);
      if (m.type === 'call_torn_down') teardowns++;
      if (m.type === 'status_changed') {
        if (last && m.previous !== `${last.status}/${last.offReason}`) eventProblems.push(`${id}: status_changed ${e.id} from ${m.previous}, but the last state was ${last.status}/${last.offReason}`);
        last = { status: m.status ?? '', offReason: m.offReason ?? '' };
      }
    }
    const acct = decodeAccountHash((await r.hGetAll(keys.account(id))) as Record<string, string>);
    if (last && (last.status !== acct.status || last.offReason !== acct.offReason)) {
      eventProblems.push(`${id}: the last status_changed says ${last.status}/${last.offReason}, the account is ${acct.status}/${acct.offReason}`);
    }
    const fundsTeardowns = (byAccount.get(id) ?? []).filter((c) => c.reason === 'funds_exhausted').length;
    if (teardowns !== fundsTeardowns) eventProblems.push(`${id}: ${teardowns} call_torn_down events, ${fundsTeardowns} funds_exhausted CDRs`);
  }
  check(
    'events outbox accounted for',
    eventProblems.length === 0 && groups === 0,
    `no webhook dispatcher configured: ${events} events held in ${streams} streams ${JSON.stringify(Object.fromEntries(byType))}, ${groups} consumer groups; ` +
      `call_torn_down == funds teardown CDRs, status_changed chains end at each account's state${eventProblems.length ? `; PROBLEMS: ${eventProblems.slice(0, 5).join('; ')}` : ''}`,
  );
}
