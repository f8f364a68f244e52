import type { Logger } from 'pino';
import { ID_PATTERN } from '../config/schema.js';
import type { Redis } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import type { CatalogEntry } from '../model/index.js';
import { createChangeBus, type ChangeBus } from '../redis/change-bus.js';
import type { ChangeMessage } from '../redis/codecs/change-message.js';
import { deserializeRateDeck } from '../rating/deck-codec.js';
import type { Rate, RateDeck } from '../rating/deck-model.js';
import { catalogEntryOf, parseCatalogEntry } from '../accounts/catalog-entry.js';
import { settingsFromHash } from '../accounts/hash-codec.js';
import { SCRIPTS } from '../redis/engine.js';
import { runScript } from '../redis/script.js';
import { buildCatalogIndex, identify, trustedPeerSet, type CatalogIndex, type Identification, type IdentifyInput } from './catalog-index.js';

export type { CatalogEntry, Identification, IdentifyInput };
export { normalizeIp } from './catalog-index.js';

/** An account change announced on the change channel (see src/redis/keys.ts `changes`). */
export type AccountSignal = { kind: 'off' | 'funds'; accountId: string };

export interface DirectoryDeps {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  trustedPeers: readonly string[];
  /** Full reload period, a backstop for pub/sub messages lost while disconnected. */
  refreshIntervalMs?: number;
  /** The instance's change bus; without one the directory subscribes on its own. */
  changes?: ChangeBus;
  /** Every account hash the directory reads (undefined: the account is gone): the fraud guard's settings and blocks. */
  onAccountHash?: (accountId: string, hash: Record<string, string> | undefined) => void;
}

/** Accounts of the catalog that clash with another's (identification could not tell them apart). */
export interface CatalogAmbiguity {
  /** Each such account, with the accounts it clashes with; empty when the catalog is sound. */
  accounts: Readonly<Record<string, readonly string[]>>;
}

/**
 * Identification data (ACLs, tech prefixes) and rate decks, held in process memory so that an INVITE costs
 * exactly one Redis call (the admit script). Kept current by the change channel, and by a periodic full
 * reload in case a message was missed while the subscriber was disconnected.
 */
export function createDirectory({ redis, keys, logger, trustedPeers, refreshIntervalMs = 60_000, changes, onAccountHash }: DirectoryDeps) {
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

  /**
   * An account's entry as its account hash says it is: the catalog hash gives the ids (and is healed to match),
   * the account hash decides. putAccount writes the script, then the catalog, across two slots; a crash between
   * them leaves the catalog wrong, and this puts it right at the next reload. An id without an account hash
   * (a create that never reached its script) has no entry.
   */
  async function entryOf(id: string, stored: string | undefined): Promise<CatalogEntry | undefined> {
    const hash = (await redis.hGetAll(keys.account(id))) as Record<string, string>;
    let entry: CatalogEntry | undefined;
    const exists = Object.keys(hash).length > 0;
    onAccountHash?.(id, exists ? hash : undefined);
    if (exists) {
      try {
        entry = catalogEntryOf(id, settingsFromHash(hash));
      } catch (err) {
        logger.error({ err, accountId: id }, 'account hash is unreadable; identifying it by its catalog entry');
        return stored === undefined ? undefined : parseCatalogEntry(stored);
      }
    }
    const json = entry ? JSON.stringify(entry) : undefined;
    if (json !== stored) {
      // written only while no account write holds the catalog lock: that write puts its own entry right
      const healed = await runScript(redis, SCRIPTS.catalogWrite, [keys.catalog, keys.catalogLock], ['', id, json ?? '']).catch(() => null);
      if (Array.isArray(healed) && healed[0] === 1) logger.warn({ accountId: id }, 'catalog entry did not match the account; healed from the account hash');
    }
    return entry;
  }

  let reported = '';
  function rebuild(entries: Iterable<CatalogEntry>): void {
    idx = buildCatalogIndex(entries);
    const report = JSON.stringify(Object.fromEntries(idx.ambiguous));
    if (report !== reported) {
      reported = report;
      if (idx.ambiguous.size > 0) {
        logger.error(
          { ambiguous: Object.fromEntries(idx.ambiguous) },
          'ambiguous catalog: accounts share source addresses without distinct tech prefixes (or have ids equal but for case); ' +
            'INVITEs that could belong to several of them are refused (ambiguous_account) until the accounts are changed',
        );
      } else if (loaded) logger.info('catalog is no longer ambiguous');
    }
  }

  async function reloadAll(): Promise<void> {
    const [catalog, deckIndex] = await Promise.all([redis.hGetAll(keys.catalog), redis.hGetAll(keys.deckIndex)]);
    const entries = await Promise.all(Object.entries(catalog as Record<string, string>).map(([id, json]) => (ID_PATTERN.test(id) ? entryOf(id, json) : undefined)));
    rebuild(entries.filter((e): e is CatalogEntry => e !== undefined));
    await Promise.all(Object.entries(deckIndex).map(([id, version]) => loadDeck(id, version)));
    for (const id of decks.keys()) if (!(id in deckIndex)) decks.delete(id);
    loaded = true;
  }

  async function reloadAccount(id: string): Promise<void> {
    if (!ID_PATTERN.test(id)) return;
    const json = await redis.hGet(keys.catalog, id);
    const next = new Map(idx.byId);
    const e = json ? await entryOf(id, json) : undefined;
    if (!json) onAccountHash?.(id, undefined);
    if (e) next.set(id, e);
    else next.delete(id);
    rebuild(next.values());
  }

  async function onMessage({ kind, id }: ChangeMessage): Promise<void> {
    if (kind === 'catalog') await reloadAccount(id);
    else if (kind === 'traffic' && onAccountHash && ID_PATTERN.test(id)) {
      // the account's fraud rules or blocks changed: its hash holds them, the catalog is untouched
      const hash = (await redis.hGetAll(keys.account(id))) as Record<string, string>;
      onAccountHash(id, Object.keys(hash).length > 0 ? hash : undefined);
    }
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
    /** What the catalog in memory holds that identification cannot tell apart: for /readyz and the metric. */
    ambiguity: (): CatalogAmbiguity => ({ accounts: Object.fromEntries(idx.ambiguous) }),

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
