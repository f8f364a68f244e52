/**
 * The account at the edge: what an engineer or the admin API may send, how it is checked (every problem
 * at once), how it is merged with what is stored, and how it maps to and from the Redis hash that the
 * engine's scripts read. Pure: no I/O, the clock is passed in.
 */
import { z } from 'zod';
import { ID_PATTERN } from '../config/schema.js';
import { MAX_MICROS, MoneyFormatError, formatUsd, parseUsd, type Micros } from '../rating/money.js';
import { decodeAccountHash, type AccountLimits } from '../redis/codecs/account-hash.js';
import type { AccountStatus, OffReason } from '../model/index.js';
import { checkSourceAddress } from './addresses.js';
import { ISO_COUNTRY_CODES } from './countries.js';

export const ACCOUNT_TYPES = ['prepaid', 'postpaid'] as const;
export type AccountType = (typeof ACCOUNT_TYPES)[number];

export const LIMITS = {
  channels: { min: 0, max: 100_000 },
  cps: { min: 0, max: 10_000 },
  /** A bucket may hold up to ten seconds of the largest CPS. */
  burst: { min: 0, max: 100_000 },
  nameLength: 128,
  ips: 256,
  noteLength: 256,
} as const;

export const PAYMENT_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
export const TECH_PREFIX_PATTERN = /^[0-9#*]{1,16}$/;
const PRINTABLE = /^[^\p{C}]*$/u;
const WHOLE_NUMBER = /^[0-9]{1,15}$/;

/** Shows a rejected value in a problem text: quoted, shortened, never raw control characters. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  return Array.isArray(value) ? 'an array' : typeof value;
}

export function idProblem(id: unknown, what = 'id'): string | undefined {
  if (typeof id === 'string' && ID_PATTERN.test(id)) return undefined;
  return `${what}: must be 1-64 characters from A-Z a-z 0-9 _ . - (got ${show(id)})`;
}

// ---------------------------------------------------------------------------------------------------------
// Field schemas

/** A whole number, as a JSON number or as digits only: "1.5", "1e3", "-1", "12abc" are all refused. */
export function wholeNumber(min: number, max: number) {
  const expected = `must be a whole number from ${min} to ${max}`;
  return z.unknown().transform((value, ctx): number => {
    let n = Number.NaN;
    if (typeof value === 'number' && Number.isSafeInteger(value)) n = value;
    else if (typeof value === 'string' && WHOLE_NUMBER.test(value)) n = Number(value);
    if (!(n >= min && n <= max)) {
      ctx.addIssue({ code: 'custom', message: `${expected}, got ${show(value)}` });
      return z.NEVER;
    }
    return n;
  });
}

/** Decimal dollars (at most 6 decimals) into micro-dollars. A JSON number is read from its decimal text. */
export function usdAmount(options: { positive?: boolean } = {}) {
  const expected = 'must be decimal dollars with at most 6 decimals (for example 12.50)';
  return z.unknown().transform((value, ctx): Micros => {
    const text = typeof value === 'number' ? String(value) : value;
    let micros: number;
    try {
      if (typeof text !== 'string') throw new MoneyFormatError(expected);
      micros = parseUsd(text);
    } catch (err) {
      if (!(err instanceof MoneyFormatError)) throw err;
      ctx.addIssue({ code: 'custom', message: `${expected}, got ${show(value)}` });
      return z.NEVER;
    }
    if (micros < 0 || (typeof text === 'string' && text.trim().startsWith('-'))) {
      ctx.addIssue({ code: 'custom', message: `must not be negative, got ${show(value)}` });
      return z.NEVER;
    }
    if (options.positive && micros === 0) {
      ctx.addIssue({ code: 'custom', message: `must be more than 0, got ${show(value)}` });
      return z.NEVER;
    }
    if (micros > MAX_MICROS) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${formatUsd(MAX_MICROS)}, got ${show(value)}` });
      return z.NEVER;
    }
    return micros;
  });
}

/** Printable text (no control or format characters), up to `max` characters. */
export function printableText(max: number) {
  return z.unknown().transform((value, ctx): string => {
    if (typeof value !== 'string') {
      ctx.addIssue({ code: 'custom', message: `must be text, got ${show(value)}` });
      return z.NEVER;
    }
    if (value.length > max) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${max} characters, got ${value.length}` });
      return z.NEVER;
    }
    if (!PRINTABLE.test(value)) {
      ctx.addIssue({ code: 'custom', message: 'must hold printable characters only (no line breaks or control characters)' });
      return z.NEVER;
    }
    return value;
  });
}

/** An optional reference: null or "" clears it. */
function clearable(pattern: RegExp, expected: string) {
  return z.unknown().transform((value, ctx): string | null => {
    if (value === null || value === '') return null;
    if (typeof value === 'string' && pattern.test(value)) return value;
    ctx.addIssue({ code: 'custom', message: `${expected}, got ${show(value)} (null or "" clears it)` });
    return z.NEVER;
  });
}

const sourceAddresses = z.unknown().transform((value, ctx): string[] => {
  if (!Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: `must be a list of IPv4/IPv6 addresses or CIDR blocks, got ${show(value)}` });
    return z.NEVER;
  }
  if (value.length > LIMITS.ips) {
    ctx.addIssue({ code: 'custom', message: `must hold at most ${LIMITS.ips} entries, got ${value.length}` });
    return z.NEVER;
  }
  const out: string[] = [];
  value.forEach((entry: unknown, index) => {
    const check = checkSourceAddress(entry);
    if (check.ok) {
      if (!out.includes(check.value)) out.push(check.value);
    } else {
      ctx.addIssue({ code: 'custom', path: [index], message: check.problem });
    }
  });
  return out;
});

/**
 * One schema per field, under the names the CLI and the admin API use. Each turns edge text into the
 * value held inside callgate: money in micro-dollars, counts as integers.
 */
export const accountFieldSchemas = {
  type: z.unknown().transform((value, ctx): AccountType => {
    if (value === 'prepaid' || value === 'postpaid') return value;
    ctx.addIssue({ code: 'custom', message: `must be prepaid or postpaid, got ${show(value)}` });
    return z.NEVER;
  }),
  name: printableText(LIMITS.nameLength),
  creditLimit: usdAmount(),
  channels: wholeNumber(LIMITS.channels.min, LIMITS.channels.max),
  cps: wholeNumber(LIMITS.cps.min, LIMITS.cps.max),
  burst: wholeNumber(LIMITS.burst.min, LIMITS.burst.max),
  fusfOnFile: z.unknown().transform((value, ctx): boolean => {
    if (typeof value === 'boolean') return value;
    ctx.addIssue({ code: 'custom', message: `must be true or false, got ${show(value)}` });
    return z.NEVER;
  }),
  billingCountry: z.unknown().transform((value, ctx): string => {
    if (typeof value === 'string' && ISO_COUNTRY_CODES.has(value)) return value;
    ctx.addIssue({
      code: 'custom',
      message: `must be an ISO 3166 alpha-2 country code in upper case (for example US, GB, MX), got ${show(value)}`,
    });
    return z.NEVER;
  }),
  lowBalanceThreshold: usdAmount(),
  deckId: z.unknown().transform((value, ctx): string => {
    if (typeof value === 'string' && ID_PATTERN.test(value)) return value;
    ctx.addIssue({ code: 'custom', message: `must be a rate deck id of 1-64 characters from A-Z a-z 0-9 _ . -, got ${show(value)}` });
    return z.NEVER;
  }),
  ips: sourceAddresses,
  techPrefix: clearable(TECH_PREFIX_PATTERN, 'must be 1-16 characters from 0-9 # *'),
};

export type AccountField = keyof typeof accountFieldSchemas;
export const ACCOUNT_FIELDS = Object.keys(accountFieldSchemas) as AccountField[];

/** The whole request body as the admin API documents it: every field optional, no unknown field. */
export const accountInputSchema = z.object(accountFieldSchemas).partial().strict();
/** What an edge may send: loose values (strings or numbers), checked by resolveAccountSettings. */
export type AccountInput = { [K in AccountField]?: unknown };

/** An account's settings as callgate holds them: money in micro-dollars. */
export interface AccountSettings {
  type: AccountType;
  name: string;
  creditLimit: Micros;
  channels: number;
  cps: number;
  burst: number;
  fusfOnFile: boolean;
  billingCountry: string;
  lowBalanceThreshold: Micros;
  /** Every account is rated on a deck: without one, every call it sends would be refused. */
  deckId: string;
  ips: string[];
  techPrefix: string | null;
}

/** Taxes apply unless the FUSF contribution form is on file or the account is billed outside the USA. */
export function isTaxExempt(account: Pick<AccountSettings, 'fusfOnFile' | 'billingCountry'>): boolean {
  return account.fusfOnFile || account.billingCountry !== 'US';
}

const REQUIRED_ON_CREATE: readonly AccountField[] = ['type', 'channels', 'cps', 'billingCountry', 'deckId', 'ips'];
const CREATE_DEFAULTS: Partial<AccountSettings> = {
  name: '',
  creditLimit: 0,
  fusfOnFile: false,
  lowBalanceThreshold: 0,
  techPrefix: null,
};

function issuePath(field: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : `${out}.${String(part)}`), field);
}

export type ResolvedSettings =
  | { ok: true; settings: AccountSettings; changed: AccountField[] }
  | { ok: false; problems: string[] };

/**
 * Checks `input` field by field, merges it over `stored` (null when creating), then checks the merged
 * whole. Every problem is returned at once; fields that are themselves invalid are left out of the rules
 * between fields, so one mistake is reported once. `changed` lists the fields the merge wrote, derived
 * ones included (a cps given without a burst sets the burst to that cps).
 */
export function resolveAccountSettings(
  stored: AccountSettings | null,
  input: unknown,
  options: {
    /**
     * false: check the given fields and the rules between them only, without create's required fields and
     * defaults. Used when there is nothing to merge with yet (the id itself was refused) but the other
     * problems should still be reported.
     */
    complete?: boolean;
  } = {},
): ResolvedSettings {
  const complete = options.complete ?? true;
  const problems: string[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, problems: [`the account must be an object of fields, got ${show(input)}`] };
  }
  const given = input as Record<string, unknown>;
  const patch: Partial<AccountSettings> = {};
  const invalid = new Set<string>();
  for (const [key, value] of Object.entries(given)) {
    if (value === undefined) continue;
    if (!(ACCOUNT_FIELDS as string[]).includes(key)) {
      problems.push(`${show(key)}: unknown field (known: ${ACCOUNT_FIELDS.join(', ')})`);
      continue;
    }
    const field = key as AccountField;
    const result = accountFieldSchemas[field].safeParse(value);
    if (result.success) {
      (patch as Record<string, unknown>)[field] = result.data;
    } else {
      invalid.add(field);
      for (const issue of result.error.issues) problems.push(`${issuePath(field, issue.path)}: ${issue.message}`);
    }
  }
  const has = (f: AccountField) => f in patch;
  const usable = (f: AccountField) => !invalid.has(f);

  const changed = new Set<AccountField>(Object.keys(patch) as AccountField[]);
  if (has('cps') && !has('burst') && usable('burst')) {
    patch.burst = patch.cps;
    changed.add('burst');
  }
  if (stored === null && complete) {
    for (const f of REQUIRED_ON_CREATE) {
      if (!has(f) && usable(f)) problems.push(`${f}: required when creating an account`);
    }
  }
  const base = stored ?? (complete ? CREATE_DEFAULTS : {});
  const merged = { ...base, ...patch } as Partial<AccountSettings>;

  if (merged.type !== undefined && merged.creditLimit !== undefined && usable('type') && usable('creditLimit')) {
    if (merged.type === 'postpaid' && merged.creditLimit <= 0) {
      problems.push('creditLimit: a postpaid account needs a credit limit above 0');
    }
    if (merged.type === 'prepaid' && merged.creditLimit > 0) {
      problems.push(`creditLimit: must be 0 for a prepaid account, which spends only its balance (got ${formatUsd(merged.creditLimit)})`);
    }
  }
  if (merged.cps !== undefined && merged.burst !== undefined && usable('cps') && usable('burst')) {
    if (merged.cps > 0 && merged.burst < 1) problems.push('burst: must be at least 1 when cps is above 0');
  }
  if (merged.ips !== undefined && usable('ips') && merged.ips.length === 0) {
    problems.push('ips: at least one source address or CIDR block is required to identify the account');
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, settings: merged as AccountSettings, changed: stored === null ? [...ACCOUNT_FIELDS] : [...changed] };
}

// ---------------------------------------------------------------------------------------------------------
// Redis hash <-> domain

/** The descriptive hash fields put writes beside the packed limits: listed with the packing itself. */
export { DESCRIPTIVE_FIELDS } from '../redis/codecs/account-hash.js';

/**
 * What engine.putAccount takes: the limits admission reads on every INVITE, and the descriptive fields.
 * balance, reserved, status and offReason are the scripts' own and never written from here.
 */
export function toAccountPut(settings: AccountSettings, now: Date): { limits: AccountLimits; fields: Record<string, string> } {
  return {
    limits: {
      type: settings.type,
      creditLimit: settings.creditLimit,
      channels: settings.channels,
      cps: settings.cps,
      burst: settings.burst,
      lowBalanceThreshold: settings.lowBalanceThreshold,
    },
    fields: {
      name: settings.name,
      fusfOnFile: settings.fusfOnFile ? '1' : '0',
      billingCountry: settings.billingCountry,
      // derived, and stored so the CDR writer and the catalog never recompute it differently
      taxExempt: isTaxExempt(settings) ? '1' : '0',
      deckId: settings.deckId,
      ips: settings.ips.join(','),
      techPrefix: settings.techPrefix ?? '',
      updatedAt: now.toISOString(),
    },
  };
}

function descriptiveSettings(limits: AccountLimits, fields: Record<string, string | undefined>): AccountSettings {
  return {
    type: limits.type,
    name: fields.name ?? '',
    creditLimit: limits.creditLimit,
    channels: limits.channels,
    cps: limits.cps,
    burst: limits.burst,
    fusfOnFile: fields.fusfOnFile === '1',
    billingCountry: fields.billingCountry ?? '',
    lowBalanceThreshold: limits.lowBalanceThreshold,
    deckId: fields.deckId ?? '',
    ips: fields.ips ? fields.ips.split(',') : [],
    techPrefix: fields.techPrefix ? fields.techPrefix : null,
  };
}

/** Settings back from an HGETALL of the account hash. */
export function settingsFromHash(hash: Record<string, string>): AccountSettings {
  const decoded = decodeAccountHash(hash);
  return descriptiveSettings(decoded, decoded.fields);
}

export interface LiveCalls {
  /** Calls admitted and not yet finalized, on every switch. */
  total: number;
  /** The same calls by the switch that owns them; a switch's channel limit applies to its own count. */
  bySwitch: Record<string, number>;
}

/** An account as the CLI and the admin API show it. Money is integer micro-dollars. */
export interface Account extends AccountSettings {
  id: string;
  status: AccountStatus;
  offReason: OffReason | null;
  /** The engineer's note of the last manual status change. */
  statusNote: string;
  /** When an engineer last changed the status (ISO 8601 UTC). */
  statusChangedAt: string | null;
  taxExempt: boolean;
  /** Prepaid: funds left. Postpaid: negative as usage accrues. */
  balance: Micros;
  /** Held for the next unit of talk time of live calls. */
  reserved: Micros;
  /** What a new call may reserve: balance - reserved, plus the credit limit for postpaid. */
  available: Micros;
  /** Postpaid only: what the customer owes now (never below 0). null for prepaid. */
  owed: Micros | null;
  updatedAt: string | null;
  /** Present when read by getAccount. */
  liveCalls?: LiveCalls;
}

/**
 * The account from an HGETALL of its hash (with its live calls when they were counted). Objects here and in
 * accountToJson are written out field by field: spreading one large object into another and adding fields
 * sends V8 down a slow path that cost 10+ µs per call, a tenth of an admin GET.
 */
export function accountFromHash(id: string, hash: Record<string, string>, liveCalls?: LiveCalls): Account {
  const decoded = decodeAccountHash(hash);
  const fields: Record<string, string | undefined> = decoded.fields;
  const settings = descriptiveSettings(decoded, fields);
  const { balance, reserved } = decoded;
  const funds = settings.type === 'postpaid' ? balance + settings.creditLimit : balance;
  const changedAt = Number(fields.statusChangedAt);
  return {
    id,
    type: settings.type,
    name: settings.name,
    creditLimit: settings.creditLimit,
    channels: settings.channels,
    cps: settings.cps,
    burst: settings.burst,
    fusfOnFile: settings.fusfOnFile,
    billingCountry: settings.billingCountry,
    lowBalanceThreshold: settings.lowBalanceThreshold,
    deckId: settings.deckId,
    ips: settings.ips,
    techPrefix: settings.techPrefix,
    status: decoded.status,
    offReason: decoded.offReason === '' ? null : decoded.offReason,
    statusNote: fields.statusNote ?? '',
    statusChangedAt: fields.statusChangedAt && Number.isFinite(changedAt) ? new Date(changedAt).toISOString() : null,
    taxExempt: fields.taxExempt === undefined ? isTaxExempt(settings) : fields.taxExempt === '1',
    balance,
    reserved,
    available: funds - reserved,
    owed: settings.type === 'postpaid' ? Math.max(0, -balance) : null,
    updatedAt: fields.updatedAt || null,
    liveCalls,
  };
}

/** The identification record every instance keeps in memory: enough to map an INVITE to an account. */
export interface CatalogEntry {
  id: string;
  type: AccountType;
  ips: string[];
  techPrefix: string | null;
  deckId: string;
  taxExempt: boolean;
}

export function catalogEntryOf(id: string, settings: AccountSettings): CatalogEntry {
  return {
    id,
    type: settings.type,
    ips: [...settings.ips],
    techPrefix: settings.techPrefix,
    deckId: settings.deckId,
    taxExempt: isTaxExempt(settings),
  };
}

/** An account as JSON: every money field of Account with its `<name>Usd` twin. */
export interface AccountJson extends Account {
  balanceUsd: string;
  reservedUsd: string;
  availableUsd: string;
  owedUsd: string | null;
  creditLimitUsd: string;
  lowBalanceThresholdUsd: string;
}

/**
 * The JSON form of an account (CLI --json, admin API): every money field stays integer micro-dollars under
 * its own name, and gains a `<name>Usd` twin with the same amount as decimal dollars ("12.500000").
 */
export function accountToJson(a: Account): AccountJson {
  return {
    id: a.id,
    type: a.type,
    name: a.name,
    creditLimit: a.creditLimit,
    channels: a.channels,
    cps: a.cps,
    burst: a.burst,
    fusfOnFile: a.fusfOnFile,
    billingCountry: a.billingCountry,
    lowBalanceThreshold: a.lowBalanceThreshold,
    deckId: a.deckId,
    ips: a.ips,
    techPrefix: a.techPrefix,
    status: a.status,
    offReason: a.offReason,
    statusNote: a.statusNote,
    statusChangedAt: a.statusChangedAt,
    taxExempt: a.taxExempt,
    balance: a.balance,
    reserved: a.reserved,
    available: a.available,
    owed: a.owed,
    updatedAt: a.updatedAt,
    liveCalls: a.liveCalls,
    balanceUsd: formatUsd(a.balance),
    reservedUsd: formatUsd(a.reserved),
    availableUsd: formatUsd(a.available),
    owedUsd: a.owed === null ? null : formatUsd(a.owed),
    creditLimitUsd: formatUsd(a.creditLimit),
    lowBalanceThresholdUsd: formatUsd(a.lowBalanceThreshold),
  };
}
