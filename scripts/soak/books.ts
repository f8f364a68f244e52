/** The books after the soak, from the CDR files callgate wrote: balances, one CDR per call, every outcome. */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatUsd } from '../../src/rating/money.js';
import { balanceOf, type AccountsInRedis } from './redis-state.js';
import type { RecordCheck } from './report.js';
import type { ClassResult } from './traffic.js';

/** The CDR fields the soak reads from the JSONL files. */
export interface Cdr {
  call_id: string;
  sip_call_id: string;
  account_id: string | null;
  answered_at: string | null;
  disposition: string;
  reason: string;
  total: number;
}

export function readCdrs(dir: string): Cdr[] {
  const out: Cdr[] = [];
  if (!existsSync(dir)) return out;
  for (const day of readdirSync(dir, { withFileTypes: true })) {
    if (!day.isDirectory() || !/^\d{4}-\d{2}-\d{2}$/.test(day.name)) continue;
    for (const f of readdirSync(join(dir, day.name))) {
      if (!f.endsWith('.jsonl')) continue;
      for (const line of readFileSync(join(dir, day.name, f), 'utf8').split('\n')) {
        if (line.trim()) out.push(JSON.parse(line) as Cdr);
      }
    }
  }
  return out;
}

export function cdrsByAccount(cdrs: Cdr[]): Map<string, Cdr[]> {
  const byAccount = new Map<string, Cdr[]>();
  for (const c of cdrs) {
    if (!c.account_id) continue;
    const list = byAccount.get(c.account_id);
    if (list) list.push(c);
    else byAccount.set(c.account_id, [c]);
  }
  return byAccount;
}

/** Per account, balance at start + funds applied - balance at end == sum of its CDR totals, to the micro-dollar. */
export async function checkBalances(
  redis: AccountsInRedis,
  o: { startBalance: Map<string, number>; applied: Map<string, number>; byAccount: Map<string, Cdr[]> },
  check: RecordCheck,
): Promise<void> {
  console.log('');
  console.log('Books, per account (µ$): balance at start + funds applied - balance at end == sum of CDR totals');
  let booksOk = true;
  for (const id of redis.ids) {
    const end = await balanceOf(redis, id);
    const moved = o.startBalance.get(id)! + o.applied.get(id)! - end;
    const charged = (o.byAccount.get(id) ?? []).reduce((a, c) => a + c.total, 0);
    const ok = moved === charged;
    booksOk &&= ok;
    console.log(
      `  ${id.padEnd(7)} start ${formatUsd(o.startBalance.get(id)!).padStart(15)} + applied ${formatUsd(o.applied.get(id)!).padStart(11)} - end ${formatUsd(end).padStart(15)} = ${String(moved).padStart(12)}` +
        `  CDRs ${String(o.byAccount.get(id)?.length ?? 0).padStart(6)} sum ${String(charged).padStart(12)}  ${ok ? 'ok' : 'MISMATCH'}`,
    );
  }
  check('balances reconcile with CDR sums exactly', booksOk, 'every account, to the micro-dollar');
}

/** Exactly one CDR per SIPp call, joined on the SIP Call-ID each class's SIPp gave its calls. */
export function checkOneCdrPerCall(cdrs: Cdr[], results: ClassResult[], check: RecordCheck): void {
  const bySipCallId = new Map<string, number>();
  for (const c of cdrs) bySipCallId.set(c.sip_call_id, (bySipCallId.get(c.sip_call_id) ?? 0) + 1);
  const dupes = [...bySipCallId].filter(([, n]) => n > 1);
  check('no call has two CDRs', dupes.length === 0, dupes.length === 0 ? `${cdrs.length} CDRs, ${bySipCallId.size} calls` : `e.g. ${dupes.slice(0, 3).map(([k, n]) => `${k} x${n}`).join(', ')}`);
  const perClass: string[] = [];
  let everyCallOk = true;
  for (const x of results) {
    const withCdr = [...bySipCallId.keys()].filter((k) => k.startsWith(`${x.callIdPrefix}-`)).length;
    everyCallOk &&= withCdr === x.created;
    perClass.push(`${x.cls.name} ${withCdr}/${x.created}`);
  }
  check('every SIPp call has a CDR (joined on Call-ID)', everyCallOk, perClass.join(', '));
}

/** The mix produced every disposition/reason it is built to produce. */
export function checkOutcomeMix(cdrs: Cdr[], check: RecordCheck): void {
  const outcome = new Map<string, number>();
  for (const c of cdrs) outcome.set(`${c.disposition}/${c.reason}`, (outcome.get(`${c.disposition}/${c.reason}`) ?? 0) + 1);
  console.log('');
  console.log(`CDRs by disposition/reason: ${JSON.stringify(Object.fromEntries([...outcome].sort((a, b) => b[1] - a[1])))}`);
  const expected = [
    'answered/caller_bye', 'cancelled/caller_cancel', 'torn_down/funds_exhausted', 'rejected/off_manual', 'rejected/off_funds',
    'rejected/insufficient_funds', 'rejected/unknown_account', 'rejected/no_rate', 'rejected/cps_exceeded', 'rejected/channel_limit',
  ];
  const missing = expected.filter((k) => !outcome.get(k));
  check('the mix produced every outcome', missing.length === 0, missing.length === 0 ? expected.join(', ') : `missing: ${missing.join(', ')}`);
}
