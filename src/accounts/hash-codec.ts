/**
 * The account hash in Redis, which the engine's scripts read, to and from the account: the settings put
 * writes, and the settings or the whole account view read back. Pure: no I/O, the clock is passed in.
 */
import { decodeAccountHash, type AccountLimits } from '../redis/codecs/account-hash.js';
import type { Account, LiveCalls } from './account.js';
import { isTaxExempt, type AccountSettings } from './settings.js';

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
