import { describe, expect, it } from 'vitest';
import { baseSettings } from '../../test/helpers/fixtures.js';
import { isTaxExempt, resolveAccountSettings, type AccountSettings } from './settings.js';

const base = baseSettings;

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
