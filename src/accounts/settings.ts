/**
 * An account's settings: the fields an engineer sets, their limits, and how a create or an update is
 * checked (every problem at once) and merged with what is stored. Pure: no I/O.
 */
import { z } from 'zod';
import { ID_PATTERN } from '../config/schema.js';
import { formatUsd, type Micros } from '../rating/money.js';
import { ISO_COUNTRY_CODES } from './countries.js';
import { clearable, printableText, show, sourceAddressList, usdAmount, wholeNumber } from './input-parsers.js';

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

export const TECH_PREFIX_PATTERN = /^[0-9#*]{1,16}$/;

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
    const code = typeof value === 'string' ? value.toUpperCase() : undefined;
    if (code !== undefined && ISO_COUNTRY_CODES.has(code)) return code;
    ctx.addIssue({
      code: 'custom',
      message: `must be an ISO 3166 alpha-2 country code, in any case (for example US, gb, MX), got ${show(value)}`,
    });
    return z.NEVER;
  }),
  lowBalanceThreshold: usdAmount(),
  deckId: z.unknown().transform((value, ctx): string => {
    if (typeof value === 'string' && ID_PATTERN.test(value)) return value;
    ctx.addIssue({ code: 'custom', message: `must be a rate deck id of 1-64 characters from A-Z a-z 0-9 _ . -, got ${show(value)}` });
    return z.NEVER;
  }),
  ips: sourceAddressList(LIMITS.ips),
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
