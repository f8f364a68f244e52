import { describe, expect, it } from 'vitest';
import { limitsArgs } from '../redis/codecs/account-hash.js';
import { checkSourceAddress } from './addresses.js';
import { accountFromHash, isTaxExempt, resolveAccountSettings, toAccountPut, type AccountSettings } from './schema.js';

const base: AccountSettings = {
  type: 'prepaid',
  name: '',
  creditLimit: 0,
  channels: 10,
  cps: 5,
  burst: 5,
  fusfOnFile: false,
  billingCountry: 'US',
  lowBalanceThreshold: 0,
  deckId: 'std',
  ips: ['192.0.2.1'],
  techPrefix: null,
};

describe('checkSourceAddress', () => {
  it.each([
    ['192.0.2.10', '192.0.2.10'],
    ['198.51.100.0/24', '198.51.100.0/24'],
    ['192.0.2.7/32', '192.0.2.7/32'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8::/32', '2001:db8::/32'],
    ['::ffff:192.0.2.0/120', '::ffff:192.0.2.0/120'],
  ])('accepts %s', (text, value) => {
    expect(checkSourceAddress(text)).toEqual({ ok: true, value });
  });

  it.each([
    ['10.0.0.1/24', 'did you mean 10.0.0.0/24?'],
    ['2001:db8::1/64', 'did you mean 2001:db8::/64?'],
    ['::ffff:192.0.2.1/120', 'did you mean ::ffff:c000:200/120?'],
    ['0.0.0.0/0', 'would admit every source address'],
    ['192.0.2.1/33', 'too long for IPv4'],
    ['192.0.2.1/', 'prefix length must be a whole number'],
    ['192.0.2.1/08', 'prefix length must be a whole number'],
    ['192.0.2.1/24/8', 'must be an IPv4 or IPv6 address'],
    ['fe80::1%eth0', 'zone ids'],
    ['example.com', 'must be an IPv4 or IPv6 address'],
    ['192.0.2.256', 'must be an IPv4 or IPv6 address'],
    [' 192.0.2.1', 'must be an IPv4 or IPv6 address'],
  ])('refuses %s', (text, problem) => {
    const r = checkSourceAddress(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toContain(problem);
  });
});

describe('resolveAccountSettings', () => {
  it('fills create defaults and derives burst from cps', () => {
    const r = resolveAccountSettings(null, { type: 'prepaid', channels: 3, cps: '7', billingCountry: 'MX', deckId: 'std', ips: ['192.0.2.1'] });
    expect(r).toMatchObject({ ok: true, settings: { burst: 7, creditLimit: 0, name: '', deckId: 'std', techPrefix: null } });
  });

  it('reports field problems once, without piling rule problems on top of them', () => {
    const r = resolveAccountSettings(base, { type: 'postpaid', creditLimit: 'lots' });
    expect(r).toEqual({ ok: false, problems: [expect.stringMatching(/^creditLimit: must be decimal dollars/)] });
  });

  it('checks only the given fields when there is nothing to merge with', () => {
    const r = resolveAccountSettings(null, { channels: '2' }, { complete: false });
    expect(r.ok).toBe(true);
  });

  it('refuses a body that is not an object', () => {
    expect(resolveAccountSettings(null, ['x'])).toEqual({ ok: false, problems: [expect.stringContaining('must be an object')] });
  });
});

describe('isTaxExempt', () => {
  it('is exempt with the FUSF form on file or a billing address outside the USA', () => {
    expect(isTaxExempt({ fusfOnFile: false, billingCountry: 'US' })).toBe(false);
    expect(isTaxExempt({ fusfOnFile: true, billingCountry: 'US' })).toBe(true);
    expect(isTaxExempt({ fusfOnFile: false, billingCountry: 'GB' })).toBe(true);
  });
});

describe('account hash round trip', () => {
  it('reads back what put writes, with the money figures of the view', () => {
    const settings: AccountSettings = { ...base, type: 'postpaid', creditLimit: 5_000_000, techPrefix: '99#', deckId: 'd1' };
    const { limits, fields } = toAccountPut(settings, new Date(0));
    const hash = {
      ...fields,
      limits: limitsArgs(limits).join('|'),
      state: 'on||-1500000|200000|||1',
    };
    const a = accountFromHash('acme', hash);
    expect(a).toMatchObject({ ...settings, id: 'acme', balance: -1_500_000, reserved: 200_000, available: 3_300_000, owed: 1_500_000 });
    expect(a.updatedAt).toBe('1970-01-01T00:00:00.000Z');
    expect(a.taxExempt).toBe(false);
  });
});
