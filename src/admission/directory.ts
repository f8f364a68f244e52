import { BlockList, isIP } from 'node:net';
import type { Logger } from 'pino';
import { ID_PATTERN } from '../config/schema.js';
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import type { CatalogEntry } from '../model/index.js';
import { createChangeBus, type ChangeBus } from '../redis/change-bus.js';
import type { ChangeMessage } from '../redis/codecs/change-message.js';
import { deserializeRateDeck } from '../rating/deck-codec.js';
import type { Rate, RateDeck } from '../rating/deck-model.js';

export type { CatalogEntry };

export type Identification =
  | { ok: true; account: CatalogEntry; destination: string; via: 'ip' | 'tech_prefix' | 'trusted_header' }
  | { ok: false };

export interface IdentifyInput {
  sourceIp: string;
  /** Request-URI user part as received: optional tech prefix, then the dialed number. */
  ruriUser: string;
  /** Value of the trusted identification header, if the INVITE carried one. */
  trustedAccountId?: string | undefined;
}

/** An account change announced on the change channel (see src/redis/keys.ts `changes`). */
export type AccountSignal = { kind: 'off' | 'funds'; accountId: string };

export function normalizeIp(ip: string): string {
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return v4mapped ? v4mapped[1]! : ip.toLowerCase();
}

interface Indexes {
  byId: Map<string, CatalogEntry>;
  byIp: Map<string, CatalogEntry[]>;
  byCidr: { entry: CatalogEntry; list: BlockList }[];
}

function parseEntry(json: string): CatalogEntry | undefined {
  try {
    const e = JSON.parse(json) as CatalogEntry;
    if (!ID_PATTERN.test(e.id) || !Array.isArray(e.ips) || typeof e.deckId !== 'string') return undefined;
    return e;
  } catch {
    return undefined;
  }
}

function buildIndexes(entries: Iterable<CatalogEntry>): Indexes {
  const byId = new Map<string, CatalogEntry>();
  const byIp = new Map<string, CatalogEntry[]>();
  const byCidr: Indexes['byCidr'] = [];
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
  return { byId, byIp, byCidr };
}

/** Picks the account among those sharing a source address: the longest matching tech prefix wins. */
function pickByTechPrefix(candidates: CatalogEntry[], ruriUser: string): CatalogEntry | undefined {
  let best: CatalogEntry | undefined;
  for (const c of candidates) {
    if (c.techPrefix) {
      if (ruriUser.startsWith(c.techPrefix) && (!best?.techPrefix || c.techPrefix.length > best.techPrefix.length)) best = c;
    } else if (!best) best = c;
    else if (!best.techPrefix && c.id < best.id) best = c; // ambiguous ACL: stay deterministic
  }
  return best;
}

export interface DirectoryDeps {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  trustedPeers: readonly string[];
  /** Full reload period, a backstop for pub/sub messages lost while disconnected. */
  refreshIntervalMs?: number;
  /** The instance's change bus; without one the directory subscribes on its own. */
  changes?: ChangeBus;
}

/**
 * Identification data (ACLs, tech prefixes) and rate decks, held in process memory so that an INVITE costs
 * exactly one Redis call (the admit script). Kept current by the change channel, and by a periodic full
 * reload in case a message was missed while the subscriber was disconnected.
 */
export function createDirectory({ redis, keys, logger, trustedPeers, refreshIntervalMs = 60_000, changes }: DirectoryDeps) {
  let idx: Indexes = buildIndexes([]);
  const decks = new Map<string, { version: string; deck: RateDeck }>();
  const trusted = new Set(trustedPeers.map(normalizeIp));
  // the instance's one subscriber, shared with the registry and the dispatcher; a directory made alone has its own
  const ownBus = !changes;
  const bus = changes ?? createChangeBus({ redis, keys, logger });
  let unlisten: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let loaded = false;

  async function loadDeck(deckId: string, version: string): Promise<void> {
    if (decks.get(deckId)?.version === version) return;
    const text = await redis.get(keys.deck(deckId));
    if (text === null) {
      decks.delete(deckId);
      return;
    }
    try {
      decks.set(deckId, { version, deck: deserializeRateDeck(deckId, text) });
    } catch (err) {
      logger.error({ err, deckId }, 'stored rate deck is invalid; keeping the previous version');
    }
  }

  async function reloadAll(): Promise<void> {
    const [catalog, deckIndex] = await Promise.all([redis.hGetAll(keys.catalog), redis.hGetAll(keys.deckIndex)]);
    const entries: CatalogEntry[] = [];
    for (const json of Object.values(catalog)) {
      const e = parseEntry(json);
      if (e) entries.push(e);
    }
    idx = buildIndexes(entries);
    await Promise.all(Object.entries(deckIndex).map(([id, version]) => loadDeck(id, version)));
    for (const id of decks.keys()) if (!(id in deckIndex)) decks.delete(id);
    loaded = true;
  }

  async function reloadAccount(id: string): Promise<void> {
    const json = await redis.hGet(keys.catalog, id);
    const next = new Map(idx.byId);
    const e = json ? parseEntry(json) : undefined;
    if (e) next.set(id, e);
    else next.delete(id);
    idx = buildIndexes(next.values());
  }

  async function onMessage({ kind, id }: ChangeMessage): Promise<void> {
    if (kind === 'catalog') await reloadAccount(id);
    else if (kind === 'deck') {
      const version = await redis.hGet(keys.deckIndex, id);
      if (version) await loadDeck(id, version);
      else decks.delete(id);
    }
  }

  return {
    async start(): Promise<void> {
      unlisten = bus.listen((message) => {
        onMessage(message).catch((err) => logger.warn({ err }, 'failed to apply a change message'));
      });
      await bus.start();
      await reloadAll();
      timer = setInterval(() => {
        reloadAll().catch((err) => logger.warn({ err }, 'directory refresh failed'));
      }, refreshIntervalMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      unlisten?.();
      if (ownBus) await bus.stop();
    },
    isLoaded: () => loaded,
    reloadAll,

    identify({ sourceIp, ruriUser, trustedAccountId }: IdentifyInput): Identification {
      const ip = normalizeIp(sourceIp);
      const stripPrefix = (account: CatalogEntry) =>
        account.techPrefix && ruriUser.startsWith(account.techPrefix) ? ruriUser.slice(account.techPrefix.length) : ruriUser;
      if (trustedAccountId !== undefined && trusted.has(ip)) {
        const account = ID_PATTERN.test(trustedAccountId) ? idx.byId.get(trustedAccountId) : undefined;
        return account ? { ok: true, account, destination: stripPrefix(account), via: 'trusted_header' } : { ok: false };
      }
      let candidates = idx.byIp.get(ip);
      if (idx.byCidr.length > 0) {
        const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
        const inRange = idx.byCidr.filter((c) => c.list.check(ip, family)).map((c) => c.entry);
        if (inRange.length > 0) candidates = [...(candidates ?? []), ...inRange];
      }
      if (!candidates) return { ok: false };
      const account = pickByTechPrefix(candidates, ruriUser);
      if (!account) return { ok: false };
      return { ok: true, account, destination: stripPrefix(account), via: account.techPrefix ? 'tech_prefix' : 'ip' };
    },

    rateFor(account: CatalogEntry, destination: string): Rate | undefined {
      return decks.get(account.deckId)?.deck.lookup(destination);
    },

    account: (id: string) => idx.byId.get(id),
    accountIds: () => [...idx.byId.keys()],
    /** Account OFF and funds changes from the change bus this directory listens on. */
    onAccountSignal(listener: (s: AccountSignal) => void): () => void {
      return bus.listen(({ kind, id }) => {
        if (kind === 'off' || kind === 'funds') listener({ kind, accountId: id });
      });
    },
  };
}

export type Directory = ReturnType<typeof createDirectory>;
