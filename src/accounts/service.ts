/**
 * Account and rate deck operations for engineers: the one place the CLI and the admin API go through.
 * Input is checked here, every problem at once, before anything is written; the money-moving and status
 * decisions themselves happen inside the engine's atomic scripts.
 */
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { clashProblem, clashesOf } from '../admission/catalog-overlap.js';
import type { Config } from '../config/index.js';
import { ID_PATTERN } from '../config/schema.js';
import { serializeRateDeck } from '../rating/deck-codec.js';
import { parseRateDeckCsv } from '../rating/deck-csv.js';
import { RateDeckError } from '../rating/deck-problems.js';
import { MAX_MICROS, formatUsd, type Micros } from '../rating/money.js';
import type { Redis } from '../redis/client.js';
import type { AccountStatus } from '../model/index.js';
import type { Engine } from '../redis/engine.js';
import { publishChange } from '../redis/change-bus.js';
import { switchOfRecord } from '../redis/codecs/call-record.js';
import type { Keys } from '../redis/keys.js';
import {
  AccountExistsError,
  AccountNotFoundError,
  CatalogBusyError,
  DeckNotFoundError,
  PaymentConflictError,
  RateDeckInvalidError,
  ValidationError,
} from './errors.js';
import type { Account, LiveCalls } from './account.js';
import { catalogEntryOf, parseCatalogEntry, type CatalogEntry } from './catalog-entry.js';
import { accountFromHash, settingsFromHash, toAccountPut } from './hash-codec.js';
import { PAYMENT_ID_PATTERN, idProblem, printableText, show, usdAmount, wholeNumber } from './input-parsers.js';
import { ACCOUNT_FIELDS, LIMITS, resolveAccountSettings } from './settings.js';

export interface AccountServiceDeps {
  redis: Redis;
  keys: Keys;
  engine: Engine;
  config: Pick<Config, 'billing'>;
  /** Stamps updatedAt. */
  now?: () => Date;
}

/** create: the id must be free. update: the account must exist. upsert: either. */
export type PutMode = 'create' | 'update' | 'upsert';

export interface PutAccountResult {
  created: boolean;
  account: Account;
}

export interface ApplyFundsResult {
  /** duplicate: this payment id was applied before for the same amount, and nothing changed now. */
  outcome: 'applied' | 'duplicate';
  paymentId: string;
  amount: Micros;
  account: Account;
}

export interface LimitsInput {
  channels?: unknown;
  cps?: unknown;
  burst?: unknown;
}

export interface RateDeckLoaded {
  deckId: string;
  /** How many destination prefixes the deck rates. */
  prefixes: number;
  /** sha1 of the stored deck: instances compare it to the one they hold in memory. */
  version: string;
}

export interface AccountPage {
  ids: string[];
  /** Pass back to get the next page; '0' when the listing is complete. */
  cursor: string;
}


const DAY_MS = 86_400_000;
/** An account write holds the catalog lock for a few round trips; it expires on its own after a crash. */
const CATALOG_LOCK_TTL_MS = 10_000;
const CATALOG_LOCK_WAIT_MS = 5_000;
const CURSOR = /^[0-9]{1,20}$/;
/** Redis scan cursors are unsigned 64-bit integers. */
const MAX_CURSOR = 2n ** 64n - 1n;
const amountSchema = usdAmount({ positive: true });
const noteSchema = printableText(LIMITS.noteLength);
const limitSchemas = {
  channels: wholeNumber(LIMITS.channels.min, LIMITS.channels.max),
  cps: wholeNumber(LIMITS.cps.min, LIMITS.cps.max),
  burst: wholeNumber(LIMITS.burst.min, LIMITS.burst.max),
};

/** Live calls one account-view script counts; above this the calls hash is paged with HSCAN. */
const VIEW_MAX_COUNTED = 2000;

function fail(problems: string[]): void {
  if (problems.length > 0) throw new ValidationError(problems);
}

export function createAccountService({ redis, keys, engine, config, now = () => new Date() }: AccountServiceDeps) {
  async function readHash(id: string): Promise<Record<string, string> | null> {
    const hash = (await redis.hGetAll(keys.account(id))) as Record<string, string>;
    return Object.keys(hash).length > 0 ? hash : null;
  }

  async function readAccount(id: string): Promise<Account> {
    const hash = await readHash(id);
    if (!hash) throw new AccountNotFoundError(id);
    return accountFromHash(id, hash);
  }

  async function putAccount(id: string, input: unknown, options: { mode: PutMode }): Promise<PutAccountResult> {
    const { mode } = options;
    const badId = idProblem(id);
    if (badId) {
      const rest = resolveAccountSettings(null, input, { complete: mode !== 'update' });
      throw new ValidationError([badId, ...(rest.ok ? [] : rest.problems)]);
    }
    const given = typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {};
    const deckToCheck = typeof given.deckId === 'string' && ID_PATTERN.test(given.deckId) ? given.deckId : null;
    const [storedHash, deckLoaded] = await Promise.all([
      readHash(id),
      deckToCheck === null ? Promise.resolve(true) : redis.hExists(keys.deckIndex, deckToCheck).then((r) => Number(r) === 1),
    ]);
    if (mode === 'update' && !storedHash) throw new AccountNotFoundError(id);
    if (mode === 'create' && storedHash) throw new AccountExistsError(id);
    const stored = storedHash ? settingsFromHash(storedHash) : null;
    const resolved = resolveAccountSettings(stored, input);
    const problems = resolved.ok ? [] : [...resolved.problems];
    if (resolved.ok && stored !== null && resolved.changed.length === 0) {
      problems.push(`nothing to change: give at least one field (${ACCOUNT_FIELDS.join(', ')})`);
    }
    if (!deckLoaded) {
      problems.push(`deckId: rate deck ${show(deckToCheck)} is not loaded (load it first with: callgate ratedeck load ${deckToCheck} <file.csv>)`);
    }
    if (problems.length > 0 || !resolved.ok) throw new ValidationError(problems);

    // Identification must never be ambiguous. The check reads the whole catalog and the write spans the
    // catalog's slot and the account's, which no one script can hold on a cluster: account writes take the
    // catalog lock instead, and every catalog write is fenced by it (catalog-write-2.lua).
    const lock = await takeCatalogLock();
    try {
      const entry = catalogEntryOf(id, resolved.settings);
      const others = await readCatalogEntries();
      const clashes = clashesOf(entry, others);
      if (clashes.length > 0) throw new ValidationError(clashes.map((c) => clashProblem(entry, c)));

      const { limits, fields } = toAccountPut(resolved.settings, now());
      // only the limits this request changes are written: the script keeps the others as they are now, so a
      // live limit change made since our read is not undone
      const changedLimits: Partial<typeof limits> =
        stored === null
          ? limits
          : Object.fromEntries(Object.entries(limits).filter(([k]) => (resolved.changed as readonly string[]).includes(k)));
      // the entry first: a crash after it leaves an id the directory's reload finds, and reconciles with the
      // account hash (whatever the script did or did not write)
      await engine.writeCatalogEntry(lock, id, JSON.stringify(entry));
      let put: Awaited<ReturnType<Engine['putAccount']>>;
      try {
        put = await engine.putAccount(id, changedLimits, fields, mode);
      } finally {
        // The identification entry is built from what the account hash holds now, not from what was sent,
        // so a concurrent change of another field cannot leave the catalog behind the account.
        const hash = await readHash(id);
        await engine.writeCatalogEntry(lock, id, hash ? JSON.stringify(catalogEntryOf(id, settingsFromHash(hash))) : null);
      }
      if (put.outcome === 'unknown_account') throw new AccountNotFoundError(id);
      if (put.outcome === 'already_exists') throw new AccountExistsError(id);
      const account = await readAccount(id);
      await publishChange(redis, keys, { kind: 'catalog', id });
      return { created: put.created, account };
    } finally {
      await engine.releaseCatalogLock(lock).catch(() => false); // it expires by itself anyway
    }
  }

  async function takeCatalogLock(): Promise<string> {
    const token = randomUUID();
    const deadline = Date.now() + CATALOG_LOCK_WAIT_MS;
    for (;;) {
      if ((await redis.set(keys.catalogLock, token, { condition: 'NX', expiration: { type: 'PX', value: CATALOG_LOCK_TTL_MS } })) === 'OK') {
        return token;
      }
      if (Date.now() >= deadline) {
        throw new CatalogBusyError(`another account write held the catalog for over ${CATALOG_LOCK_WAIT_MS} ms; nothing changed, retry`);
      }
      await sleep(10 + Math.floor(Math.random() * 20));
    }
  }

  async function readCatalogEntries(): Promise<CatalogEntry[]> {
    const catalog = (await redis.hGetAll(keys.catalog)) as Record<string, string>;
    return Object.values(catalog).map(parseCatalogEntry).filter((e): e is CatalogEntry => e !== undefined);
  }

  async function countLiveCalls(id: string): Promise<LiveCalls> {
    const live: LiveCalls = { total: 0, bySwitch: {} };
    let cursor = '0';
    do {
      const page = await redis.hScan(keys.calls(id), cursor, { COUNT: 500 });
      cursor = String(page.cursor);
      for (const { value } of page.entries) {
        // counted as the account-view script counts them: every field is one live call
        const switchId = switchOfRecord(String(value));
        live.total++;
        live.bySwitch[switchId] = (live.bySwitch[switchId] ?? 0) + 1;
      }
    } while (cursor !== '0');
    return live;
  }

  async function getAccount(id: string): Promise<Account> {
    fail([idProblem(id)].filter((p): p is string => p !== undefined));
    // one script reads the hash and counts the live calls; an account with more live calls than
    // VIEW_MAX_COUNTED has them counted here, a page at a time, so no admin read holds Redis for long
    const view = await engine.readAccountView(id, VIEW_MAX_COUNTED);
    if (view.outcome === 'unknown_account') throw new AccountNotFoundError(id);
    const liveCalls = view.liveCalls ?? (await countLiveCalls(id));
    return accountFromHash(id, view.hash, liveCalls);
  }

  /**
   * A payment, once per payment id: the id is required (a retry after a timeout must carry the same id, or
   * it would credit twice). The same id with the same amount is a duplicate: success, and nothing changes.
   * The same id with another amount is refused (PaymentConflictError), and nothing changes. Ids are
   * remembered for billing.paymentIdRetentionDays.
   */
  async function applyFunds(id: string, usdText: unknown, paymentId: unknown): Promise<ApplyFundsResult> {
    const problems: string[] = [];
    const badId = idProblem(id);
    if (badId) problems.push(badId);
    const amount = amountSchema.safeParse(usdText);
    if (!amount.success) problems.push(...amount.error.issues.map((i) => `amount: ${i.message}`));
    if (paymentId === undefined || paymentId === null || paymentId === '') {
      problems.push('paymentId: required: your own reference for this payment (an invoice or transfer id), so that a retry never credits twice');
    } else if (typeof paymentId !== 'string' || !PAYMENT_ID_PATTERN.test(paymentId)) {
      problems.push(`paymentId: must be 1-128 characters from A-Z a-z 0-9 _ . : - (got ${show(paymentId)})`);
    }
    fail(problems);
    const payment = paymentId as string;
    const micros = amount.data!;
    const r = await engine.applyFunds(id, payment, micros, config.billing.reenableMinimumUsd, {
      at: now(),
      retentionMs: config.billing.paymentIdRetentionDays * DAY_MS,
    });
    if (r.outcome === 'unknown_account') throw new AccountNotFoundError(id);
    if (r.outcome === 'balance_limit') {
      throw new ValidationError([
        `amount: would take the balance past ${formatUsd(MAX_MICROS)} USD, the most an account may hold (balance now ${formatUsd(r.balance)} USD)`,
      ]);
    }
    if (r.outcome === 'conflict') {
      throw new PaymentConflictError(
        id,
        payment,
        r.amount,
        micros,
        `payment ${JSON.stringify(payment)} was applied to ${JSON.stringify(id)} on ${new Date(r.atMs).toISOString()} for ` +
          `${formatUsd(r.amount)} USD; this request asks for ${formatUsd(micros)} USD; nothing changed ` +
          '(a new payment needs a new payment id)',
      );
    }
    return { outcome: r.outcome, paymentId: payment, amount: micros, account: await readAccount(id) };
  }

  /** status is on or off, in any case. */
  async function setStatus(id: string, status: unknown, note?: unknown): Promise<Account> {
    const problems: string[] = [];
    const badId = idProblem(id);
    if (badId) problems.push(badId);
    const wanted = typeof status === 'string' ? status.toLowerCase() : status;
    if (wanted !== 'on' && wanted !== 'off') problems.push(`status: must be on or off, got ${show(status)}`);
    const parsedNote = note === undefined ? undefined : noteSchema.safeParse(note);
    if (parsedNote && !parsedNote.success) problems.push(...parsedNote.error.issues.map((i) => `note: ${i.message}`));
    fail(problems);
    const r = await engine.setStatus(id, wanted as AccountStatus, parsedNote?.data ?? '', { at: now() });
    if (r.outcome === 'unknown_account') throw new AccountNotFoundError(id);
    return readAccount(id);
  }

  async function setLimits(id: string, limits: LimitsInput): Promise<Account> {
    const problems: string[] = [];
    const badId = idProblem(id);
    if (badId) problems.push(badId);
    const given = typeof limits === 'object' && limits !== null ? limits : {};
    const parsed: { channels?: number; cps?: number; burst?: number } = {};
    const invalid = new Set<string>();
    for (const [key, value] of Object.entries(given)) {
      if (value === undefined) continue;
      if (!(key in limitSchemas)) {
        problems.push(`${show(key)}: unknown limit (known: channels, cps, burst)`);
        continue;
      }
      const name = key as keyof typeof limitSchemas;
      const r = limitSchemas[name].safeParse(value);
      if (r.success) parsed[name] = r.data;
      else {
        invalid.add(name);
        problems.push(...r.error.issues.map((i) => `${name}: ${i.message}`));
      }
    }
    if (Object.keys(parsed).length === 0 && invalid.size === 0) problems.push('give at least one of channels, cps, burst');
    if (parsed.cps !== undefined && parsed.burst === undefined && !invalid.has('burst')) parsed.burst = parsed.cps;

    let stored: Record<string, string> | null = null;
    if (!badId) stored = await readHash(id);
    if (!badId && !stored) throw new AccountNotFoundError(id);
    if (stored && !invalid.has('cps') && !invalid.has('burst')) {
      const current = settingsFromHash(stored);
      const cps = parsed.cps ?? current.cps;
      const burst = parsed.burst ?? current.burst;
      if (cps > 0 && burst < 1) problems.push('burst: must be at least 1 when cps is above 0');
    }
    fail(problems);
    const r = await engine.setLimits(id, parsed, { at: now() });
    if (r.outcome === 'unknown_account') throw new AccountNotFoundError(id);
    return readAccount(id);
  }

  async function loadRateDeck(deckId: string, csvText: string): Promise<RateDeckLoaded> {
    const problems: string[] = [];
    const badId = idProblem(deckId, 'deckId');
    if (badId) problems.push(badId);
    if (typeof csvText !== 'string') problems.push(`csv: must be CSV text, got ${show(csvText)}`);
    fail(problems);
    let serialized: string;
    let prefixes: number;
    try {
      const deck = parseRateDeckCsv(deckId, csvText);
      serialized = serializeRateDeck(deck);
      prefixes = deck.rates.length;
    } catch (err) {
      if (err instanceof RateDeckError) throw new RateDeckInvalidError(deckId, err.problems, err.problemCount, err.message);
      throw err;
    }
    const version = createHash('sha1').update(serialized).digest('hex');
    // the deck first, then its index entry: an instance that sees the new version always finds the deck
    await redis.set(keys.deck(deckId), serialized);
    await redis.hSet(keys.deckIndex, deckId, version);
    await publishChange(redis, keys, { kind: 'deck', id: deckId });
    return { deckId, prefixes, version };
  }

  async function getRateDeckVersion(deckId: string): Promise<{ deckId: string; version: string }> {
    fail([idProblem(deckId, 'deckId')].filter((p): p is string => p !== undefined));
    const version = await redis.hGet(keys.deckIndex, deckId);
    if (version === null || version === undefined) throw new DeckNotFoundError(deckId);
    return { deckId, version: String(version) };
  }

  /** Pages through the identification catalog. Pages are Redis HSCAN pages: `limit` is a hint, not a cap. */
  async function listAccounts(options: { cursor?: unknown; limit?: unknown } = {}): Promise<AccountPage> {
    const problems: string[] = [];
    const cursor = options.cursor ?? '0';
    if (typeof cursor !== 'string' || !CURSOR.test(cursor) || BigInt(cursor) > MAX_CURSOR) {
      problems.push(`cursor: must be a cursor returned by a previous page, got ${show(cursor)}`);
    }
    const limit = wholeNumber(1, 1000).safeParse(options.limit ?? 100);
    if (!limit.success) problems.push(...limit.error.issues.map((i) => `limit: ${i.message}`));
    fail(problems);
    const page = await redis.hScan(keys.catalog, cursor as string, { COUNT: limit.data! });
    return { ids: page.entries.map((e) => String(e.field)).sort(), cursor: String(page.cursor) };
  }

  return { putAccount, getAccount, applyFunds, setStatus, setLimits, loadRateDeck, getRateDeckVersion, listAccounts };
}

export type AccountService = ReturnType<typeof createAccountService>;
