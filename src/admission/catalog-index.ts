import { BlockList, isIP } from 'node:net';
import { ID_PATTERN } from '../config/schema.js';
import type { CatalogEntry } from '../model/index.js';
import { ambiguousAccounts } from './catalog-overlap.js';

/**
 * Who sent an INVITE, decided from the catalog in memory: pure, no I/O. The directory (directory.ts) keeps
 * the index current from Redis; this module only answers from the entries it was built from.
 */

export type IdentifiedVia = 'ip' | 'tech_prefix' | 'trusted_header';

/** Why no account was found. */
export type UnidentifiedWhy =
  /** A trusted peer named an account, and the catalog has no account by that id (or it is not an id at all). */
  | 'unknown_trusted_account'
  /** No account's addresses or ranges hold the source address. */
  | 'unknown_source'
  /** Accounts share the source address, and each wants a tech prefix the Request-URI does not start with. */
  | 'no_tech_prefix_match'
  /**
   * Accounts share the source address and nothing tells them apart for this INVITE (the same tech prefix, or
   * none, on several): any pick would be a guess, so no one is billed. A catalog written by an older version
   * can hold such accounts; a put refuses them now.
   */
  | 'ambiguous';

export type Identification =
  | { ok: true; account: CatalogEntry; destination: string; via: IdentifiedVia }
  | { ok: false; why: UnidentifiedWhy; accounts?: readonly string[] };

export interface IdentifyInput {
  sourceIp: string;
  /** Request-URI user part as received: optional tech prefix, then the dialed number. */
  ruriUser: string;
  /** Value of the trusted identification header, if the INVITE carried one. */
  trustedAccountId?: string | undefined;
}

/** Source addresses as compared: an IPv4-mapped IPv6 address is its IPv4 address, and hex digits are lower case. */
export function normalizeIp(ip: string): string {
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return v4mapped ? v4mapped[1]! : ip.toLowerCase();
}

/** The peers whose identification header is believed, normalised as source addresses are. */
export type TrustedPeers = ReadonlySet<string>;

export function trustedPeerSet(peers: Iterable<string>): TrustedPeers {
  return new Set([...peers].map(normalizeIp));
}

export interface CatalogIndex {
  readonly byId: ReadonlyMap<string, CatalogEntry>;
  /** Exact source addresses (normalised), each with the accounts that list it, in catalog order. */
  readonly byIp: ReadonlyMap<string, readonly CatalogEntry[]>;
  /** CIDR ranges, in catalog order. */
  readonly byCidr: readonly { entry: CatalogEntry; list: BlockList }[];
  /** Accounts whose addresses clash with another's (catalog-overlap.ts), each with the ones it clashes with. */
  readonly ambiguous: ReadonlyMap<string, readonly string[]>;
}

/** Indexes catalog entries by id, exact address and range. The order of `entries` is the catalog order. */
export function buildCatalogIndex(entries: Iterable<CatalogEntry>): CatalogIndex {
  const byId = new Map<string, CatalogEntry>();
  const byIp = new Map<string, CatalogEntry[]>();
  const byCidr: { entry: CatalogEntry; list: BlockList }[] = [];
  for (const entry of entries) {
    byId.set(entry.id, entry);
    for (const addr of entry.ips) {
      const [ip, bits] = addr.split('/');
      if (!ip) continue;
      if (bits === undefined) {
        const key = normalizeIp(ip);
        const list = byIp.get(key);
        if (list) list.push(entry);
        else byIp.set(key, [entry]);
      } else {
        const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
        const list = new BlockList();
        list.addSubnet(ip, Number(bits), family);
        byCidr.push({ entry, list });
      }
    }
  }
  return { byId, byIp, byCidr, ambiguous: ambiguousAccounts([...byId.values()]) };
}

/**
 * Picks the account among those sharing a source address: the longest tech prefix the Request-URI user starts
 * with; only when no prefix matches, an account without a prefix. Several accounts with that same longest
 * prefix, or several without a prefix when none matches, cannot be told apart: the pick is `ambiguous`, and
 * no account is chosen, whatever the catalog order.
 */
function pickByTechPrefix(candidates: readonly CatalogEntry[], ruriUser: string): CatalogEntry | { ambiguous: string[] } | undefined {
  let best: CatalogEntry[] = [];
  let bestLength = -1;
  for (const c of candidates) {
    const length = c.techPrefix ? (ruriUser.startsWith(c.techPrefix) ? c.techPrefix.length : -1) : 0;
    if (length < 0 || length < bestLength) continue;
    if (length > bestLength) {
      best = [c];
      bestLength = length;
    } else if (!best.some((b) => b.id === c.id)) best.push(c); // one account on an address and in a range is one
  }
  if (best.length === 0) return undefined;
  if (best.length > 1) return { ambiguous: best.map((b) => b.id).sort() };
  return best[0];
}

/** The dialed number: the Request-URI user without the account's tech prefix, when it starts with it. */
function destinationFor(account: CatalogEntry, ruriUser: string): string {
  return account.techPrefix && ruriUser.startsWith(account.techPrefix) ? ruriUser.slice(account.techPrefix.length) : ruriUser;
}

/**
 * The account an INVITE belongs to. The trusted header is believed only from a trusted peer, and then it
 * alone decides (an unknown id is not identified by address instead); from any other peer it is ignored and
 * the source address decides: exact addresses and CIDR ranges, then the tech prefix among accounts sharing it.
 */
export function identify(index: CatalogIndex, trustedPeers: TrustedPeers, { sourceIp, ruriUser, trustedAccountId }: IdentifyInput): Identification {
  const ip = normalizeIp(sourceIp);
  if (trustedAccountId !== undefined && trustedPeers.has(ip)) {
    const account = ID_PATTERN.test(trustedAccountId) ? index.byId.get(trustedAccountId) : undefined;
    return account
      ? { ok: true, account, destination: destinationFor(account, ruriUser), via: 'trusted_header' }
      : { ok: false, why: 'unknown_trusted_account' };
  }
  let candidates = index.byIp.get(ip);
  if (index.byCidr.length > 0) {
    const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    const inRange = index.byCidr.filter((c) => c.list.check(ip, family)).map((c) => c.entry);
    if (inRange.length > 0) candidates = [...(candidates ?? []), ...inRange];
  }
  if (!candidates) return { ok: false, why: 'unknown_source' };
  const account = pickByTechPrefix(candidates, ruriUser);
  if (!account) return { ok: false, why: 'no_tech_prefix_match' };
  if ('ambiguous' in account) return { ok: false, why: 'ambiguous', accounts: account.ambiguous };
  return { ok: true, account, destination: destinationFor(account, ruriUser), via: account.techPrefix ? 'tech_prefix' : 'ip' };
}
