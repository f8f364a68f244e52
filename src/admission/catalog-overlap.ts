import { isIP } from 'node:net';
import type { CatalogEntry } from '../model/index.js';
import { ipv4ToBigInt, ipv6ToBigInt } from '../accounts/addresses.js';

/**
 * When two accounts' identification could be confused: pure, no I/O. identify() (catalog-index.ts) picks,
 * among the accounts whose addresses hold an INVITE's source, the longest tech prefix the Request-URI user
 * starts with, else an account without a prefix. Two accounts whose addresses overlap are told apart only if
 * both have a tech prefix and neither prefix starts the other:
 *   - without a prefix, an account takes every call on the shared address that no prefix matches, including
 *     a call of the other account's customer whose prefix was mistyped: it bills the wrong customer;
 *   - with prefixes 1001 and 10011, a call of the 1001 account to a number starting with 1 (1001 1555...)
 *     is taken by the 10011 account by the longest match.
 * Trusted-header ids are compared ignoring case: a header typed by another system's engineer as ACME must
 * not reach acme's neighbour Acme.
 */

interface Range {
  family: 4 | 6;
  first: bigint;
  last: bigint;
}

const MAPPED_PREFIX = 0xffffn << 32n;

/**
 * The addresses an ACL entry holds, as one range. An IPv4-mapped IPv6 address or block (::ffff:192.0.2.0/120)
 * is the IPv4 range it maps, since identification reads a mapped source as its IPv4 address.
 */
export function addressRange(entry: string): Range | undefined {
  const [ip, bitsText] = entry.split('/') as [string, string | undefined];
  const family = isIP(ip);
  if (family === 0) return undefined;
  if (family === 4) {
    const bits = bitsText === undefined ? 32 : Number(bitsText);
    const host = (1n << BigInt(32 - bits)) - 1n;
    const first = ipv4ToBigInt(ip) & ~host & 0xffffffffn;
    return { family: 4, first, last: first | host };
  }
  const bits = bitsText === undefined ? 128 : Number(bitsText);
  const host = (1n << BigInt(128 - bits)) - 1n;
  const first = ipv6ToBigInt(ip.toLowerCase()) & ~host & ((1n << 128n) - 1n);
  const last = first | host;
  if (first >> 32n === 0xffffn && last >> 32n === 0xffffn && bits >= 96) {
    return { family: 4, first: first - MAPPED_PREFIX, last: last - MAPPED_PREFIX };
  }
  return { family: 6, first, last };
}

/** True when the two ACL entries hold at least one address in common. */
export function addressesOverlap(a: string, b: string): boolean {
  const x = addressRange(a);
  const y = addressRange(b);
  return !!x && !!y && x.family === y.family && x.first <= y.last && y.first <= x.last;
}

/** True when calls on a shared address can always be told apart by these two tech prefixes. */
export function techPrefixesDistinct(a: string | null, b: string | null): boolean {
  if (!a || !b) return false;
  return !a.startsWith(b) && !b.startsWith(a);
}

/** Why `entry` cannot share the catalog with `other`, as the problem text names it. */
export interface Clash {
  otherId: string;
  /** The entry's own address (or id, for a clash of ids). */
  address: string;
  otherAddress: string;
  kind: 'addresses' | 'id';
}

/** Every clash of `entry` with the other entries (an entry with its own id is the one it replaces, and skipped). */
export function clashesOf(entry: CatalogEntry, others: Iterable<CatalogEntry>): Clash[] {
  const clashes: Clash[] = [];
  const lowerId = entry.id.toLowerCase();
  for (const other of others) {
    if (other.id === entry.id) continue;
    if (other.id.toLowerCase() === lowerId) {
      clashes.push({ otherId: other.id, address: entry.id, otherAddress: other.id, kind: 'id' });
      continue;
    }
    if (techPrefixesDistinct(entry.techPrefix, other.techPrefix)) continue;
    const shared = entry.ips.flatMap((a) => other.ips.filter((b) => addressesOverlap(a, b)).map((b) => [a, b] as const))[0];
    if (shared) clashes.push({ otherId: other.id, address: shared[0], otherAddress: shared[1], kind: 'addresses' });
  }
  return clashes;
}

/** One problem text per clash, naming the other account: what a refused create or update says. */
export function clashProblem(entry: Pick<CatalogEntry, 'techPrefix'>, clash: Clash): string {
  if (clash.kind === 'id') {
    return `id: account ${JSON.stringify(clash.otherId)} differs only in letter case, and a trusted identification header could name either`;
  }
  const where = clash.address === clash.otherAddress ? clash.address : `${clash.address} overlaps ${clash.otherAddress}`;
  const prefixes = entry.techPrefix ? `tech prefix ${JSON.stringify(entry.techPrefix)} does not tell them apart` : 'this account has no tech prefix';
  return (
    `ips: ${where} of account ${JSON.stringify(clash.otherId)}: calls from there could be billed to either account (${prefixes}); ` +
    'give each account on a shared address its own tech prefix, none starting another'
  );
}

/**
 * The accounts of a catalog that clash with another, each with the ids it clashes with: for a catalog written
 * by an older version. A sweep over the address ranges sorted by start compares only ranges that overlap, so
 * a catalog of many accounts costs n log n, not n squared.
 */
export function ambiguousAccounts(entries: readonly CatalogEntry[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const note = (a: string, b: string) => {
    const list = out.get(a) ?? [];
    if (!list.includes(b)) out.set(a, [...list, b]);
  };
  const clash = (a: CatalogEntry, b: CatalogEntry) => {
    note(a.id, b.id);
    note(b.id, a.id);
  };
  const byLowerId = new Map<string, CatalogEntry>();
  const ranges: { range: Range; entry: CatalogEntry }[] = [];
  for (const entry of entries) {
    const twin = byLowerId.get(entry.id.toLowerCase());
    if (twin && twin.id !== entry.id) clash(entry, twin);
    byLowerId.set(entry.id.toLowerCase(), entry);
    for (const ip of entry.ips) {
      const range = addressRange(ip);
      if (range) ranges.push({ range, entry });
    }
  }
  ranges.sort((x, y) => x.range.family - y.range.family || (x.range.first < y.range.first ? -1 : x.range.first > y.range.first ? 1 : 0));
  let active: { range: Range; entry: CatalogEntry }[] = [];
  for (const current of ranges) {
    active = active.filter((a) => a.range.family === current.range.family && a.range.last >= current.range.first);
    for (const a of active) {
      if (a.entry.id !== current.entry.id && !techPrefixesDistinct(a.entry.techPrefix, current.entry.techPrefix)) clash(a.entry, current.entry);
    }
    active.push(current);
  }
  for (const list of out.values()) list.sort();
  return out;
}
