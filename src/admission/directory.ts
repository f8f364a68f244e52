import type { Logger } from 'pino';
import { ID_PATTERN } from '../config/schema.js';
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import type { CatalogEntry } from '../model/index.js';
import { createChangeBus, type ChangeBus } from '../redis/change-bus.js';
import type { ChangeMessage } from '../redis/codecs/change-message.js';
import { deserializeRateDeck } from '../rating/deck-codec.js';
import type { Rate, RateDeck } from '../rating/deck-model.js';
import { buildCatalogIndex, identify, trustedPeerSet, type CatalogIndex, type Identification, type IdentifyInput } from './catalog-index.js';

export type { CatalogEntry, Identification, IdentifyInput };
export { normalizeIp } from './catalog-index.js';

/** An account change announced on the change channel (see src/redis/keys.ts `changes`). */
export type AccountSignal = { kind: 'off' | 'funds'; accountId: string };

function parseEntry(json: string): CatalogEntry | undefined {
  try {
    const e = JSON.parse(json) as CatalogEntry;
    if (!ID_PATTERN.test(e.id) || !Array.isArray(e.ips) || typeof e.deckId !== 'string') return undefined;
    return e;
  } catch {
    return undefined;
  }
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
  let idx: CatalogIndex = buildCatalogIndex([]);
  const decks = new Map<string, { version: string; deck: RateDeck }>();
  const trusted = trustedPeerSet(trustedPeers);
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
    idx = buildCatalogIndex(entries);
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
    idx = buildCatalogIndex(next.values());
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

    identify: (input: IdentifyInput): Identification => identify(idx, trusted, input),

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
